"""Offline render of one stack: every Kubernetes object the program declares, written to a dir.

``kubeai render --stack team-cv-prod --out build/team-cv-prod`` runs the Pulumi program for that
stack under mocks (no engine, no cluster, no cloud), then writes:

* Kubernetes resources the program declares directly, as their manifests;
* releases of our own charts (``charts/...``) rendered with a real ``helm template`` and the
  values the program passes;
* upstream Helm releases, remote kustomize directories, manifest groups and cloud resources
  (node pools) as the declared resource with its inputs (``apiVersion: render.kubeai.dev/v1``,
  ``kind: DeclaredResource``), since their content lives upstream;
* ``index.json``: one entry per written object (file, kind, name, namespace, Pulumi type/name,
  how it was produced) and the counts.

Secrets are replaced by placeholders (``<secret:postgresDsn>``). A team stack is rendered against
the outputs computed from its platform stack's file (``stacks/Pulumi.<platform>.yaml``), and the
cross-stack checks run on them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra import toolchain
from infra.config import (
    SECRET_KEYS,
    ConfigError,
    PlatformConfig,
    PlatformOutputs,
    TeamConfig,
    default_provider_problems,
    parse_config,
    platform_outputs,
    split_keys,
)
from infra.mocks import Declared, record_program, reveal
from infra.validate import DECLARED_API_VERSION
from infra.versions import KUBERNETES_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The helm release our charts are rendered with (pinned in ``infra.toolchain``).
HELM_VERSION = "v3.19.0"
_OPAQUE = ("kubernetes:helm.sh/", "kubernetes:kustomize/", "kubernetes:yaml/")


class RenderError(RuntimeError):
    """The stack could not be rendered (unknown stack, invalid config, helm failure)."""


class RenderInputError(RenderError):
    """Bad input, nothing written: a stack file that is not valid YAML, or an ``--out`` that is
    a file or a folder render did not create (the CLI exits 2)."""


#: Written into every folder ``render_stack`` fills: only such a folder (or an empty one) is
#: ever cleared before a new render.
OUT_MARKER = ".kubeai-render"


@dataclass
class RenderResult:
    """What ``render_stack`` wrote: ``out`` dir, index ``entries``, ``counts`` by source."""

    stack: str
    out: Path
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Objects by how they were produced (``pulumi``, ``helm-template``, ``declared``)."""
        out: dict[str, int] = {}
        for entry in self.entries:
            out[entry["source"]] = out.get(entry["source"], 0) + 1
        out["total"] = len(self.entries)
        return out


