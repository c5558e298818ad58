"""Stack settings: every mistake fails before any resource exists, naming the key and reason."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra.labels import image_version
from stacks.config import (
    EXAMPLE_APP_IMAGE,
    StackConfig,
    StackConfigError,
    decode,
    merge,
    stack_config,
)
from stacks.profiles import LOCAL_APP_IMAGE, PROFILES
from stacks.program import pulumi_settings, run
from stacks.render import PLACEHOLDERS, record

SECRETS = dict(PLACEHOLDERS)


def settings(**overrides: object) -> dict[str, object]:
    """A valid prod stack's settings (as the engine passes them) plus ``overrides``."""
    values: dict[str, object] = {"profile": "prod", "appImage": EXAMPLE_APP_IMAGE, **SECRETS}
    for key, value in overrides.items():
        values[key] = value if isinstance(value, str) else json.dumps(value)
    return values


def load(**overrides: object) -> StackConfig:
    return stack_config(settings(**overrides), secret_keys=set(SECRETS))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_is_valid(profile: str) -> None:
    config = load(profile=profile)
    assert config.profile == profile
    assert config.namespace == PROFILES[profile]["namespace"]


def test_overrides_merge_into_the_profile() -> None:
    config = load(kafka={"storage": {"sizeGi": 80}})
    assert config.kafka.storage.size_gi == 80
    assert config.kafka.nodes == 3
    assert config.kafka.size == "large"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"replicas": 3}, r"todo-evolution:replicas: Extra inputs are not permitted"),
        ({"kafka": {"brokers": 3}}, r"todo-evolution:kafka\.brokers: Extra inputs"),
        ({"kafka": {"nodes": 0}}, r"todo-evolution:kafka\.nodes: .*greater than or equal to 1"),
        ({"kafka": {"nodes": "many"}}, r"todo-evolution:kafka\.nodes: .*valid integer.*'many'"),
        ({"kafka": {"nodes": 2}}, r"todo-evolution:kafka: nodes=2 .*quorum"),
        ({"postgres": {"size": "huge"}}, r"todo-evolution:postgres\.size: .*'nano'.*'huge'"),
        ({"postgres": {"image": "postgres"}}, r"todo-evolution:postgres\.image: .*no tag"),
        ({"redis": {"image": "redis:latest"}}, r"todo-evolution:redis\.image: .*'latest'"),
        ({"appImage": "todo-api"}, r"todo-evolution:appImage: .*no tag"),
        (
            {"appImage": "registry.example.com/todo-api@sha256:abc123"},
            r"todo-evolution:appImage: image .* has a malformed digest 'sha256:abc123': "
            r"expected sha256: and 64 lower-case hexadecimal digits",
        ),
        (
            {"appImage": "registry.example.com/todo-api@sha512:" + "a" * 128},
            r"todo-evolution:appImage: .*malformed digest 'sha512:",
        ),
        ({"appImage": "Registry/Todo-API:1.0"}, r"todo-evolution:appImage: .*invalid repository"),
        ({"backend": {"image": "todo-api:1 .0"}}, r"todo-evolution:backend\.image: .*invalid tag"),
        ({"backend": {"image": "todo-api:latest"}}, r"todo-evolution:backend\.image: .*'latest'"),
        ({"frontend": {"image": "nginx"}}, r"todo-evolution:frontend\.image: .*no tag"),
        (
            {"postgres": {"appUser": "todo"}},
            r"todo-evolution:postgres: user, appUser, migrationRole, monitorUser and backupUser "
            r"must be five roles",
        ),
        (
            {"postgres": {"migrationRole": "Todo-Owner"}},
            r"todo-evolution:postgres\.migrationRole: 'Todo-Owner' must be a lower-case",
        ),
        ({"namespace": "Todo_App"}, r"namespace='Todo_App' is not a valid Kubernetes name"),
        ({"app": {"logLevel": "loud"}}, r"todo-evolution:app\.logLevel: .*'debug'"),
        (
            {"app": {"features": {"Dark Mode": True}}},
            r"todo-evolution:app\.features: feature name 'Dark Mode'",
        ),
        (
            {"topics": {"replicationFactor": 5}},
            r"topics\.replicationFactor=5 exceeds kafka\.nodes=3",
        ),
        (
            {"topics": {"minInsyncReplicas": 3, "replicationFactor": 2}},
            r"todo-evolution:topics: minInsyncReplicas=3 exceeds replicationFactor=2",
        ),
        (
            {"app": {"outboxRetentionHours": 0}},
            r"todo-evolution:app\.outboxRetentionHours: .*greater than or equal to 1",
        ),
        (
            {"app": {"processedEventRetentionHours": "a week"}},
            r"todo-evolution:app\.processedEventRetentionHours: .*valid integer.*'a week'",
        ),
        (
            # prod keeps events 168 h; a segment may outlive that by 24 h, the check by 1 h.
            {"app": {"processedEventRetentionHours": 192}},
            r"app\.processedEventRetentionHours=192 is shorter than the 193 h an event stays "
            r"readable with topics\.retentionHours=168",
        ),
        (
            {"topics": {"retentionHours": 720}},
            r"app\.processedEventRetentionHours=336 is shorter than the 745 h .*"
            r"topics\.retentionHours=720",
        ),
        (
            {"frontend": {"replicas": 2, "minAvailable": 2}},
            r"todo-evolution:frontend: minAvailable=2 must be below replicas=2",
        ),
        (
            {"autoscaling": {"frontend": {"minReplicas": 2}}},
            r"frontend\.minAvailable=2 must be below autoscaling\.frontend\.minReplicas=2",
        ),
        (
            {"kafka": {"storage": {"storageClass": "Fast SSD"}}},
            r"todo-evolution:kafka\.storage\.storageClass: .*'Fast SSD'",
        ),
        (
            {"ingress": {"className": "azure-application-gateway"}},
            r"ingress\.className='azure-application-gateway' reaches the pods from addresses "
            r".*set networkPolicies\.ingressSourceCidrs",
        ),
        (
            {"networkPolicies": {"ingressSourceCidrs": ["10.1.0.0/33"]}},
            r"todo-evolution:networkPolicies\.ingressSourceCidrs: .*'10\.1\.0\.0/33'",
        ),
        (
            {"backup": {"schedule": "30 25 * * *"}},
            r"todo-evolution:backup\.schedule: schedule '30 25 \* \* \*': hour 25 is outside 0-23",
        ),
        (
            {"backup": {"schedule": "daily"}},
            r"todo-evolution:backup\.schedule: schedule 'daily' has 1 fields: .*five",
        ),
        (
            {"backup": {"schedule": "@nightly"}},
            r"todo-evolution:backup\.schedule: schedule '@nightly' is not a known macro",
        ),
        (
            {"backup": {"schedule": "CRON_TZ=Europe/Paris 30 2 * * *"}},
            r"todo-evolution:backup\.schedule: .*names a time zone",
        ),
        (
            {"backup": {"keep": 0}},
            r"todo-evolution:backup\.keep: .*greater than or equal to 1 \(got 0\)",
        ),
        (
            {"backup": {"keep": "a week"}},
            r"todo-evolution:backup\.keep: .*valid integer.*'a week'",
        ),
        (
            {"backup": {"timeoutMinutes": 1}},
            r"todo-evolution:backup\.timeoutMinutes: .*greater than or equal to 5",
        ),
        (
            {"backup": {"storage": {"sizeGi": 0}}},
            r"todo-evolution:backup\.storage\.sizeGi: .*greater than or equal to 1",
        ),
        ({"backup": {"retention": 7}}, r"todo-evolution:backup\.retention: Extra inputs"),
        (
            {"backup": {"schedule": "0 3 * * 1-5"}, "monitoring": {"enabled": True}},
            r"todo-evolution: backup\.schedule='0 3 \* \* 1-5' skips some days, "
            r"and with monitoring\.enabled=true the TodoBackupMissing alert fires",
        ),
    ],
)
def test_bad_settings_name_the_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(StackConfigError, match=message):
        load(**overrides)


