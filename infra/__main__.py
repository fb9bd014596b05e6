"""Pulumi entry point (Pulumi.yaml ``main: infra/``): read the stack config, validate, run.

Every ``kubeai:`` key of the stack's runtime config is read (objects and lists arrive as JSON
strings and are decoded), validated once with ``infra.config.parse_config``, the secrets
(``infra.config.SECRET_KEYS``) are read with ``Config("kubeai").get_secret``, and
``infra.program.run`` declares the stack. A ``ConfigError`` becomes a ``pulumi.RunError``: the
update fails with the list of problems and their key paths, without a Python traceback; so does
an ``UpstreamError`` (a pinned chart or manifest that cannot be fetched or verified).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pulumi

# ``pulumi up`` runs this file from infra/ (Pulumi.yaml ``main``); make the repository root
# importable when the package is not installed into the virtualenv.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from infra import program  # noqa: E402
from infra.config import (  # noqa: E402
    NAMESPACE,
    ConfigError,
    default_provider_problems,
    parse_config,
    split_keys,
)
from infra.upstream import UpstreamError  # noqa: E402


def decode(value: Any) -> Any:
    """A runtime config value: JSON objects/lists (how Pulumi passes them) decoded, else as is."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def runtime_config() -> tuple[dict[str, Any], set[str]]:
    """``(all config values by full key, keys marked secret)`` of the running stack."""
    from pulumi.runtime import config as runtime

    values = {**runtime.get_config_env(), **runtime.CONFIG.get()}
    secret = set(runtime.get_config_secret_keys_env())
    secret |= {key for key in values if runtime.is_config_secret(key)}
    return values, secret


def load(
    values: dict[str, Any], secret_keys: set[str]
) -> tuple[Any, dict[str, pulumi.Output[str]]]:
    """Validate the ``kubeai:`` config (and ``pulumi:disable-default-providers``) and read its
    secrets; raises ``ConfigError``."""
    if problems := default_provider_problems(values):
        raise ConfigError(problems)
    raw: dict[str, Any] = {}
    for key, value in values.items():
        if not key.startswith(f"{NAMESPACE}:"):
            continue
        raw[key] = {"secure": "(secret)"} if key in secret_keys else decode(value)
    plain, secret_names = split_keys(raw)
    # A key marked secret that is not a known secret (e.g. set with --secret by habit) is
    # still validated as plain config.
    for key in secret_keys:
        name = key.partition(":")[2]
        if key.startswith(f"{NAMESPACE}:") and name not in secret_names:
            plain[name] = decode(values[key])
    config = parse_config(plain)
    stack_config = pulumi.Config(NAMESPACE)
    secrets: dict[str, pulumi.Output[str]] = {}
    for name in sorted(secret_names):
        value = stack_config.get_secret(name)
        if value is not None:
            secrets[name] = value
    return config, secrets


def main() -> None:
    """Read, validate and run the program; configuration problems fail the update cleanly."""
    try:
        config, secrets = load(*runtime_config())
        program.run(config, secrets=secrets)
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    except UpstreamError as error:  # a pinned chart or manifest could not be fetched/verified
        raise pulumi.RunError(f"upstream files: {error}") from None


if __name__ == "__main__":
    main()
