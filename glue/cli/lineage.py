"""``kubeai lineage MODEL [VERSION]``: dataset → job → version → services and pods, from the
registry.

For each version: the dataset it was trained on (for a dataset synced from a Fluid Dataset:
its namespace/name/uid, phase, size, cache state and mounts; for a file dataset: URI and rows),
the job that produced it (kind, namespace/name, uid), the version itself (aliases, metrics) and
the pods observed serving it (the registry's ``deployments``). Without VERSION every version is
shown, newest first, one page at a time (``--limit``/``--offset``): a model's lineage is the
story of all its versions, and the production one is marked by its alias.

``collect`` gathers the data (the ``--json`` document), ``render`` draws it as a rich tree;
the command itself lives in ``glue.cli.main`` beside the other registry commands (its error
handling and options).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from rich.tree import Tree

from glue.cli.terminal import shown
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient

#: Binary units for sizes, as Fluid prints them.
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(size: int) -> str:
    """``1073741824`` → ``1.0 GiB``; ``512`` → ``512 B``."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def collect(
    client: RegistryClient, model: str, version: str | None, *, limit: int = 20, offset: int = 0
) -> dict[str, Any]:
    """The lineage document of ``model`` (one ``version``, a number or an alias, or a page of
    all versions newest first): ``{"team", "model", "versions": [{"version", "aliases",
    "metrics", "params", "created_at", "created_by", "artifact_uri", "job", "dataset",
    "served_by"}], "total", "next_offset"}``; ``dataset`` is the registry's dataset record (or
    None), ``served_by`` the observed deployments. Raises ``RegistryError`` (404 for an unknown
    model or version) and ``RegistryUnavailable`` as the client does."""
    if version is None:
        page = client.list_versions(model, limit=limit, offset=offset)
        versions, total, following = page.items, page.total, page.next_offset
    else:
        versions, total, following = [client.get_version(model, version)], 1, None
    datasets: dict[str, schemas.DatasetRead] = {}
    items = []
    for v in versions:
        if v.dataset is not None and v.dataset not in datasets:
            datasets[v.dataset] = client.get_dataset(v.dataset)
        served = client.deployments(model, version=v.version, limit=500).items
        record = datasets.get(v.dataset) if v.dataset is not None else None
        items.append(
            {
                "version": v.version,
                "aliases": v.aliases,
                "metrics": v.metrics,
                "params": v.params,
                "created_at": v.created_at.isoformat(),
                "created_by": v.created_by,
                "artifact_uri": v.artifact_uri,
                "job": v.source.model_dump(mode="json"),
                "dataset": None if record is None else record.model_dump(mode="json"),
                "served_by": [d.model_dump(mode="json") for d in served],
            }
        )
    return {
        "team": client.team,
        "model": model,
        "versions": items,
        "total": total,
        "next_offset": following,
    }


def _dataset_lines(dataset: dict[str, Any]) -> list[str]:
    """One headline and detail lines of a dataset record (JSON form of ``DatasetRead``)."""
    source = dataset.get("source")
    if source is None:
        rows = dataset.get("rows")
        return [f"dataset {dataset['name']}: files at {dataset['uri']}, {rows} rows"]
    head = (
        f"dataset {dataset['name']}: Fluid Dataset {source['namespace']}/{source['name']} "
        f"uid={source['uid']}"
    )
    state = [f"phase {dataset.get('phase') or '-'}"]
    if dataset.get("size_bytes") is not None:
        state.append(f"size {human_bytes(dataset['size_bytes'])}")
    if dataset.get("file_count") is not None:
        state.append(f"{dataset['file_count']} files")
    cache = dataset.get("cache") or {}
    if cache.get("cached_percentage") is not None:
        state.append(f"cached {cache['cached_percentage']:g}%")
    elif cache.get("cached_bytes") is not None:
        state.append(f"cached {human_bytes(cache['cached_bytes'])}")
    if cache.get("capacity_bytes") is not None:
        state.append(f"cache capacity {human_bytes(cache['capacity_bytes'])}")
    if dataset.get("deleted_at"):
        state.append(f"deleted {dataset['deleted_at']}")
    lines = [head, ", ".join(state)]
    for m in dataset.get("mounts") or []:
        target = f" → {m['path']}" if m.get("path") else ""
        mode = " (read-only)" if m.get("read_only") else ""
        lines.append(f"mount {m['mount_point']}{target}{mode}")
    return lines


def render(document: dict[str, Any]) -> Tree:
    """The lineage document as a rich tree: model → version → dataset, job, served by. Every
    registry string goes through ``shown`` (no control characters reach the terminal)."""
    tree = Tree(Text(shown(f"{document['model']} (team {document['team']})"), style="bold"))
    for v in document["versions"]:
        aliases = ", ".join(v["aliases"]) or "-"
        metrics = ", ".join(f"{k}={val:g}" for k, val in v["metrics"].items()) or "-"
        node = tree.add(
            Text.assemble(
                (shown(f"v{v['version']}"), "bold"),
                shown(f"  aliases: {aliases}  metrics: {metrics}"),
            )
        )
        dataset = v["dataset"]
        if dataset is None:
            node.add(Text("dataset: - (none recorded)", style="dim"))
        else:
            head, *details = _dataset_lines(dataset)
            branch = node.add(Text(shown(head)))
            for line in details:
                branch.add(Text(shown(line)))
        job = v["job"]
        node.add(
            Text(shown(f"job {job['kind']} {job['namespace']}/{job['name']} uid={job['uid']}"))
        )
        served = v["served_by"]
        if not served:
            node.add(Text("served by: no pod", style="dim"))
            continue
        services = node.add(Text(shown(f"served by {len(served)} pod(s)")))
        for d in served:
            style = "green" if d["state"] == "READY" else "yellow"
            services.add(
                Text.assemble(
                    shown(f"service {d['service']} pod {d['pod']} "), (shown(d["state"]), style)
                )
            )
    if document["next_offset"] is not None:
        tree.add(Text(f"more: --offset {document['next_offset']}", style="dim"))
    return tree
