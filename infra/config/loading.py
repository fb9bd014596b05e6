"""Loading a stack file's ``kubeai:`` keys into a validated stack config.

``split_keys`` separates plain values from secrets (a known secret given as plain text is an
error); ``parse_config`` validates the plain values into a ``PlatformConfig`` or ``TeamConfig``
and runs the checks spanning several keys (``platform_problems``/``team_problems``). Every
problem becomes one ``(kubeai:<key path>, message)`` entry of a ``ConfigError``; an unknown key
also gets a did-you-mean suggestion (``kubeai:quota.gpuQouta: unknown key; did you mean 'gpus'?``).
"""

from __future__ import annotations

import contextlib
import difflib
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from infra.config.platform import PlatformConfig, platform_problems
from infra.config.shared import NAMESPACE, ConfigError
from infra.config.team import TeamConfig, team_problems


def _suggest(key: str, valid: list[str]) -> str:
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    if not close:
        prefix = [v for v in valid if len(key) >= 3 and v.lower().startswith(key.lower()[:3])]
        close = [prefix[0].lower()] if len(prefix) == 1 else []
    return (
        f"; did you mean {lowered[close[0]]!r}?"
        if close
        else f"; valid keys: {', '.join(sorted(valid))}"
    )


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found by walking field aliases along ``loc``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next(
            (f for name, f in current.model_fields.items() if (f.alias or name) == part), None
        )
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


#: pydantic's marker in an error location: the mapping key before it is what failed.
KEY_MARKER = "[key]"


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return f"{NAMESPACE}:{out}" if out else f"{NAMESPACE}:"


def _problems(model: type[BaseModel], error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        key: object = None
        if loc[-1:] == (KEY_MARKER,):
            # a bad mapping key: the mapping's path, and the message names the key
            key, loc = loc[-2], loc[:-2]
        if item["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = (
                [f.alias or n for n, f in parent.model_fields.items()] if parent is not None else []
            )
            problems.append((_path(loc), "unknown key" + _suggest(str(loc[-1]), valid)))
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            if key is not None and repr(str(key)) not in message:
                message = f"key {str(key)!r}: {message}"
            problems.append((_path(loc), message))
    return problems


SECRET_KEYS = frozenset(
    {
        "postgresDsn",
        "artifactStoreAccessKeyId",
        "artifactStoreSecretAccessKey",
        "nvcrApiKey",
        "datasetAccessKeyId",
        "datasetAccessKeySecret",
        "ackNodePassword",
        "ackNodeKmsEncryptedPassword",
    }
)


#: The stack config key that makes the engine refuse default providers (``infra.providers``).
DISABLE_DEFAULTS_KEY = "pulumi:disable-default-providers"
#: Packages whose default providers every stack disables (``*`` covers them all).
DEFAULT_PROVIDERS = ("kubernetes", "aws", "gcp", "alicloud")


def default_provider_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with the stack's ``pulumi:disable-default-providers`` (``[]`` when it disables
    every package in ``DEFAULT_PROVIDERS`` or ``*``).

    ``raw`` is the stack's config by full key; the value is a list (stack file) or its JSON text
    (the program's runtime config); anything else (a bare ``"*"``) is refused: the engine reads
    the key as a JSON list. The program declares explicit providers for everything; this
    key makes the engine refuse any resource that would still fall back to an ambient default.
    """
    value = raw.get(DISABLE_DEFAULTS_KEY)
    if isinstance(value, str):
        # the runtime's JSON text; a bare string ("*") stays a string and is refused
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    wanted = json.dumps(list(DEFAULT_PROVIDERS))
    if value is not None and not isinstance(value, list):
        return [
            (
                DISABLE_DEFAULTS_KEY,
                f"must be a list of packages, got {value!r}: write "
                f'`{DISABLE_DEFAULTS_KEY}: {wanted}` (or ["*"]) in the stack file\'s config',
            )
        ]
    given = {str(v) for v in value} if isinstance(value, list) else set()
    missing = [] if "*" in given else [p for p in DEFAULT_PROVIDERS if p not in given]
    if not missing:
        return []
    return [
        (
            DISABLE_DEFAULTS_KEY,
            f"must disable the default providers of {', '.join(missing)} (KubeAI stacks use "
            f"only explicit providers built from the cluster they target): add "
            f"`{DISABLE_DEFAULTS_KEY}: {wanted}` to the stack file's config",
        )
    ]


def split_keys(raw: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Stack-file ``config:`` mapping -> (plain values by key without namespace, secret keys).

    Keys of other namespaces (``aws:region``, ``kubernetes:context``) are left to their
    providers. A known secret key given as plain text is an error: set it with
    ``pulumi config set --secret``. Raises ``ConfigError``.
    """
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    problems: list[tuple[str, str]] = []
    for full_key, value in raw.items():
        namespace, sep, key = str(full_key).partition(":")
        if not sep:
            problems.append((str(full_key), "config keys are written 'namespace:key'"))
            continue
        if namespace != NAMESPACE:
            continue
        if key in SECRET_KEYS:
            if not (isinstance(value, dict) and set(value) == {"secure"}):
                problems.append(
                    (
                        f"{NAMESPACE}:{key}",
                        f"is a secret: set it with `pulumi config set --secret {NAMESPACE}:{key}`",
                    )
                )
            secrets.add(key)
            continue
        values[key] = value
    if problems:
        raise ConfigError(problems)
    return values, secrets


def parse_config(values: dict[str, Any]) -> PlatformConfig | TeamConfig:
    """Validate plain ``kubeai`` values (keys without namespace) into a stack config.

    Raises ``ConfigError`` with every problem's full key path.
    """
    kind = values.get("stackKind")
    model: type[PlatformConfig] | type[TeamConfig]
    if kind == "platform":
        model = PlatformConfig
    elif kind == "team":
        model = TeamConfig
    else:
        raise ConfigError(
            [(f"{NAMESPACE}:stackKind", f"must be 'platform' or 'team', got {kind!r}")]
        )
    try:
        config = model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_problems(model, exc)) from None
    problems = (
        platform_problems(config) if isinstance(config, PlatformConfig) else team_problems(config)
    )
    if problems:
        raise ConfigError(problems)
    return config
