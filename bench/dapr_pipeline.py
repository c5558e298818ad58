"""The event pipeline with daprd, not `todo-api consume`, delivering the events to the API.

A module of its own because the conversion of the stack's Dapr objects imports the component
library (Pulumi), which the native pipeline's users (the fault tests) do not need.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from bench.dapr_self_hosted import BACKEND_APP_ID, DevServers, convert
from bench.daprd import Daprd
from bench.pipeline import Pipeline
from bench.processes import ApiServer, ManagedProcess, ServiceEnv


class DaprPipeline(Pipeline):
    """The same API and relay, with daprd and the app it delivers to in place of
    `todo-api consume`.

    The app is a `todo-api serve` of its own, as the native consumer is a process of its own:
    the writes' API does not share its CPU with the deliveries, so the two pipelines differ only
    in what carries an event from Kafka to the handler (daprd and an HTTP call, or an in-process
    Kafka consumer). daprd runs with the Dapr objects the program renders for a stack
    (``manifests``), converted into ``folder`` and pointed at the pipeline's servers, with the
    pipeline's consumer group; the app subscribes it to the pipeline's topics and expects its
    app token.
    """

    def __init__(
        self,
        env: ServiceEnv,
        prefix: str,
        manifests: list[dict[str, Any]],
        folder: Path,
        *,
        api_replicas: int = 1,
        **settings: str,
    ) -> None:
        if env.redis_url is None:
            raise ValueError("a Dapr pipeline needs TODO_REDIS_URL (the state store's Redis)")
        self.manifests = manifests
        self.folder = folder
        self.app_token = secrets.token_urlsafe(24)
        super().__init__(env, prefix, api_replicas=api_replicas, **settings)

    def _consumers(self) -> list[ManagedProcess]:
        assert self.env.redis_url is not None
        assert self.env.kafka_bootstrap is not None
        app_server = ApiServer(
            self.env, "dapr-app", **self.settings, TODO_DAPR_APP_TOKEN=self.app_token
        )
        app = convert(
            self.manifests,
            app_id=BACKEND_APP_ID,
            servers=DevServers.at(self.env.redis_url, self.env.kafka_bootstrap),
            consumer_group=self.settings["TODO_KAFKA_CONSUMER_GROUP"],
            folder=self.folder,
        )
        return [app_server, Daprd(app, app_server.port, self.app_token)]