@pytest.mark.parametrize("profile", ["staging", "prod"])
def test_a_stack_beyond_dev_must_name_its_image(profile: str) -> None:
    values = {k: v for k, v in settings(profile=profile).items() if k != "appImage"}
    with pytest.raises(StackConfigError) as caught:
        stack_config(values, set(SECRETS))
    assert caught.value.problems == [
        "todo-evolution:appImage: required: the image of the service you build and push "
        "(docs/images.md); run `pulumi config set todo-evolution:appImage "
        f"<repository>@sha256:<digest>`, e.g. {EXAMPLE_APP_IMAGE}"
    ]


def test_dev_keeps_a_local_image_that_nothing_pulls() -> None:
    values = {k: v for k, v in settings(profile="dev").items() if k != "appImage"}
    assert stack_config(values, set(SECRETS)).app_image == LOCAL_APP_IMAGE


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("registry.example.com/todo/todo-api@sha256:" + "0a" * 32, "sha256-0a0a0a0a0a0a"),
        ("registry.example.com:5000/todo-api:1.2.0@sha256:" + "f" * 64, "1.2.0"),
        ("localhost/todo-api:1.2.0", "1.2.0"),
    ],
)
def test_images_pinned_by_digest_are_accepted(image: str, version: str) -> None:
    config = load(appImage=image)
    assert config.app_image == image
    assert image_version(image) == version


