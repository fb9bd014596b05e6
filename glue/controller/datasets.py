"""Fluid Datasets → the registry's datasets (lineage): pure translation and thin kopf handlers.

A Fluid ``Dataset`` (``data.fluid.io/v1alpha1``) in a team namespace (one carrying the label
``TEAM_LABEL``; the team is its value) is mirrored as the registry dataset of the same name in
that team (``PUT /api/v1/teams/{team}/datasets/{name}``, ``schemas.DatasetSync``): its mounts
(``spec.mounts``, without ``options``/``encryptOptions`` and without user information, query
string or fragment in the mount point: they may carry credentials), its phase, total size
(``status.ufsTotal``), file count (``status.fileNum``) and cache state
(``status.cacheStates``). A deleted Dataset stays recorded, marked ``deleted`` (model versions
refer to it).

Fluid gives a Dataset's data to pods through a PVC named after the Dataset, in its namespace;
``dataset_for_claim`` turns the PVC a training job mounts back into the registry dataset name
its version records.

Handlers: ``register_handlers`` adds to a ``kopf.OperatorRegistry`` one index of team
namespaces and one raw-event handler of Datasets (the initial listing, additions,
modifications and deletions). The controller may only read Datasets (least privilege: no
``patch``), so kopf's create/update/delete handlers, which store their progress in annotations
and add finalizers on the object, are not used: every event carries the whole state and the
sync is idempotent, so the handler simply sends it. A registry outage is retried with backoff
until the sync lands (or a newer event supersedes it); a refusal (409/422) is logged and posted
as a Warning event on the Dataset, never retried. A namespace labelled later is picked up at
the Dataset's next event or the controller's next start (the initial listing).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import kopf
import structlog

from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient, RegistryError, RegistryUnavailable

log = structlog.get_logger("glue.controller.datasets")

FLUID_GROUP = "data.fluid.io"
FLUID_VERSION = "v1alpha1"
#: Fluid's binary units (``ufsTotal`` is formatted with docker's ``units.BytesSize``:
#: ``%.4g`` and B, KiB, MiB... e.g. ``"953.7MiB"``); decimal ones (KB, MB...) are read too.
_UNITS = {
    "": 1,
    "B": 1,
    **{f"{p}iB": 1024 ** (i + 1) for i, p in enumerate("KMGTPEZY")},
    **{f"{p}i": 1024 ** (i + 1) for i, p in enumerate("KMGTPEZY")},
    **{f"{p}B": 1000 ** (i + 1) for i, p in enumerate("KMGTPEZY")},
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*$")
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*%\s*$")
_COUNT = re.compile(r"^\s*[0-9]+\s*$")
_USERINFO = re.compile(schemas.USERINFO)
_QUERY_OR_FRAGMENT = re.compile(r"[?#].*$", re.DOTALL)
_T = TypeVar("_T")
#: Largest byte or file count the registry holds (``schemas.ByteCount``).
_MAX_COUNT = 2**53 - 1
#: Index (and handler kwarg) name of the team namespaces: namespace -> team.
TEAM_INDEX = "kubeai_team_namespaces"
#: Seconds between retries while the registry is unreachable: doubling up to the maximum.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


def _placeholder(text: object) -> bool:
    """Whether ``text`` stands for a value Fluid has not computed: absent, or a string without
    any digit (``""``, ``"[Calculating]"``)."""
    return text is None or (isinstance(text, str) and not any(c.isdigit() for c in text))


def _bounded(value: float, text: object) -> int:
    """``value`` rounded to an int in 0..2**53 - 1; ``ValueError`` naming ``text`` otherwise
    (infinite, NaN or too large)."""
    if not math.isfinite(value) or not 0 <= value <= _MAX_COUNT:
        raise ValueError(f"{text!r} is beyond the {_MAX_COUNT} the registry holds")
    return round(value)


def parse_size(text: object) -> int | None:
    """Bytes of a Fluid size string (``"1.00GiB"``, ``"953.7MiB"``, ``"0.00B"``, ``"12KB"``);
    None for a value Fluid has not computed (``""``, ``"[Calculating]"``, absent).

    Raises ``ValueError`` naming the text for anything else: an unknown unit, not a string, a
    number that overflows or is beyond 2**53 - 1 (``"1e400B"``)."""
    if _placeholder(text):
        return None
    match = _SIZE.match(text) if isinstance(text, str) else None
    if match is None or match.group(2) not in _UNITS:
        units = ", ".join(u for u in _UNITS if u)
        raise ValueError(f"{text!r} is not a size (a number and one of {units})")
    return _bounded(float(match.group(1)) * _UNITS[match.group(2)], text)


def parse_count(text: object) -> int | None:
    """A count Fluid writes as a string (``status.fileNum``: ``"1797"``) or an integer; None
    for a value Fluid has not computed. Raises ``ValueError`` naming the value otherwise (not
    a whole number of ASCII digits, negative, beyond 2**53 - 1)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return _bounded(text, text)
    if _placeholder(text):
        return None
    if not isinstance(text, str) or not _COUNT.match(text):
        raise ValueError(f"{text!r} is not a count (a whole number of decimal digits)")
    digits = text.strip()
    return _bounded(int(digits) if len(digits) <= 16 else math.inf, text)


