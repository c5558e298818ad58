"""StackConfig: a stack's settings, validated before any resource is registered.

A stack is a profile (``stacks.profiles``) plus the overrides in ``Pulumi.<stack>.yaml``. The
merged settings are validated in one go; a wrong or unknown key fails with its full key path
and the reason, for instance ``todo-evolution:kafka.nodes: ...``.

Secrets (``postgresPassword``, ``redisPassword``, ``jwtSecret``) are never in a stack file in
plaintext: they must be set with ``pulumi config set --secret``, and a key holding one that is
not stored as a secret is refused.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import Field, ValidationError
from pydantic_core import ErrorDetails

from infra.platform import PlatformArgs
from stacks.profiles import PROFILE_NAMES, PROFILES, Profile

PROJECT = "todo-evolution"
"""The Pulumi project, and so the namespace of every config key (``todo-evolution:<key>``)."""

SECRET_KEYS: tuple[str, ...] = ("postgresPassword", "redisPassword", "jwtSecret")
"""Keys that must be set with ``pulumi config set --secret``."""

EXAMPLE_APP_IMAGE = "registry.example.com/todo/todo-api@sha256:" + "0" * 64
"""The shape of an ``appImage`` a stack should name: the user's registry, pinned by digest."""
REQUIRED_HINTS: dict[str, str] = {
    "appImage": "required: the image of the service you build and push (docs/images.md); "
    f"run `pulumi config set {PROJECT}:appImage <repository>@sha256:<digest>`, "
    f"e.g. {EXAMPLE_APP_IMAGE}",
}
"""What to do about a required key that only some profiles fill in, by key."""


class StackConfigError(ValueError):
    """Invalid stack settings; the message has one line per problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack configuration:\n  " + "\n  ".join(problems))


class StackConfig(PlatformArgs):
    """A profile's values merged with a stack's overrides, validated."""

    profile: Profile = Field(description="Environment profile the stack starts from.")


def config_key(path: tuple[int | str, ...]) -> str:
    """The key a user writes, e.g. ``todo-evolution:kafka.storage.sizeGi``."""
    return f"{PROJECT}:" + ".".join(str(part) for part in path) if path else PROJECT


def decode(value: object) -> object:
    """Pulumi hands structured values over as JSON text; scalars stay strings for pydantic."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base``: mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = value
    return merged


def _key_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The loc without the union-member tags pydantic adds (``literal[...]``, ``Resources``)."""
    return tuple(
        part for part in loc if isinstance(part, int) or not ("[" in part or part[:1].isupper())
    )


def _describe(error: ErrorDetails) -> str:
    key = config_key(_key_path(tuple(error["loc"])))
    if error["type"] == "missing" and error["loc"] and error["loc"][0] in SECRET_KEYS:
        return f"{key}: required secret is not set; run `pulumi config set --secret {key} <value>`"
    if error["type"] == "missing" and tuple(error["loc"]) in {(k,) for k in REQUIRED_HINTS}:
        return f"{key}: {REQUIRED_HINTS[str(error['loc'][0])]}"
    message = error["msg"].removeprefix("Value error, ")
    # Never echo what was given for a secret: the error would print the secret.
    secret = bool(error["loc"]) and error["loc"][0] in SECRET_KEYS
    scalar = isinstance(error["input"], str | int | float | bool)
    if secret or not scalar or error["type"] in {"missing", "extra_forbidden"}:
        return f"{key}: {message}"
    return f"{key}: {message} (got {error['input']!r})"


def stack_config(settings: Mapping[str, Any], secret_keys: Collection[str] = ()) -> StackConfig:
    """Validate a stack's settings (keys without the project prefix) into a ``StackConfig``.

    ``secret_keys`` names the keys Pulumi stores encrypted; a secret-holding key outside it
    is refused, so a password typed without ``--secret`` never reaches the stack file unnoticed.
    """
    overrides = {key: decode(value) for key, value in settings.items()}
    problems = [
        f"{config_key((key,))}: holds a secret but is stored in plaintext; set it with "
        f"`pulumi config set --secret {config_key((key,))} <value>`"
        for key in SECRET_KEYS
        if key in overrides and key not in secret_keys
    ]
    profile = overrides.get("profile")
    if profile not in PROFILE_NAMES:
        problems.append(
            f"{config_key(('profile',))}: must be one of {', '.join(PROFILE_NAMES)} "
            f"(got {profile!r})"
        )
    if problems:
        raise StackConfigError(problems)
    try:
        return StackConfig.model_validate(merge(PROFILES[str(profile)], overrides))
    except ValidationError as exc:
        # A value that fits no member of a union fails once per member: report the first.
        reported: dict[tuple[int | str, ...], str] = {}
        for error in exc.errors():
            reported.setdefault(_key_path(tuple(error["loc"])), _describe(error))
        raise StackConfigError(list(reported.values())) from None