def test_an_outside_load_balancer_needs_its_source_ranges_only_behind_policies() -> None:
    gateway = {"className": "azure-application-gateway"}
    assert load(ingress=gateway, networkPolicies={"ingressSourceCidrs": ["10.1.0.0/24"]})
    assert load(ingress=gateway, networkPolicies={"enabled": False})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(StackConfigError) as caught:
        load(kafka={"nodes": 0}, bogus=1)
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize("profile", [None, "qa"])
def test_profile_must_be_known(profile: str | None) -> None:
    values = {k: v for k, v in settings().items() if k != "profile"}
    if profile is not None:
        values["profile"] = profile
    with pytest.raises(StackConfigError, match=r"todo-evolution:profile: must be one of dev"):
        stack_config(values, set(SECRETS))


def test_missing_secrets_say_how_to_set_them() -> None:
    with pytest.raises(StackConfigError) as caught:
        stack_config({"profile": "dev"})
    message = str(caught.value)
    for key in SECRETS:
        assert f"`pulumi config set --secret todo-evolution:{key} <value>`" in message


def test_a_secret_stored_in_plaintext_is_refused() -> None:
    with pytest.raises(StackConfigError, match=r"todo-evolution:jwtSecret: .* in plaintext"):
        stack_config(settings(), secret_keys={"postgresPassword", "redisPassword"})


def test_a_short_secret_is_refused_without_printing_it() -> None:
    short = "s3cr3t-but-short"
    with pytest.raises(
        StackConfigError, match=r"todo-evolution:jwtSecret: .*at least 32"
    ) as caught:
        load(jwtSecret=short)
    assert short not in str(caught.value)


def test_cross_field_errors_do_not_print_secrets() -> None:
    with pytest.raises(StackConfigError) as caught:
        load(topics={"replicationFactor": 5})
    for value in SECRETS.values():
        assert value not in str(caught.value)


def test_structured_values_arrive_as_json_text() -> None:
    assert decode('{"nodes": 3}') == {"nodes": 3}
    assert decode("[1, 2]") == [1, 2]
    assert decode("3") == "3"
    assert decode("{not json") == "{not json"


def test_merge_is_deep_and_replaces_scalars_and_lists() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    assert merge(base, {"a": {"c": [2]}, "e": 5}) == {"a": {"b": 1, "c": [2]}, "d": 1, "e": 5}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}


@pytest.mark.parametrize(
    "overrides",
    [
        {"bogus": 1},
        {"app": {"processedEventRetentionHours": 24}},
        {"backup": {"schedule": "61 2 * * *"}},
        {"backup": {"keep": 0}},
    ],
    ids=[
        "unknown key",
        "event ids kept shorter than the topics keep events",
        "backup schedule",
        "backup retention",
    ],
)
def test_the_program_fails_before_registering(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, object]
) -> None:
    registered: list[str] = []

    def refuse(*_args: object, **_kwargs: object) -> None:
        registered.append("platform")

    monkeypatch.setattr("stacks.program.TodoPlatform", refuse)
    with pytest.raises(StackConfigError):
        record(run, settings=settings(**overrides), secret_keys=set(SECRETS))
    assert registered == []


def test_event_ids_may_be_kept_exactly_as_long_as_events_stay_readable() -> None:
    config = load(app={"processedEventRetentionHours": 193, "outboxRetentionHours": 1})
    assert config.app.processed_event_retention_hours == config.topics.readable_hours == 193
    assert config.app.outbox_retention_hours == 1


def test_settings_come_from_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The language host passes config as PULUMI_CONFIG and the secret keys alongside."""
    pulumi.runtime.set_all_config({}, [])
    monkeypatch.setenv(
        "PULUMI_CONFIG",
        json.dumps(
            {
                "todo-evolution:profile": "dev",
                "todo-evolution:jwtSecret": "x" * 40,
                "kubernetes:context": "kind-todo",
            }
        ),
    )
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["todo-evolution:jwtSecret"]))
    values, secret_keys = pulumi_settings()
    assert values == {"profile": "dev", "jwtSecret": "x" * 40}
    assert secret_keys == {"jwtSecret"}