def stack_file(stack: str, stacks_dir: Path) -> Path:
    """``stacks/Pulumi.<stack>.yaml``; ``RenderError`` listing the known stacks if missing."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml")
            for p in stacks_dir.glob("Pulumi.*.yaml")
        )
        raise RenderError(f"no stack file {path}; known stacks: {', '.join(known) or 'none'}")
    return path


def load_stack(
    stack: str, stacks_dir: Path
) -> tuple[PlatformConfig | TeamConfig, set[str], dict[str, Any]]:
    """Parse a stack file: (config, secret keys set in it, the raw ``config:`` mapping).

    Raises ``ConfigError`` (every problem with its key path) or ``RenderError``.
    """
    path = stack_file(stack, stacks_dir)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RenderInputError(f"{path} is not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise RenderInputError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); stack files are UTF-8"
        ) from None
    except RecursionError:
        raise RenderInputError(
            f"{path} nests its values too deeply to read; no stack setting is nested that deep"
        ) from None
    if not isinstance(document, dict):
        raise RenderInputError(f"{path}: the stack file must be a mapping with a 'config' key")
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise RenderInputError(f"{path}: 'config' must be a mapping of 'namespace:key' to values")
    values, secrets = split_keys(raw)
    config = parse_config(values)
    if problems := default_provider_problems(raw):
        raise ConfigError(problems)
    return config, secrets, raw


def platform_for(team: TeamConfig, stacks_dir: Path) -> PlatformOutputs:
    """Outputs of the team's platform stack, computed from that stack's file; checked."""
    name = team.platform_stack.rsplit("/", 1)[-1]
    platform, _, _ = load_stack(name, stacks_dir)
    if not isinstance(platform, PlatformConfig):
        raise ConfigError([("kubeai:platformStack", f"stack {name!r} is not a platform stack")])
    outputs = platform_outputs(platform)
    team.check_against_platform(outputs)
    return outputs


def find_helm() -> Path:
    """The helm v3 binary: ``$KUBEAI_HELM``, else the pinned helm v3.19.0 (fetched when missing).

    Raises ``RenderError`` when ``$KUBEAI_HELM`` names no file or the pinned helm cannot be
    fetched (the message says why).
    """
    named = os.environ.get("KUBEAI_HELM")
    if named:
        if not Path(named).is_file():
            raise RenderError(f"KUBEAI_HELM={named} is not a file")
        return Path(named)
    try:
        return toolchain.binary("helm", HELM_VERSION)
    except (toolchain.FetchError, OSError) as exc:
        raise RenderError(f"cannot get helm {HELM_VERSION}: {exc}") from None


def _local_chart(chart: str) -> Path | None:
    path = (REPO_ROOT / chart).resolve() if not Path(chart).is_absolute() else Path(chart)
    return path if (path / "Chart.yaml").is_file() else None


def helm_template(
    chart: Path,
    *,
    release: str,
    namespace: str,
    values: dict[str, Any],
    kube_version: str = KUBERNETES_VERSION,
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """Objects of ``helm template`` of a local chart (folder or ``.tgz``) with ``values``, its
    ``crds/`` folder too with ``include_crds``; ``RenderError`` on failure."""
    with tempfile.TemporaryDirectory(prefix="kubeai-helm-") as tmp:
        values_file = Path(tmp) / "values.json"
        values_file.write_text(json.dumps(values))
        env = {
            **os.environ,
            "HELM_CACHE_HOME": f"{tmp}/cache",
            "HELM_CONFIG_HOME": f"{tmp}/config",
            "HELM_DATA_HOME": f"{tmp}/data",
        }
        result = subprocess.run(
            [
                str(find_helm()),
                "template",
                release,
                str(chart),
                "--namespace",
                namespace,
                "--values",
                str(values_file),
                "--kube-version",
                kube_version,
                *(["--include-crds"] if include_crds else []),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    if result.returncode != 0:
        raise RenderError(
            f"helm template {chart.name} (release {release}) failed: {result.stderr.strip()}"
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: upstream CRDs are large
    return [d for d in yaml.load_all(result.stdout, Loader=loader) if isinstance(d, dict)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def _integral(value: Any) -> Any:
    """``value`` with every integral float made an int (recursively): Pulumi passes inputs as
    protobuf numbers (doubles), so a declared ``max_history=10`` arrives as ``10.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _inputs(item: Declared) -> dict[str, Any]:
    """The declared inputs as written: secrets revealed, integral numbers as ints."""
    return dict(_integral(reveal(item.inputs)))


def _declared(item: Declared) -> dict[str, Any]:
    return {
        "apiVersion": DECLARED_API_VERSION,
        "kind": "DeclaredResource",
        "metadata": {"name": item.name},
        "pulumiType": item.type,
        "dependsOn": item.depends_on,
        "retainOnDelete": item.retain_on_delete,
        "inputs": _inputs(item),
    }


