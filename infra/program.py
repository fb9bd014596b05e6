"""The whole Pulumi program of one stack, callable from ``__main__`` and from the offline render.

``run(config, secrets=..., platform=...)``:

* a ``PlatformConfig`` declares the platform stack (``infra.platform.Platform``) and exports its
  outputs;
* a ``TeamConfig`` declares the team's tenancy (``infra.tenancy.TeamTenancy``). Its platform
  outputs come either from ``platform`` (offline render: computed from the platform stack's file
  with ``platform_outputs``; the cross-stack checks run immediately and raise ``ConfigError``
  before any resource exists) or, in ``pulumi up``, from
  ``StackReference(config.platform_stack).get_output("platform")``, together with the platform's
  ``clusterUid`` and the UID this stack's own provider reads (``infra.cluster_identity``: both
  must name the same cluster; the provider is built from the platform's ``kubernetes`` output,
  ``infra.providers``): the checks then run inside
  an ``apply`` when the reference resolves and a problem fails the update with a
  ``pulumi.RunError`` carrying the ``ConfigError`` text (no Python traceback), before the team
  Namespace (and so anything in it) is created.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
from pydantic import ValidationError

from infra import cluster_identity, providers
from infra.config import ConfigError, PlatformConfig, PlatformOutputs, TeamConfig
from infra.platform import Platform, PlatformArgs
from infra.tenancy import TeamTenancy, TeamTenancyArgs, check_platform

#: Name of the platform stack output team stacks read.
PLATFORM_OUTPUT = "platform"
#: Resource name of the team's tenancy component.
TEAM_COMPONENT = "team"
#: Resource name of the platform component.
PLATFORM_COMPONENT = "platform"


class PlatformCheckError(pulumi.RunError):
    """A team stack does not fit its platform stack (missing/malformed outputs, failed checks)."""


def _report_once() -> None:
    """Silence the event loop's "exception was never retrieved" reports of this error.

    Every Output derived from the failed check holds the same exception; Pulumi reports it once
    (the update fails with its message) and the loop would log each abandoned copy again, with a
    traceback, when it is garbage-collected.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), PlatformCheckError):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def _fail(message: str) -> PlatformCheckError:
    _report_once()
    return PlatformCheckError(message)


def checked_platform(
    config: TeamConfig, raw: Any, clusters: tuple[object, object] = (None, None)
) -> PlatformOutputs:
    """Parse a platform stack's ``platform`` output and run the team's cross-stack checks.

    ``clusters`` is ``(the platform stack's clusterUid output, the UID this stack's provider
    reads)`` (``infra.cluster_identity``). Raises ``PlatformCheckError`` (a ``pulumi.RunError``: no
    traceback for users) with a readable message when the output is missing or malformed, the
    two UIDs name different clusters or a check fails (the ``ConfigError`` text, naming each key
    path).
    """
    stack = config.platform_stack
    elsewhere = cluster_identity.different_cluster(stack, *clusters)
    if elsewhere is not None:
        raise _fail(elsewhere)
    if raw is None:
        raise _fail(
            f"platform stack {stack!r} exports no {PLATFORM_OUTPUT!r} output: run `pulumi up` on "
            "it first (kubeai:platformStack names it)"
        )
    try:
        outputs = PlatformOutputs.model_validate(raw)
    except ValidationError as error:
        raise _fail(
            f"platform stack {stack!r}: its {PLATFORM_OUTPUT!r} output is not a KubeAI platform "
            f"output ({error.error_count()} problem(s)): {error}"
        ) from None
    try:
        check_platform(config, outputs)
    except ConfigError as error:
        raise _fail(f"{error}\n(checked against platform stack {stack!r})") from None
    return outputs


def team_platform(
    config: TeamConfig, platform: PlatformOutputs | None
) -> tuple[pulumi.Output[PlatformOutputs], pulumi.ProviderResource]:
    """The team's platform outputs as an Output, checked (immediately when given offline), and
    the team's explicit Kubernetes provider.

    The provider is built from the platform stack's ``kubernetes`` output (``infra.providers``;
    offline, with no settings: the render never connects); the UID it reads must equal the
    platform's ``clusterUid``.
    """
    if platform is not None:
        check_platform(config, platform)
        return pulumi.Output.from_input(platform), providers.kubernetes_provider(None)
    reference = pulumi.StackReference(config.platform_stack)
    provider = providers.kubernetes_provider(reference.get_output(providers.OUTPUT))
    values = pulumi.Output.all(
        reference.get_output(PLATFORM_OUTPUT),
        reference.get_output(cluster_identity.OUTPUT),
        cluster_identity.cluster_uid(pulumi.ResourceOptions(provider=provider)),
    )
    return values.apply(lambda v: checked_platform(config, v[0], (v[1], v[2]))), provider


def required_secrets(config: PlatformConfig | TeamConfig) -> frozenset[str]:
    """Secret keys (without namespace) the stack cannot run without.

    The offline render substitutes placeholders for these (example stacks carry no secrets):
    ``postgresDsn`` for a platform whose registry uses PostgreSQL, the ACK node login's secret
    (``AckNodeLogin.secret_key``), and for a team whose datasets' ``encryptOptions`` reference
    ``kubeai-dataset-credentials`` its two Pulumi secrets (``TeamConfig.dataset_secrets``).
    """
    if isinstance(config, TeamConfig):
        return config.dataset_secrets
    needed: set[str] = set()
    if config.glue.database == "postgresql":
        needed.add("postgresDsn")
    if config.cluster.ack is not None and config.cluster.ack.node_login.secret_key:
        needed.add(config.cluster.ack.node_login.secret_key)
    return frozenset(needed)


def run(
    config: PlatformConfig | TeamConfig,
    *,
    secrets: dict[str, pulumi.Output[str]],
    platform: PlatformOutputs | None = None,
) -> None:
    """Declare every resource of the stack ``config`` describes.

    ``secrets`` holds the stack's Pulumi secrets by key without namespace (``postgresDsn``,
    ``nvcrApiKey``, ...). ``platform`` is only for team stacks rendered offline. Raises
    ``ConfigError`` for problems found before any resource is declared and ``ValueError`` for
    ``platform`` given to a platform stack.
    """
    if isinstance(config, PlatformConfig):
        if platform is not None:
            raise ValueError("platform outputs are read by team stacks only")
        stack = Platform(PLATFORM_COMPONENT, PlatformArgs(config=config, secrets=secrets))
        for key, value in stack.exports.items():
            pulumi.export(key, value)
        return
    checked, provider = team_platform(config, platform)
    tenancy = TeamTenancy(
        TEAM_COMPONENT,
        TeamTenancyArgs(config=config, platform=checked, secrets=secrets),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )
    pulumi.export(
        "team",
        {
            "name": config.team.name,
            "platformStack": config.platform_stack,
            "namespace": tenancy.namespace,
            "queue": tenancy.queue_name,
            "inferenceServices": tenancy.service_names,
            "datasets": tenancy.dataset_names,
        },
    )
