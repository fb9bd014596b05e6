"""``kubeai:addons.<addon>.values``: the user's Helm values over the ones the program computes.

Every add-on installed from a Helm chart (``volcano``, ``fluid``, ``gpu``, ``clusterAutoscaler``,
``metricsServer``) takes a ``values`` mapping. This module owns merging it into the values the
add-on computes and checking it; the add-on modules declare only their computed values and the
keys they keep for themselves (``ReleaseValues``).

Merge (``merge_values``): mappings merge key by key, recursively; anything else (lists,
scalars) replaces what the program computed. A list is never appended to, so setting
``tolerations`` states the whole list.

``null`` is refused anywhere inside ``values`` (``null_paths``), with its key path: the pinned
pulumi-kubernetes provider (v4.25) reads a Release's inputs skipping nulls, nested ones
included, so a ``null`` never reaches Helm and cannot remove a chart default; the override
could only ever be silently ignored.

Protected keys (``ReleaseValues.protected``, key path -> why): values that carry an invariant the
program relies on or checks (the GPU DaemonSets' tolerations checked against every GPU pool's
taints, Volcano's scheduler policy that team stacks check their Queues against, the cluster the
autoscaler manages and the IAM role it runs as), and values that a typed config key already
states (replicas, the autoscaler's expander, Fluid's runtimes), and the switches that would
turn off the component such a value configures (Volcano's ``custom.scheduler_enable``, Fluid's
``csi.enabled``, metrics-server's ``apiService.create``, ...). Setting one, a key below it, or a
parent of it to a non-mapping (which would replace it; a ``null`` parent is refused as a null)
is refused with the key path and the reason.

Mirrored images: with ``kubeai:images.registry`` set, every computed value that points at the
mirror (``ReleaseValues.mirror_paths``: the image repositories and registries
``infra.images`` computes per chart) is protected too: an override would pull that image from
elsewhere while ``kubeai images list`` still lists (and has copied) the mirror's copy.

Any other computed value may be overridden; the add-on then logs a warning naming each value it
replaces (``ReleaseValues.replaced``), so a review of ``pulumi up`` shows it.

Checks against the chart (``ReleaseValues.problems``; only when ``values`` is set, reading the
chart lazily), as Helm would apply them and further:

* the chart is the one the Release installs: the pinned, verified archive
  (``infra.upstream.ensure``; a ``chart.repository`` mirror serves the same pinned version) or
  the local ``chart.path``. Charts installed from their repositories (cluster-autoscaler,
  metrics-server) have no local copy unless ``chart.path`` names one: their values are checked
  for protected keys only, and Helm checks them against the chart's schema, if it ships one, at
  ``pulumi up`` (the Release fails with Helm's message).
* every top-level key must be one the chart knows: a key of its ``values.yaml``, of its
  ``values.schema.json``, one its templates read (``.Values.<key>``), a subchart's key (its
  alias or name) or ``global``; the same one level down for each subchart's keys. Helm itself
  ignores an unknown key silently, so a typo would install the chart default. Deeper keys are
  not checked this way: charts document optional nested keys in comments and read them through
  ``toYaml``, so absence from ``values.yaml`` proves nothing there.
* where a chart or subchart ships ``values.schema.json`` (the NVIDIA charts'
  ``node-feature-discovery`` subchart), the values Helm would render it with (its ``values.yaml``,
  the parent chart's defaults under the subchart's key, ``global``, then the computed values and
  the override) are validated with ``jsonschema`` (the draft the
  schema names) under the subchart's key, as Helm does. Unlike Helm, a subchart's schema is
  applied even while its ``condition`` disables it, so values set for it are valid the day it is
  enabled.

Every problem is ``(key path, message)`` with the full path
(``kubeai:addons.gpu.values.node-feature-discovery.worker.tolerations``) for ``ConfigError``.
``platform_values_problems`` runs the checks of every add-on a platform installs before any
resource is registered (``infra.platform.PlatformArgs.validate``), and refuses ``values`` on an
add-on that installs no chart on that platform (its values would be ignored).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jsonschema
import pulumi
from jsonschema.exceptions import ValidationError, best_match

from infra.chart_files import ChartFiles, load_chart
from infra.config import NAMESPACE, ChartSource, ConfigError
from infra.config.loading import _suggest as suggest_key
from infra.images import mirrored_repository
from infra.versions import Chart, RepositoryChart

if TYPE_CHECKING:
    from infra.config import PlatformConfig

#: A key path inside a values mapping; ``"*"`` matches every key at that level.
KeyPath = tuple[str, ...]
#: Wildcard of a ``KeyPath`` part.
ANY_KEY = "*"
#: Keys that need no quoting in a rendered key path.
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
#: Longest value shown in a message (schema errors quote the offending value).
_MAX_MESSAGE = 400
#: Why a ``null`` in ``values`` is refused.
NULL_REASON = (
    "is null: the pulumi-kubernetes provider drops nulls from a Release's values (nested ones "
    "too) before Helm sees them, so values cannot remove a chart default; set the value you "
    "want, or leave the key out"
)


def key_path(where: str, parts: Sequence[str | int]) -> str:
    """``where`` followed by ``parts`` as a config key path: ``.key``, ``["a.b/c"]``, ``[0]``."""
    out = where
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: ``override`` deep-merged over ``base`` (neither is changed).

    Mappings merge key by key, recursively; every other value of ``override`` (list, scalar,
    ``None``) replaces the one in ``base``.
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = merge_values(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def coalesce(defaults: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` over a chart's ``defaults`` as Helm coalesces them: like ``merge_values``, but
    a ``None`` in ``values`` removes the key."""
    out = copy.deepcopy(dict(defaults))
    for key, value in values.items():
        current = out.get(key)
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = coalesce(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def null_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of every ``None`` in ``value``, in mappings and lists at any depth (list items by
    index)."""
    if value is None:
        return [prefix]
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [path for key, item in items for path in null_paths(item, (*prefix, key))]


def protected_hits(override: Mapping[str, Any], path: KeyPath) -> list[tuple[str, ...]]:
    """Key paths of ``override`` that set the protected ``path``: the key itself, a key below it,
    or a parent of it set to a non-mapping (which would replace it) other than ``None`` (a null
    is refused on its own, ``null_paths``). ``"*"`` in ``path`` matches any key."""
    head, rest = path[0], path[1:]
    keys = list(override) if head == ANY_KEY else [head] if head in override else []
    hits: list[tuple[str, ...]] = []
    for key in keys:
        value = override[key]
        if rest and value is None:
            continue
        if not rest or not isinstance(value, Mapping):
            hits.append((key,))
        else:
            hits += [(key, *below) for below in protected_hits(value, rest)]
    return hits


def replaced_paths(
    computed: Mapping[str, Any], override: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Key paths where ``override`` replaces a value the program computed (mappings on both
    sides merge, so only their differing leaves count)."""
    out: list[tuple[str, ...]] = []
    for key, value in override.items():
        if key not in computed:
            continue
        current = computed[key]
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out += replaced_paths(current, value, (*prefix, key))
        elif value != current:
            out.append((*prefix, key))
    return out


def _schema_message(error: ValidationError) -> str:
    chosen = best_match(error.context) if error.context else error
    message = chosen.message
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    return f"{message} (values.schema.json)"


def schema_problems(
    chart: ChartFiles, values: Mapping[str, Any], where: str, prefix: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """``values`` (coalesced, as Helm renders ``chart`` with them) against the schema of
    ``chart`` and, under their keys, of its subcharts; problems with full key paths."""
    problems: list[tuple[str, str]] = []
    if chart.schema is not None:
        validator_class = jsonschema.validators.validator_for(chart.schema)
        validator = validator_class(chart.schema)
        errors = sorted(validator.iter_errors(dict(values)), key=lambda e: list(e.absolute_path))
        for error in errors:
            path = [*prefix, *(p if isinstance(p, int) else str(p) for p in error.absolute_path)]
            problem = (key_path(where, path), _schema_message(error))
            if problem not in problems:  # a ``$ref`` and its sibling ``type`` say the same
                problems.append(problem)
    for key, sub in chart.subcharts.items():
        problems += schema_problems(sub, _mapping(values.get(key)), where, (*prefix, key))
    return problems


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def coalesced_values(chart: ChartFiles, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values Helm renders ``chart`` with: its defaults, then ``values``; each subchart's
    values are its own defaults, then the parent's under its key, with the parent's
    ``global`` merged into its ``global``."""
    out = coalesce(chart.defaults, values)
    for key, sub in chart.subcharts.items():
        sub_values = coalesced_values(sub, _mapping(out.get(key)))
        sub_values["global"] = coalesce(
            _mapping(sub_values.get("global")), _mapping(out.get("global"))
        )
        out[key] = sub_values
    return out


def unknown_key_problems(
    chart: ChartFiles, override: Mapping[str, Any], where: str, prefix: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """Keys of ``override`` at the top level of ``chart`` (and of each subchart's key) that the
    chart does not know (module docstring), each with a did-you-mean suggestion."""
    problems: list[tuple[str, str]] = []
    known = chart.known_keys()
    for key, value in override.items():
        if key not in known:
            problems.append(
                (
                    key_path(where, [*prefix, key]),
                    f"not a value of chart {chart.label} (Helm would ignore it silently)"
                    + suggest_key(key, sorted(known)),
                )
            )
        elif key in chart.subcharts and isinstance(value, Mapping):
            sub = chart.subcharts[key]
            parent_defaults = chart.defaults.get(key)
            sub_known = sub.known_keys(
                parent_defaults if isinstance(parent_defaults, Mapping) else {}
            )
            for sub_key in value:
                if sub_key not in sub_known:
                    problems.append(
                        (
                            key_path(where, [*prefix, key, sub_key]),
                            f"not a value of subchart {sub.label} (under {key!r} of chart "
                            f"{chart.label}; Helm would ignore it silently)"
                            + suggest_key(sub_key, sorted(sub_known)),
                        )
                    )
    return problems


class ChartAddon(Protocol):
    """The config of an add-on installed from a chart: ``chart`` (where from) and ``values``."""

    @property
    def chart(self) -> ChartSource: ...

    @property
    def values(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ReleaseValues:
    """The values of one add-on's Helm release.

    ``addon``: its key under ``kubeai:addons`` (camelCase: ``volcano``, ``clusterAutoscaler``);
    ``chart``/``source``: the chart the Release installs and where from
    (``kubeai:addons.<addon>.chart``); ``computed``: the values the program computes;
    ``override``: ``kubeai:addons.<addon>.values``; ``protected``: key paths the override may
    not set, each with the reason (module docstring); ``registry``: ``kubeai:images.registry``
    (its computed image values are protected too, ``mirror_paths``).
    """

    addon: str
    chart: Chart | RepositoryChart
    source: ChartSource
    computed: Mapping[str, Any]
    override: Mapping[str, Any]
    protected: Mapping[KeyPath, str] = field(default_factory=dict)
    registry: str | None = None

    @classmethod
    def of(
        cls,
        addon: str,
        chart: Chart | RepositoryChart,
        config: ChartAddon,
        computed: Mapping[str, Any],
        protected: Mapping[KeyPath, str] | None = None,
        registry: str | None = None,
    ) -> ReleaseValues:
        """The values of add-on ``addon`` (its ``kubeai:addons`` key) whose config is ``config``
        (``chart`` source and ``values`` override), with ``computed`` pointing its images at
        the ``registry`` mirror when one is set (``kubeai:images.registry``)."""
        return cls(
            addon, chart, config.chart, computed, config.values, dict(protected or {}), registry
        )

    @property
    def where(self) -> str:
        """The override's config key path, ``kubeai:addons.<addon>.values``."""
        return f"{NAMESPACE}:addons.{self.addon}.values"

    def merged(self) -> dict[str, Any]:
        """The Release's ``values``: ``override`` deep-merged over ``computed``.

        Raises ``ConfigError`` when the override holds a ``null`` or sets a protected key
        (``protected_problems``).
        """
        if problems := self.protected_problems():
            raise ConfigError(problems)
        return merge_values(self.computed, self.override)

    def mirror_paths(self) -> list[KeyPath]:
        """Key paths of the computed values that point at the ``registry`` mirror (image
        repositories and registries, as ``infra.images`` computes them); ``[]`` without one."""
        registry = self.registry
        if not registry:
            return []

        def walk(values: Mapping[str, Any], prefix: KeyPath) -> list[KeyPath]:
            out: list[KeyPath] = []
            for key, value in values.items():
                if isinstance(value, Mapping):
                    out += walk(value, (*prefix, key))
                elif (
                    isinstance(value, str)
                    and value
                    and mirrored_repository(value, registry) == value
                ):
                    out.append((*prefix, key))
            return out

        return walk(self.computed, ())

    def protected_problems(self) -> list[tuple[str, str]]:
        """The problems found without reading the chart: one per ``null`` in the override, one
        per protected key it sets, one per mirrored image value it sets (module docstring)."""
        problems = [(key_path(self.where, p), NULL_REASON) for p in null_paths(self.override)]
        mirrored = (
            f"points an image at the kubeai:images.registry mirror {self.registry}; another "
            "value would pull from elsewhere while `kubeai images list` lists the mirror's copy"
        )
        rules = [*self.protected.items(), *((p, mirrored) for p in self.mirror_paths())]
        hits: dict[tuple[str, ...], str] = {}  # a parent replaced names its first reason only
        for path, reason in rules:
            for hit in protected_hits(self.override, path):
                hits.setdefault(hit, reason)
        for hit, reason in hits.items():
            problems.append(
                (
                    key_path(self.where, hit),
                    f"is set by the program and cannot be overridden: {reason}",
                )
            )
        return problems

    def replaced(self) -> list[str]:
        """Key paths of computed values the override replaces (allowed; warned about)."""
        return [key_path(self.where, p) for p in replaced_paths(self.computed, self.override)]

    def chart_path(self) -> Path | None:
        """The chart the Release installs, on this machine: ``source.path`` (relative to the
        repository root), else the pinned verified archive of a ``Chart``, else None (a
        repository chart: no local copy). May fetch the archive (``infra.upstream.ensure``)."""
        if self.source.path:
            from infra.addons import REPO_ROOT

            return REPO_ROOT / self.source.path
        if isinstance(self.chart, Chart):
            from infra import upstream

            return upstream.ensure(self.chart.archive.path)
        return None

    def problems(self) -> list[tuple[str, str]]:
        """Every problem of the override: protected keys, then, against the chart (when one is
        available locally, module docstring), unknown keys and schema violations. ``[]`` when
        no override is set (the chart is then not read).

        Raises ``infra.upstream.UpstreamError`` when the pinned archive cannot be fetched.
        """
        if not self.override:
            return []
        problems = self.protected_problems()
        path = self.chart_path()
        if path is None:
            return problems
        if not path.exists():
            problems.append(
                (
                    f"{NAMESPACE}:addons.{self.addon}.chart.path",
                    f"{path} does not exist (needed to check {self.where})",
                )
            )
            return problems
        chart = load_chart(str(path))
        problems += unknown_key_problems(chart, self.override, self.where)
        values = coalesced_values(chart, merge_values(self.computed, self.override))
        return problems + schema_problems(chart, values, self.where)

    def release_input(self, resource: pulumi.Resource) -> dict[str, Any]:
        """``merged()``, logging a warning on ``resource`` for each computed value the override
        replaces. Raises ``ConfigError`` for a protected key."""
        values = self.merged()
        for path in self.replaced():
            pulumi.log.warn(
                f"{path} replaces the value the program computes for this release", resource
            )
        return values


def platform_values_problems(config: PlatformConfig) -> list[tuple[str, str]]:
    """Problems of every ``kubeai:addons.<addon>.values`` of a platform stack: the checks of
    ``ReleaseValues.problems`` for each release the platform installs, and a problem for values
    given to an add-on that installs no chart there (they would be ignored).

    The add-on modules import this one, so they are imported here, when the check runs.
    Raises ``infra.upstream.UpstreamError`` when a pinned archive cannot be fetched.
    """
    from infra.addons import autoscaling, fluid, gpu, volcano

    addons, images = config.addons, config.images
    provider = config.cluster.provider
    releases: list[ReleaseValues] = []
    idle: list[tuple[str, str]] = []

    def add(
        addon: str,
        override: Mapping[str, Any],
        build: Callable[[], ReleaseValues],
        why_not: str | None,
    ) -> None:
        if override and why_not is None:
            releases.append(build())
        elif override and why_not is not None:
            idle.append((addon, why_not))

    add(
        "volcano",
        addons.volcano.values,
        lambda: volcano.release_values(volcano.VolcanoArgs(config=addons.volcano, images=images)),
        None if addons.volcano.enabled else "Volcano is disabled (kubeai:addons.volcano.enabled)",
    )
    add(
        "fluid",
        addons.fluid.values,
        lambda: fluid.release_values(fluid.FluidArgs(config=addons.fluid, images=images)),
        None if addons.fluid.enabled else "Fluid is disabled (kubeai:addons.fluid.enabled)",
    )
    mode = config.gpu_mode
    add(
        "gpu",
        addons.gpu.values,
        lambda: gpu.release_values(
            gpu.GpuEnablementArgs(mode=mode, config=addons.gpu, provider=provider, images=images)
        ),
        None
        if mode != "none"
        else f"no GPU chart is installed: kubeai:addons.gpu.mode resolves to none on {provider}",
    )
    scaler = addons.cluster_autoscaler
    add(
        "clusterAutoscaler",
        scaler.values,
        lambda: autoscaling.autoscaler_release_values(config.cluster, scaler, images),
        None
        if scaler.enabled and provider == "eks"
        else "the cluster-autoscaler chart is installed on EKS only (kubeai:addons."
        f"clusterAutoscaler.enabled, cluster provider {provider})",
    )
    add(
        "metricsServer",
        addons.metrics_server.values,
        lambda: autoscaling.metrics_server_release_values(addons.metrics_server, images),
        None
        if config.metrics_server_enabled
        else f"metrics-server is not installed on this platform (kubeai:addons.metricsServer."
        f"enabled; by default on EKS only, this cluster is {provider})",
    )
    problems = [
        (
            f"{NAMESPACE}:addons.{addon}.values",
            f"{why}, so no release reads these values: remove them",
        )
        for addon, why in idle
    ]
    for release in releases:
        problems += release.problems()
    return problems
