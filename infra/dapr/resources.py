"""The Dapr objects of a platform instance, each Component scoped to the app that uses it.

Without ``scopes`` every Dapr-enabled app in the namespace would load every component. Here only
the API (``subscriber_app_id``) gets the state store, the pub/sub and the binding.

There are no declarative Subscriptions: the API lists its own on ``GET /dapr/subscribe``
(``app/api/routes/events.py``), derived from the event kinds it handles, the routes it serves
and its topic prefix and pub/sub name settings, the same list its native Kafka consumer uses.
One source means a topic or route renamed in the service cannot leave a Subscription pointing
at the old one, and no ``subscriptions.dapr.io`` CRD is needed. ``tests/infra/test_app_contract``
ties the topics the service subscribes to with the topics the stack creates and the pub/sub
Component's name.
"""

from __future__ import annotations

import pulumi
from pydantic import Field

from infra.component import ComponentArgs, child_options
from infra.dapr.components import (
    BINDING,
    PUBSUB,
    SECRET_STORE,
    STATESTORE,
    binding_spec,
    pubsub_spec,
    statestore_spec,
)
from infra.dapr.configuration import configuration_spec
from infra.dapr.custom_resource import DaprResource
from infra.dapr.settings import DaprSettings
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta

COMPONENT_API = "dapr.io/v1alpha1"
CRDS: tuple[str, ...] = ("components.dapr.io", "configurations.dapr.io")
"""The CustomResourceDefinitions Dapr's objects need: Dapr's installation brings them."""


def configuration_name(instance: str) -> str:
    """The Configuration the sidecars name in ``dapr.io/config``."""
    return child_name(instance, "dapr")


class DaprArgs(ComponentArgs):
    """Where the components connect and which app may use them."""

    settings: DaprSettings = Field(default_factory=DaprSettings, description="Stack settings.")
    redis_address: str = Field(description="`host:port` of the Redis client Service.")
    secret_name: str = Field(description="Secret holding the Redis password.")
    redis_password_key: str = Field(description="Key of the Redis password in `secret_name`.")
    kafka_brokers: str = Field(description="Kafka bootstrap servers, comma-separated.")
    subscriber_app_id: str = Field(
        default="todo-api", description="Dapr app id allowed to use the components."
    )
    binding_topic: str = Field(
        default="task.updated", description="Topic the output binding publishes to."
    )


class Dapr(pulumi.ComponentResource):
    """Components ``statestore``, ``pubsub`` and the Kafka binding, and the Configuration."""

    configuration_name: str

    def __init__(
        self, name: str, args: DaprArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Dapr", name, None, opts)
        child = child_options(self, opts)
        labels = unversioned_labels("dapr", args.instance, "dapr")
        scopes = [args.subscriber_app_id]
        group = args.subscriber_app_id

        components = {
            STATESTORE: statestore_spec(
                redis_address=args.redis_address,
                secret_name=args.secret_name,
                password_key=args.redis_password_key,
            ),
            PUBSUB: pubsub_spec(brokers=args.kafka_brokers, consumer_group=group),
            BINDING: binding_spec(
                brokers=args.kafka_brokers, consumer_group=group, publish_topic=args.binding_topic
            ),
        }
        for component_name, spec in components.items():
            DaprResource(
                f"{name}-{component_name}",
                api_version=COMPONENT_API,
                kind="Component",
                metadata=object_meta(component_name, namespace=args.namespace, labels=labels),
                spec=spec,
                scopes=scopes,
                auth={"secretStore": SECRET_STORE},
                opts=child,
            )
        self.configuration_name = configuration_name(args.instance)
        DaprResource(
            f"{name}-configuration",
            api_version=COMPONENT_API,
            kind="Configuration",
            metadata=object_meta(self.configuration_name, namespace=args.namespace, labels=labels),
            spec=configuration_spec(args.settings),
            opts=child,
        )
        self.register_outputs({"configuration_name": self.configuration_name})
