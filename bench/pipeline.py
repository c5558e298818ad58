"""The whole event pipeline as separate processes: API, relay and consumer, on fresh topics.

Each pipeline publishes under its own topic prefix and consumer group, so the events it counts
are its own, and a consumer group that starts at the earliest offset starts on empty topics.
The consumer is the native one (`todo-api consume`); `bench.dapr_pipeline` puts daprd in
its place, and `bench.debezium` puts Debezium in the relay's.
"""

from __future__ import annotations

from types import TracebackType

from bench.processes import ApiServer, ManagedProcess, ServiceEnv, consumer_process, relay_process
from bench.topics import create_topics, task_topics


class Pipeline:
    """`todo-api serve`, `relay` and `consume`, started together and always stopped together.

    ``api_replicas`` servers of the API, as a stack runs several pods of it (prod: two), each a
    process with its own interpreter and connection pool, on the same database and topics.
    """

    def __init__(
        self, env: ServiceEnv, prefix: str, *, api_replicas: int = 1, **settings: str
    ) -> None:
        if env.kafka_bootstrap is None:
            raise ValueError("a pipeline needs TODO_KAFKA_BOOTSTRAP_SERVERS")
        if api_replicas < 1:
            raise ValueError(f"api_replicas must be at least 1, got {api_replicas}")
        self.env = env
        self.prefix = prefix
        self.settings = {
            "TODO_KAFKA_TOPIC_PREFIX": prefix,
            "TODO_KAFKA_CONSUMER_GROUP": f"{prefix}stats",
            **settings,
        }
        self.topics = task_topics(prefix)
        self.relay = self._relay()
        self.apis = [
            ApiServer(env, "api" if i == 0 else f"api-{i + 1}", **self.settings)
            for i in range(api_replicas)
        ]
        self.consumers = self._consumers()

    def _relay(self) -> ManagedProcess:
        """What publishes the outbox to Kafka."""
        return relay_process(self.env, **self.settings)

    def _consumers(self) -> list[ManagedProcess]:
        """What takes the events from Kafka to the handler, in start order."""
        return [consumer_process(self.env, **self.settings)]

    @property
    def api(self) -> ApiServer:
        """The first replica: where users register, and whose log a failure shows."""
        return self.apis[0]

    @property
    def base_urls(self) -> list[str]:
        """Every API replica's, for a load spread over them."""
        return [api.base_url for api in self.apis]

    @property
    def processes(self) -> list[ManagedProcess]:
        return [*self.consumers, self.relay, *self.apis]

    def start(self) -> None:
        assert self.env.kafka_bootstrap is not None
        create_topics(self.env.kafka_bootstrap, self.topics)
        try:
            for process in self.processes:
                process.start()
            for process in self.processes:
                process.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process, even when stopping one of them fails."""
        errors: list[BaseException] = []
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others; re-raised below
                errors.append(exc)
        if errors:
            raise errors[0]

    def logs(self) -> str:
        """The tail of every process's log, for a failure message."""
        return "\n".join(f"--- {p.name} ---\n{p.log_tail(2000)}" for p in self.processes)

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