def check_out_dir(out: Path) -> None:
    """Refuse an ``out`` that render may not clear: ``RenderInputError`` if it is a file, a
    symlink, or a non-empty folder without the ``OUT_MARKER`` of an earlier render."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RenderInputError(f"--out {out} exists and is not a directory")
    if out.is_dir() and not (out / OUT_MARKER).is_file() and any(out.iterdir()):
        raise RenderInputError(
            f"--out {out} is a non-empty folder not written by kubeai render (no {OUT_MARKER}); "
            "refusing to delete it: choose a new or empty folder"
        )


def _fresh_out_dir(out: Path) -> None:
    """Empty ``out`` (checked by ``check_out_dir``) and mark it as render's own."""
    check_out_dir(out)
    if out.is_dir():
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / OUT_MARKER).write_text("written by kubeai render; cleared by the next render\n")


def render_stack(
    stack: str,
    out: Path,
    *,
    stacks_dir: Path | None = None,
    kube_version: str = KUBERNETES_VERSION,
) -> RenderResult:
    """Render ``stack`` into ``out``. See the module docstring for the layout.

    ``out`` must be new, empty, or a folder of an earlier render (it has ``OUT_MARKER``), which
    is emptied first; anything else raises ``RenderInputError`` before anything is written.
    Raises ``ConfigError`` for invalid configuration, ``RenderInputError`` for a bad stack file
    or ``out``, ``infra.upstream.UpstreamError`` when a pinned upstream file cannot be had, and
    ``RenderError`` for everything else.
    """
    from infra import program

    check_out_dir(out)
    stacks_dir = stacks_dir or REPO_ROOT / "stacks"
    config, _, raw = load_stack(stack, stacks_dir)
    platform = platform_for(config, stacks_dir) if isinstance(config, TeamConfig) else None

    def run() -> None:
        import pulumi

        secrets = {key: pulumi.Output.secret(f"<secret:{key}>") for key in sorted(SECRET_KEYS)}
        program.run(config, secrets=secrets, platform=platform)

    plain = {
        k: v if isinstance(v, str) else json.dumps(v)
        for k, v in raw.items()
        if not (isinstance(v, dict) and "secure" in v)
    }
    declared, _ = record_program(run, stack=stack, config=plain)

    _fresh_out_dir(out)
    result = RenderResult(stack=stack, out=out)
    # Custom resources, plus the kubernetes provider's own components that stand for upstream
    # content (kustomize directories, manifest groups); not our components, not providers.
    objects = [
        d
        for d in declared
        if (d.custom or d.type.startswith(_OPAQUE)) and not d.type.startswith("pulumi:providers:")
    ]
    for number, item in enumerate(objects):
        docs: list[tuple[dict[str, Any], str]]
        if item.type == "kubernetes:helm.sh/v3:Release" and (
            chart := _local_chart(str(item.inputs.get("chart", "")))
        ):
            inputs = _inputs(item)
            docs = [
                (d, "helm-template")
                for d in helm_template(
                    chart,
                    release=str(inputs.get("name") or item.name),
                    namespace=str(inputs.get("namespace") or "default"),
                    values=inputs.get("values") or {},
                    kube_version=kube_version,
                )
            ]
        elif (
            item.type.startswith("kubernetes:")
            and not item.type.startswith(_OPAQUE)
            and "kind" in item.inputs
        ):
            docs = [(_inputs(item), "pulumi")]
        else:
            docs = [(_declared(item), "declared")]
        filename = f"{number:03d}-{_slug(item.type.split(':')[-1])}-{_slug(item.name)}.yaml"
        (out / filename).write_text(yaml.safe_dump_all([d for d, _ in docs], sort_keys=False))
        for doc, source in docs:
            meta = doc.get("metadata") or {}
            result.entries.append(
                {
                    "file": filename,
                    "apiVersion": doc.get("apiVersion"),
                    "kind": doc.get("kind"),
                    "namespace": meta.get("namespace"),
                    "name": meta.get("name"),
                    "pulumiType": item.type,
                    "pulumiName": item.name,
                    "source": source,
                }
            )
    index = {
        "stack": stack,
        "kind": config.stack_kind,
        "counts": result.counts,
        "objects": result.entries,
    }
    (out / "index.json").write_text(json.dumps(index, indent=2))
    return result
