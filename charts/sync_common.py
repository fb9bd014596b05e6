"""Copy what the kubeai-common library chart shares into every chart that depends on it.

Two things are derived from ``charts/kubeai-common`` and committed in each dependent chart (a
chart whose Chart.yaml lists ``kubeai-common`` under ``dependencies``):

* the shared part of ``values.schema.json``: the ``definitions`` and ``properties`` of
  ``charts/kubeai-common/schema/shared.json``. The chart keeps its own definitions after the
  shared ones; a shared property is added after the chart's own properties.
* the packaged library, ``charts/<chart>/charts/kubeai-common-<version>.tgz``, written by
  ``helm dependency update`` (offline: the dependency is a ``file://`` path). It is committed
  so that a plain ``helm template charts/<chart>`` works on a fresh clone.

Usage (from the repository root, with the project's virtualenv)::

    python charts/sync_common.py           # rewrite what is stale
    python charts/sync_common.py --check   # list what is stale, exit 1 if anything is

``--helm`` names the helm binary (default: ``$KUBEAI_HELM``, else ``.tools/helm-v3.19.0/helm``
as installed by ``make tools``). tests/charts/test_kubeai_common.py runs the same checks.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

CHARTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = CHARTS_DIR.parent
LIBRARY = "kubeai-common"
LIBRARY_DIR = CHARTS_DIR / LIBRARY
SHARED_SCHEMA = LIBRARY_DIR / "schema" / "shared.json"
DEFAULT_HELM = REPO_ROOT / ".tools" / "helm-v3.19.0" / "helm"
_HELM_TIMEOUT_S = 120


class SyncError(Exception):
    """helm is missing or failed; the message says which command and why."""


def chart_metadata(chart: Path) -> dict[str, Any]:
    """The parsed ``Chart.yaml`` of the chart directory ``chart``."""
    metadata: dict[str, Any] = yaml.safe_load((chart / "Chart.yaml").read_text())
    return metadata


def dependents(charts_dir: Path = CHARTS_DIR) -> list[Path]:
    """Directories of the charts that list the library under ``dependencies``, sorted."""
    return sorted(
        path.parent
        for path in charts_dir.glob("*/Chart.yaml")
        if LIBRARY in {d.get("name") for d in chart_metadata(path.parent).get("dependencies", [])}
    )


def _dump(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def schema_with_shared(schema: Mapping[str, Any], shared: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with the shared ``definitions`` first (replacing same-named ones) and the
    shared ``properties`` set; every other key and order kept."""
    out = dict(schema)
    own = {k: v for k, v in schema.get("definitions", {}).items() if k not in shared["definitions"]}
    out["definitions"] = {**shared["definitions"], **own}
    out["properties"] = {**schema.get("properties", {}), **shared["properties"]}
    return out


def expected_schema(chart: Path) -> str:
    """The text ``chart``'s ``values.schema.json`` must have."""
    shared = json.loads(SHARED_SCHEMA.read_text())
    current = json.loads((chart / "values.schema.json").read_text())
    return _dump(schema_with_shared(current, shared))


def stale_schemas(charts: list[Path]) -> list[Path]:
    """The ``values.schema.json`` files of ``charts`` whose shared part is out of date."""
    return [
        chart / "values.schema.json"
        for chart in charts
        if (chart / "values.schema.json").read_text() != expected_schema(chart)
    ]


def _archive_files(archive: bytes) -> dict[str, bytes]:
    """Files of a packaged chart by path below its top directory; Chart.yaml is compared by
    content, so it is re-dumped from its parsed form (helm rewrites it when packaging)."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            extracted = tar.extractfile(member)
            assert extracted is not None
            name = member.name.split("/", 1)[1]
            data = extracted.read()
            if name == "Chart.yaml":
                data = json.dumps(yaml.safe_load(data), sort_keys=True).encode()
            files[name] = data
    return files


def helm_env(home: Path) -> dict[str, str]:
    """Environment for helm with its cache, config and data under ``home``: no user repository
    list or registry login is consulted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env.update(
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
    )
    return env


def _helm(helm: Path, *args: str, home: Path) -> None:
    if not helm.is_file():
        raise SyncError(f"helm not found at {helm}: run `make tools` or pass --helm")
    done = subprocess.run(
        [str(helm), *args],
        env=helm_env(home),
        capture_output=True,
        text=True,
        timeout=_HELM_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise SyncError(f"helm {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")


def vendored_archive(chart: Path) -> Path:
    """Where ``chart`` keeps the packaged library: ``charts/kubeai-common-<version>.tgz``."""
    version = chart_metadata(LIBRARY_DIR)["version"]
    return chart / "charts" / f"{LIBRARY}-{version}.tgz"


def stale_archives(charts: list[Path], helm: Path) -> list[Path]:
    """The charts of ``charts`` whose vendored library is missing, differs from a fresh
    ``helm package`` of charts/kubeai-common, or sits beside another (older) library package."""
    with tempfile.TemporaryDirectory(prefix="kubeai-common-") as tmp:
        _helm(helm, "package", str(LIBRARY_DIR), "--destination", tmp, home=Path(tmp))
        fresh = _archive_files(next(Path(tmp).glob("*.tgz")).read_bytes())
    stale = []
    for chart in charts:
        archive = vendored_archive(chart)
        others = set((chart / "charts").glob(f"{LIBRARY}-*.tgz")) - {archive}
        if others or not archive.is_file() or _archive_files(archive.read_bytes()) != fresh:
            stale.append(chart)
    return stale


def sync(charts: list[Path], helm: Path, *, check: bool) -> list[str]:
    """Rewrite (or with ``check`` only list) what is stale; returns one line per stale item."""
    lines = []
    for path in stale_schemas(charts):
        lines.append(f"{path.relative_to(REPO_ROOT)}: shared schema definitions are stale")
        if not check:
            path.write_text(expected_schema(path.parent))
    for chart in stale_archives(charts, helm):
        lines.append(
            f"{vendored_archive(chart).relative_to(REPO_ROOT)}: vendored {LIBRARY} is stale"
        )
        if not check:  # helm also deletes packages of other versions and rewrites Chart.lock
            with tempfile.TemporaryDirectory(prefix="kubeai-helm-") as home:
                _helm(helm, "dependency", "update", str(chart), home=Path(home))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (1: stale with --check, 2: error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list what is stale")
    parser.add_argument(
        "--helm", type=Path, default=Path(os.environ.get("KUBEAI_HELM") or DEFAULT_HELM)
    )
    args = parser.parse_args(argv)
    try:
        lines = sync(dependents(), args.helm, check=args.check)
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line if args.check else f"updated {line.partition(':')[0]}")
    return 1 if lines and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