def parse_percent(text: object) -> float | None:
    """A percentage Fluid writes as ``"50.0%"``; None for a value Fluid has not computed.
    Raises ``ValueError`` naming the text otherwise (no ``%``, outside 0..100)."""
    if _placeholder(text):
        return None
    match = _PERCENT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a percentage (e.g. '50.0%')")
    value = float(match.group(1))
    if not math.isfinite(value) or value > 100:
        raise ValueError(f"{text!r} is not a percentage between 0 and 100")
    return value


def _parsed(parse: Callable[[object], _T], value: object, *, field: str) -> _T:
    """``parse(value)``; its ``ValueError`` prefixed with ``field``."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


def without_credentials(uri: str) -> str:
    """``uri`` without user information (``user:password@``) in its authority and without a
    query string or fragment (presigned URLs carry credentials there:
    ``?X-Amz-Signature=...&X-Amz-Credential=...``); the registry refuses mount points with
    either."""
    uri = _QUERY_OR_FRAGMENT.sub("", uri)
    match = _USERINFO.match(uri)
    if match is None:
        return uri
    scheme = uri.partition("://")[0]
    return f"{scheme}://{uri[match.end() :]}"


def build_mounts(dataset: Mapping[str, Any]) -> list[schemas.DatasetMount]:
    """The registry mounts of a Fluid Dataset's ``spec.mounts`` (no options, no credentials).

    Raises ``ValueError`` naming ``spec.mounts`` when it is empty or a mount has no
    ``mountPoint`` (the CRD requires both; the apiserver refuses such an object)."""
    mounts = (dataset.get("spec") or {}).get("mounts") or []
    result = []
    for i, mount in enumerate(mounts):
        point = mount.get("mountPoint")
        if not point:
            raise ValueError(f"spec.mounts[{i}].mountPoint is missing")
        result.append(
            schemas.DatasetMount(
                name=mount.get("name") or "",
                mount_point=without_credentials(point),
                path=mount.get("path") or "",
                read_only=bool(mount.get("readOnly", False)),
                shared=bool(mount.get("shared", False)),
            )
        )
    if not result:
        raise ValueError("spec.mounts is empty")
    return result


def build_cache(status: Mapping[str, Any]) -> schemas.DatasetCache:
    """The cache state of ``status.cacheStates`` (``cacheCapacity``, ``cached``,
    ``cachedPercentage``, ``cacheHitRatio``); values Fluid has not computed are None."""
    states = status.get("cacheStates") or {}
    where = "status.cacheStates"
    return schemas.DatasetCache(
        capacity_bytes=_parsed(
            parse_size, states.get("cacheCapacity"), field=f"{where}.cacheCapacity"
        ),
        cached_bytes=_parsed(parse_size, states.get("cached"), field=f"{where}.cached"),
        cached_percentage=_parsed(
            parse_percent, states.get("cachedPercentage"), field=f"{where}.cachedPercentage"
        ),
        hit_ratio=_parsed(
            parse_percent, states.get("cacheHitRatio"), field=f"{where}.cacheHitRatio"
        ),
    )


def build_sync(dataset: Mapping[str, Any], *, deleted: bool = False) -> schemas.DatasetSync:
    """The registry's ``DatasetSync`` body for a Fluid Dataset object (as the apiserver returns
    it: ``metadata``, ``spec``, ``status``); ``deleted`` when the object is gone.

    Raises ``ValueError`` (or pydantic's ``ValidationError``, a ``ValueError``) naming the field
    when the object cannot be mirrored (no mounts, a name the registry does not accept)."""
    meta = dataset.get("metadata") or {}
    status = dataset.get("status") or {}
    phase = status.get("phase") or ""
    return schemas.DatasetSync(
        source=schemas.DatasetSource(
            namespace=meta.get("namespace", ""), name=meta.get("name", ""), uid=meta.get("uid", "")
        ),
        mounts=build_mounts(dataset),
        phase=phase if isinstance(phase, str) and phase.isalpha() else "",
        size_bytes=_parsed(parse_size, status.get("ufsTotal"), field="status.ufsTotal"),
        file_count=_parsed(parse_count, status.get("fileNum"), field="status.fileNum"),
        cache=build_cache(status),
        deleted=deleted,
    )


def team_of(namespace: Mapping[str, Any], team_label: str) -> str | None:
    """The team of a Namespace object: the value of its ``team_label`` label; None if absent
    or empty."""
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    return labels.get(team_label) or None


def claim_dataset_name(claim: str) -> str:
    """The Fluid Dataset that backs PVC ``claim``: Fluid names the PVC after the Dataset (same
    namespace), so it is the claim's name."""
    return claim


def dataset_for_claim(
    client: RegistryClient, *, team: str, namespace: str, claim: str
) -> str | None:
    """The registry dataset name a training job records when it mounts PVC ``claim`` of
    ``namespace``: the synced dataset of ``team`` mirroring the Fluid Dataset backing the claim;
    None when the claim is not a Fluid Dataset's (no such record, a file dataset, another
    namespace's Dataset). Raises ``RegistryUnavailable`` (retry) and ``RegistryError`` other
    than 404 as the client does."""
    name = claim_dataset_name(claim)
    try:
        record = client.get_dataset(name, team=team)
    except RegistryError as exc:
        if exc.status in (404, 422):  # not recorded, or not a name the registry accepts
            return None
        raise
    source = record.source
    if source is None or source.namespace != namespace or source.name != name:
        return None
    return record.name


#: Makes a registry client (authenticated as the controller, not bound to a team).
ClientFactory = Callable[[], RegistryClient]


def sync_once(client_factory: ClientFactory, *, team: str, body: schemas.DatasetSync) -> bool:
    """Send ``body`` to the registry as team ``team``'s dataset; True when it created the
    record. Raises ``RegistryUnavailable`` and ``RegistryError`` as the client does."""
    with client_factory() as client:
        return client.sync_dataset(body.source.name, body, team=team)[1]


async def sync_with_retries(
    client_factory: ClientFactory,
    *,
    team: str,
    body: schemas.DatasetSync,
    first: float = RETRY_FIRST_SECONDS,
    most: float = RETRY_MAX_SECONDS,
) -> bool:
    """``sync_once`` in a worker thread, retried while the registry is unreachable (waits of
    ``first`` seconds doubling up to ``most``) until it lands; cancelled with the operator.
    Raises ``RegistryError`` when the registry refuses the body."""
    delay = first
    while True:
        try:
            return await asyncio.to_thread(sync_once, client_factory, team=team, body=body)
        except RegistryUnavailable as exc:
            log.warning(
                "registry unreachable, dataset sync retried",
                dataset=f"{body.source.namespace}/{body.source.name}",
                retry_in=delay,
                error=str(exc),
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, most)


#: Posts a Kubernetes event on an object (``kopf.warn``'s signature).
Warn = Callable[..., None]


async def handle_event(
    event_type: str | None,
    body: Mapping[str, Any],
    *,
    teams: list[str],
    client_factory: ClientFactory,
    warn: Warn = kopf.warn,
    retry_first: float = RETRY_FIRST_SECONDS,
    retry_max: float = RETRY_MAX_SECONDS,
) -> str:
    """Mirror one watch event of a Fluid Dataset (``event_type`` ``None`` for the initial
    listing, ``ADDED``, ``MODIFIED`` or ``DELETED``; ``body`` the object) in the registry as the
    dataset of ``teams[0]`` (the namespace's team; empty: not a team namespace, ignored).

    Returns the outcome: ``ignored``, ``created``, ``synced`` (updated or unchanged),
    ``invalid`` (the object cannot be mirrored: a field Fluid filled in a form the registry
    cannot hold, such as ``status.ufsTotal: "1e400B"``), ``refused`` (the registry refused it:
    403, 409 or 422) or ``failed`` (anything unexpected); the last three are logged and, unless
    the Dataset is gone, posted with ``warn`` as a ``DatasetNotRecorded`` Warning event on it.
    No exception escapes (kopf would log it and the Dataset would get no Event). Waits out
    registry outages (``sync_with_retries``).
    """
    if not teams:
        return "ignored"
    meta = body.get("metadata") or {}
    where = f"{meta.get('namespace')}/{meta.get('name')}"
    deleted = event_type == "DELETED"
    try:
        sync = build_sync(body, deleted=deleted)
    except ValueError as exc:
        outcome, problem = "invalid", str(exc)
    except Exception as exc:  # one odd object must not stop the handler
        log.exception("dataset object not understood", dataset=where)
        outcome, problem = "invalid", f"cannot read the Dataset: {type(exc).__name__}: {exc}"
    else:
        try:
            created = await sync_with_retries(
                client_factory, team=teams[0], body=sync, first=retry_first, most=retry_max
            )
        except RegistryError as exc:
            outcome, problem = "refused", str(exc)
        except Exception as exc:  # logged and posted; the next event retries
            log.exception("dataset sync failed", dataset=where)
            outcome, problem = "failed", f"sync failed: {type(exc).__name__}: {exc}"
        else:
            log.info(
                "dataset synced",
                dataset=where,
                team=teams[0],
                created=created,
                deleted=deleted,
                phase=sync.phase,
            )
            return "created" if created else "synced"
    log.error("dataset not recorded", dataset=where, team=teams[0], error=problem)
    if not deleted:
        warn(body, reason="DatasetNotRecorded", message=problem[:1000])
    return outcome


def register_handlers(
    registry: kopf.OperatorRegistry,
    *,
    client_factory: ClientFactory,
    team_label: str,
    retry_first: float = RETRY_FIRST_SECONDS,
    retry_max: float = RETRY_MAX_SECONDS,
    team_index: str | None = None,
) -> None:
    """Add the dataset handlers to ``registry``: the index ``TEAM_INDEX`` of team namespaces
    (namespace name -> team, from the ``team_label`` label) and the raw-event handler of Fluid
    Datasets (``handle_event``) that mirrors each one of a team namespace in the registry.
    ``team_index`` names an index of the same shape the registry already has (the operator's
    ``namespace_teams``); then no second one is added.

    Needs ``get/list/watch`` on namespaces and ``data.fluid.io`` datasets, and ``create`` on
    events (the Warning posted when the registry refuses a Dataset); the operator must be
    cluster-wide (namespaces are cluster-scoped).
    """

    index_id = team_index or TEAM_INDEX
    if team_index is None:

        @kopf.index("v1", "namespaces", id=TEAM_INDEX, registry=registry)
        def team_namespaces(body: kopf.Body, name: str, **_: Any) -> dict[str, str] | None:
            team = team_of(body, team_label)
            return {name: team} if team else None

    @kopf.on.event(FLUID_GROUP, FLUID_VERSION, "datasets", id="fluid-dataset", registry=registry)
    async def fluid_dataset(
        event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **kwargs: Any
    ) -> None:
        index: kopf.Index[str, str] = kwargs[index_id]
        await handle_event(
            event.get("type"),
            body,
            teams=list(index.get(namespace or "", ())),
            client_factory=client_factory,
            retry_first=retry_first,
            retry_max=retry_max,
        )
