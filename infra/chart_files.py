"""What the program reads of a Helm chart: values, schema, the values its templates use, subcharts.

``load_chart(path)`` reads a chart archive (``.tgz``, ``helm package`` layout) or a chart
directory into a ``ChartFiles`` (cached per path: the pinned archives never change). Subcharts
(``charts/<name>/`` folders or ``charts/<name>.tgz``) sit under the key Helm gives their values:
the dependency's ``alias`` in ``Chart.yaml``, else its name. Used by the values escape hatch
(``infra.addons.values``: known keys, schemas) and the image mirror (``infra.images``: the
defaults that name images).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

#: How templates read top-level values: ``.Values.<key>`` and ``index .Values "<key>"``.
_TEMPLATE_REFS = (
    re.compile(r"\.Values\.([A-Za-z_][A-Za-z0-9_]*)"),
    re.compile(r"index\s+\$?\.Values\s+\"([^\"]+)\""),
)


@dataclass(frozen=True)
class ChartFiles:
    """What the checks read of a chart (and, recursively, its subcharts).

    ``name``/``version`` from ``Chart.yaml``; ``defaults`` its ``values.yaml``; ``schema`` its
    ``values.schema.json`` or None; ``template_keys`` the top-level values its templates read;
    ``subcharts`` by the key their values sit under in this chart (alias or name).
    """

    name: str
    version: str
    defaults: dict[str, Any]
    schema: dict[str, Any] | None
    template_keys: frozenset[str]
    subcharts: dict[str, ChartFiles] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``<name> <version>`` for messages."""
        return f"{self.name} {self.version}"

    def known_keys(self, parent_defaults: Mapping[str, Any] | None = None) -> set[str]:
        """Top-level keys this chart reads (see the module docstring), plus the keys of
        ``parent_defaults`` (a parent chart's defaults for it)."""
        keys = set(self.defaults) | set(self.template_keys) | set(self.subcharts) | {"global"}
        keys |= set((self.schema or {}).get("properties", {}))
        return keys | set(parent_defaults or {})


def _yaml_mapping(text: bytes | None, where: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text) if text else None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{where} is not a mapping")
    return loaded


def chart_from_files(files: Mapping[str, bytes], origin: str) -> ChartFiles:
    """A ``ChartFiles`` from a chart's files by path relative to its root (``Chart.yaml``,
    ``values.yaml``, ``templates/...``, ``charts/<sub>/...``, ``charts/<sub>.tgz``).

    Raises ``ValueError`` naming ``origin`` when ``Chart.yaml`` is missing or malformed.
    """
    if "Chart.yaml" not in files:
        raise ValueError(f"{origin}: no Chart.yaml (not a Helm chart)")
    meta = _yaml_mapping(files["Chart.yaml"], f"{origin}/Chart.yaml")
    schema_text = files.get("values.schema.json")
    refs: set[str] = set()
    for path, data in files.items():
        if path.startswith("templates/"):
            text = data.decode("utf-8", errors="replace")
            for pattern in _TEMPLATE_REFS:
                refs.update(pattern.findall(text))
    subcharts: dict[str, ChartFiles] = {}
    nested: dict[str, dict[str, bytes]] = {}
    for path, data in files.items():
        parts = path.split("/")
        if parts[0] != "charts" or len(parts) < 2:
            continue
        if len(parts) == 2 and parts[1].endswith(".tgz"):
            sub = chart_from_archive(data, f"{origin}/{path}")
            subcharts[sub.name] = sub
        elif len(parts) > 2:
            nested.setdefault(parts[1], {})["/".join(parts[2:])] = data
    for directory, sub_files in nested.items():
        sub = chart_from_files(sub_files, f"{origin}/charts/{directory}")
        subcharts[sub.name] = sub
    by_key: dict[str, ChartFiles] = {}
    listed: set[str] = set()
    for dependency in meta.get("dependencies") or []:
        name = str(dependency.get("name", ""))
        if name in subcharts:
            by_key[str(dependency.get("alias") or name)] = subcharts[name]
            listed.add(name)
    by_key.update({name: sub for name, sub in subcharts.items() if name not in listed})
    return ChartFiles(
        name=str(meta.get("name", "")),
        version=str(meta.get("version", "")),
        defaults=_yaml_mapping(files.get("values.yaml"), f"{origin}/values.yaml"),
        schema=json.loads(schema_text) if schema_text else None,
        template_keys=frozenset(refs),
        subcharts=by_key,
    )


def chart_from_archive(data: bytes, origin: str) -> ChartFiles:
    """A ``ChartFiles`` from a chart archive's bytes (``helm package`` layout: one top folder)."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            _, _, rest = member.name.partition("/")
            stream = archive.extractfile(member) if member.isfile() and rest else None
            if stream is not None:
                files[rest] = stream.read()
    return chart_from_files(files, origin)


@lru_cache(maxsize=16)
def load_chart(path: str) -> ChartFiles:
    """The chart at ``path``: a ``.tgz`` archive or a chart directory (cached per path; the
    pinned archives never change, a local ``chart.path`` is read once per run).

    Raises ``ValueError`` when it is not a chart, ``OSError`` when it cannot be read.
    """
    chart = Path(path)
    if chart.is_dir():
        files = {
            str(p.relative_to(chart).as_posix()): p.read_bytes()
            for p in chart.rglob("*")
            if p.is_file()
        }
        return chart_from_files(files, path)
    return chart_from_archive(chart.read_bytes(), path)


def merged_defaults(chart: ChartFiles) -> dict[str, Any]:
    """``chart``'s default values with each subchart's defaults under its key, as Helm merges
    them (what the parent's ``values.yaml`` sets for a subchart wins over the subchart's own)."""
    merged: dict[str, Any] = dict(chart.defaults)
    for key, sub in chart.subcharts.items():
        target = merged.setdefault(key, {})
        if isinstance(target, dict):
            for name, value in merged_defaults(sub).items():
                target.setdefault(name, value)
    return merged
