"""The specs of the Dapr Components: the Redis state store, Kafka pub/sub and a Kafka binding.

Secrets never appear in a spec: the Redis password is a ``secretKeyRef`` into the credentials
Secret in the ``kubernetes`` store, which Dapr's operator resolves with its own access before it
hands the Component to the sidecar (the sidecar has no API token; see :mod:`infra.dapr.sidecar`).
"""

from __future__ import annotations

from typing import Any

from infra.kafka import PROTOCOL_VERSION

STATESTORE = "statestore"
PUBSUB = "pubsub"
BINDING = "task-events"
SECRET_STORE = "kubernetes"  # noqa: S105  # a secret store name, not a secret
"""The store whose references Dapr's operator resolves: Secrets of the component's namespace."""


def _item(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def statestore_spec(*, redis_address: str, secret_name: str, password_key: str) -> dict[str, Any]:
    """``state.redis`` on the platform's Redis, authenticated with the generated password."""
    return {
        "type": "state.redis",
        "version": "v1",
        "metadata": [
            _item("redisHost", redis_address),
            {"name": "redisPassword", "secretKeyRef": {"name": secret_name, "key": password_key}},
            _item("keyPrefix", "appid"),
        ],
    }


def _kafka_metadata(brokers: str, consumer_group: str) -> list[dict[str, Any]]:
    # The in-cluster brokers speak plaintext behind the NetworkPolicies; no SASL user exists.
    return [
        _item("brokers", brokers),
        _item("consumerGroup", consumer_group),
        _item("authType", "none"),
        _item("disableTls", "true"),
        # Sarama's default (2.0.0) picks request versions Kafka 4 no longer accepts.
        _item("version", PROTOCOL_VERSION),
    ]


def pubsub_spec(*, brokers: str, consumer_group: str) -> dict[str, Any]:
    """``pubsub.kafka``: the sidecar consumes the task topics and posts each event to the app.

    New consumer groups start at the oldest retained event, so a first deploy replays history
    instead of silently skipping it (the handler deduplicates by event id).
    """
    return {
        "type": "pubsub.kafka",
        "version": "v1",
        "metadata": [
            *_kafka_metadata(brokers, consumer_group),
            _item("clientID", consumer_group),
            _item("initialOffset", "oldest"),
        ],
    }


def binding_spec(*, brokers: str, consumer_group: str, publish_topic: str) -> dict[str, Any]:
    """``bindings.kafka``, output only: lets an app emit a task event through its sidecar.

    Output only, so the sidecar neither consumes nor waits for an input route the app lacks.
    """
    return {
        "type": "bindings.kafka",
        "version": "v1",
        "metadata": [
            *_kafka_metadata(brokers, consumer_group),
            _item("publishTopic", publish_topic),
            _item("direction", "output"),
        ],
    }
