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
from bench.processes import ServiceEnv


class DaprPipeline(Pipeline):
    """The same API and relay, with daprd in place of `todo-api consume`.

    daprd runs with the Dapr objects the program renders for a stack (``manifests``), converted
    into ``folder`` and pointed at the pipeline's servers, with the pipeline's consumer group;
    the API subscribes it to the pipeline's topics and expects its app token.
    """

    def __init__(
        self,
        env: ServiceEnv,
        prefix: str,
        manifests: list[dict[str, Any]],
        folder: Path,
        **settings: str,
    ) -> None:
        if env.redis_url is None:
            raise ValueError("a Dapr pipeline needs TODO_REDIS_URL (the state store's Redis)")
        self.manifests = manifests
        self.folder = folder
        self.app_token = secrets.token_urlsafe(24)
        super().__init__(env, prefix, TODO_DAPR_APP_TOKEN=self.app_token, **settings)

    def _consumer(self) -> Daprd:
        assert self.env.redis_url is not None
        assert self.env.kafka_bootstrap is not None
        app = convert(
            self.manifests,
            app_id=BACKEND_APP_ID,
            servers=DevServers.at(self.env.redis_url, self.env.kafka_bootstrap),
            consumer_group=self.settings["TODO_KAFKA_CONSUMER_GROUP"],
            folder=self.folder,
        )
        return Daprd(app, self.api.port, self.app_token)

    def _wait_ready(self) -> None:
        super()._wait_ready()
        assert isinstance(self.consumer, Daprd)
        self.consumer.wait_ready()
