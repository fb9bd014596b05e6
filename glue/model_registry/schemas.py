"""Pydantic request/response schemas of the registry API (the OpenAPI contract).

Names follow the field's terms: a *model* has *versions*; *aliases* (``production``, ``staging``,
``canary``...) point at versions; an *inference service* has desired *assignments* (model + exact
version or alias, optional canary version with a replica share) and *observed* per-pod state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from glue.artifacts.manifest import Manifest
from glue.json_numbers import JsonInteger
from glue.signature import Signature as Signature
from glue.signature import TensorSpec as TensorSpec

#: DNS-1123 label (Kubernetes object names): lowercase alphanumerics and '-', 1..63 chars,
#: starting and ending alphanumeric. Source: Kubernetes `IsDNS1123Label`
#: (k8s.io/apimachinery/pkg/util/validation).
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS1123_LABEL)]


class JsonSchemaExtra:
    """Annotation adding keywords to a type's JSON Schema (``Annotated[str, JsonSchemaExtra(
    {"not": ...})]``), for rules pydantic enforces with a validator the schema cannot infer."""

    def __init__(self, extra: dict[str, Any]) -> None:
        self.extra = extra

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema.update(self.extra)
        return schema


#: Words the API uses as literal path segments, where an alias or version reference could stand
#: (``/models/{m}/aliases/history``, ``/models/{m}/versions/latest``...) or could be read as one.
#: ``latest`` is the newest version (``GET /models/{m}/versions/latest``). ``audit``, ``teams`` and
#: ``whoami`` are the words of the team-scoped and identity routes; ``canaries`` and ``traffic``
#: those of a service's canaries and traffic.
RESERVED_ALIASES = frozenset(
    {
        "aliases",
        "api",
        "assignments",
        "audit",
        "canaries",
        "datasets",
        "deployments",
        "desired",
        "docs",
        "healthz",
        "history",
        "latest",
        "metrics",
        "models",
        "pods",
        "readyz",
        "redoc",
        "rollback",
        "services",
        "status",
        "teams",
        "traffic",
        "versions",
        "whoami",
    }
)
#: ``v`` and a number reads as a version (``v3``), never as an alias.
VERSION_LOOKALIKE = r"^v[0-9]+$"
#: What a version reference may not be (``latest`` is one).
_REF_RESERVED = RESERVED_ALIASES - {"latest"}


def _not_reserved(value: str, reserved: frozenset[str] = RESERVED_ALIASES) -> str:
    if value in reserved or re.match(VERSION_LOOKALIKE, value):
        raise ValueError(
            f"{value!r} is reserved: the API uses the words {', '.join(sorted(reserved))}, "
            "and v<number> reads as a version number"
        )
    return value


def _not_reserved_ref(value: str) -> str:
    return _not_reserved(value, _REF_RESERVED)


def _reserved_schema(reserved: frozenset[str]) -> JsonSchemaExtra:
    return JsonSchemaExtra(
        {"not": {"anyOf": [{"enum": sorted(reserved)}, {"pattern": VERSION_LOOKALIKE}]}}
    )


#: Aliases are DNS-1123 labels that start with a letter, so they never read as a version number,
#: and are none of ``RESERVED_ALIASES`` nor ``v<number>``.
ALIAS_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
AliasName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=ALIAS_PATTERN),
    AfterValidator(_not_reserved),
    _reserved_schema(RESERVED_ALIASES),
]
#: A version reference: a number (``3``), ``latest`` (the newest version) or an alias name.
VERSION_REF_PATTERN = r"^([1-9][0-9]{0,9}|[a-z]([-a-z0-9]*[a-z0-9])?)$"
VersionRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=VERSION_REF_PATTERN),
    AfterValidator(_not_reserved_ref),
    _reserved_schema(_REF_RESERVED),
]
#: DNS-1123 subdomain (pod and job names): lowercase alphanumerics, '-' and '.', starting and
#: ending alphanumeric (length limits are set where it is used).
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
#: Pod names are DNS-1123 subdomains (<= 253 chars).
PodName = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN)]
#: One-line text: no control characters (C0, DEL, C1): NUL cannot be stored (PostgreSQL text),
#: the others would reach terminals that print the value (``\x1b[2J`` clears the screen).
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
#: Free text (descriptions, reasons, errors): the same, but newline and tab are allowed.
NO_CONTROL_BUT_NL_TAB = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
ShortText = Annotated[str, StringConstraints(max_length=256, pattern=NO_CONTROL)]
LongText = Annotated[str, StringConstraints(max_length=4096, pattern=NO_CONTROL_BUT_NL_TAB)]
#: Artifact and dataset URIs (``s3://bucket/key``): one line, bounded length.
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=NO_CONTROL)]
#: Version numbers are stored as 32-bit integers: 1 .. 2,147,483,647; JSON integers only (``3.0``
#: is one, as JSON Schema counts; ``"3"`` and ``true`` are not).
VersionNumber = Annotated[StrictInt, Field(ge=1, le=2_147_483_647), JsonInteger]
#: Metric values: finite JSON numbers (NaN and infinities are refused; JSON has no such numbers).
#: Strict, as every number of the API: ``"0.5"`` (a string) and ``true`` are refused, as JSON
#: Schema's ``type: number`` refuses them; ``1`` is a number.
MetricValue = Annotated[float, Field(strict=True, allow_inf_nan=False)]
LabelKey = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9._/-]+$")
]
LabelValue = Annotated[str, StringConstraints(max_length=256, pattern=NO_CONTROL)]


class KeysMatching:
    """Annotation of a ``dict`` whose key type has a pattern: its JSON Schema says the keys must
    match (``propertyNames``) and what every value is (``additionalProperties``).

    Pydantic emits a key pattern as ``patternProperties``, which lets a key that does not match
    through with a value of any type: the schema then allowed keys the validator refuses.
    """

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        patterns = schema.pop("patternProperties", None)
        if patterns:
            ((pattern, value),) = patterns.items()
            schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
            schema["additionalProperties"] = value
        return schema


Labels = Annotated[dict[LabelKey, LabelValue], KeysMatching()]
#: The uid of the object that produced a version (``SourceRef.uid``, the ``source_uid`` filter).
SourceUid = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
]
ModelState = Literal["READY", "LOADING", "UNLOADING", "UNAVAILABLE", "FAILED"]

T = TypeVar("T")


#: Vendor keyword naming the cross-field rules JSON Schema cannot state (it cannot compare two
#: values of one instance); the server refuses a body breaking them with 422 naming the field.
RULES_KEYWORD = "x-kubeai-rules"


class Strict(BaseModel):
    """Base for request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items``, ``total`` rows, ``next_offset`` (None at the end)."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None


# ---------------------------------------------------------------------------------------------
# Models and versions


class ModelCreate(Strict):
    """Body of ``POST /api/v1/teams/{team}/models``."""

    name: Name
    team: Name | None = Field(
        default=None,
        description="The team; optional, as the path names it. When given, it must equal the "
        "path's team.",
        json_schema_extra={RULES_KEYWORD: ["equals the path's team"]},
    )
    description: LongText = ""
    task: ShortText = ""
    framework: ShortText = ""
    labels: Labels = Field(default_factory=dict, max_length=64)


class ModelUpdate(Strict):
    """Body of ``PATCH /api/v1/models/{model}``: fields left out are unchanged."""

    description: LongText | None = None
    task: ShortText | None = None
    framework: ShortText | None = None
    labels: Labels | None = Field(default=None, max_length=64)


class ModelRead(BaseModel):
    """A registered model with its aliases (alias -> version number) and latest version number."""

    name: str
    team: str
    description: str
    task: str
    framework: str
    labels: dict[str, str]
    latest_version: int
    aliases: dict[str, int]
    created_at: datetime


class SourceRef(Strict):
    """The object that produced a version, e.g. a PyTorchJob: kind, namespace, name, uid."""

    kind: Annotated[
        str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    ]
    namespace: Name
    name: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN)]
    uid: SourceUid


class VersionCreate(Strict):
    """Body of ``POST /api/v1/models/{model}/versions``.

    ``source.uid`` makes registration idempotent: registering the same uid again returns the
    existing version (HTTP 200 instead of 201).
    """

    artifact_uri: Uri
    manifest: Manifest
    format: Literal[
        "triton-python", "onnx", "tensorrt", "pytorch-libtorch", "tensorflow-savedmodel", "openvino"
    ] = "triton-python"
    signature: Signature
    metrics: Annotated[dict[LabelKey, MetricValue], KeysMatching()] = Field(
        default_factory=dict, max_length=128
    )
    params: Annotated[
        dict[LabelKey, Annotated[str, StringConstraints(max_length=1024, pattern=NO_CONTROL)]],
        KeysMatching(),
    ] = Field(default_factory=dict, max_length=256)
    dataset: Name | None = None
    source: SourceRef
    description: LongText = ""


class VersionRead(BaseModel):
    """A registered model version with its lineage and the aliases pointing at it.

    ``created_by`` is the authenticated principal that registered it.
    """

    team: str
    model: str
    version: int
    artifact_uri: str
    manifest: Manifest
    format: str
    signature: Signature
    metrics: dict[str, float]
    params: dict[str, str]
    dataset: str | None
    source: SourceRef
    created_at: datetime
    created_by: str
    description: str
    aliases: list[str]


class AliasSet(Strict):
    """Body of ``PUT /api/v1/models/{model}/aliases/{alias}``: point the alias at ``version``."""

    version: VersionNumber
    reason: LongText = ""


class AliasRollback(Strict):
    """Body of ``POST /api/v1/models/{model}/aliases/{alias}/rollback``."""

    reason: LongText = ""


class AliasEventRead(BaseModel):
    """One audited alias move (``from_version`` None when the alias was created); ``actor`` is
    the authenticated principal that moved it."""

    id: int
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    at: datetime


# ---------------------------------------------------------------------------------------------
# Datasets


class DatasetCreate(Strict):
    """Body of ``POST /api/v1/teams/{team}/datasets``; same name and manifest again is
    idempotent."""

    name: Name
    team: Name | None = Field(
        default=None,
        description="The team; optional, as the path names it. When given, it must equal the "
        "path's team.",
        json_schema_extra={RULES_KEYWORD: ["equals the path's team"]},
    )
    uri: Uri
    manifest: Manifest
    #: Up to 2**53 - 1, the largest integer every JSON reader holds exactly (RFC 7493, I-JSON):
    #: a client (or fuzzer) comparing as doubles sees 2**63 as equal to 2**63 - 1.
    rows: Annotated[StrictInt, Field(ge=0, le=2**53 - 1), JsonInteger]
    description: LongText = ""
    labels: Labels = Field(default_factory=dict, max_length=64)


#: Byte counts and file counts: JSON integers up to 2**53 - 1 (see ``DatasetCreate.rows``).
ByteCount = Annotated[StrictInt, Field(ge=0, le=2**53 - 1), JsonInteger]
#: A percentage, 0..100.
Percent = Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)]


class DatasetSource(Strict):
    """The Kubernetes object a synced dataset mirrors: a Fluid ``Dataset``
    (``data.fluid.io/v1alpha1``) by namespace, name and uid."""

    kind: Literal["Dataset"] = "Dataset"
    api_version: Literal["data.fluid.io/v1alpha1"] = "data.fluid.io/v1alpha1"
    namespace: Name
    name: Name
    uid: SourceUid


#: A URI whose authority carries user information (``s3://key:secret@host/...``, RFC 3986).
USERINFO = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@"
#: What a recorded mount point must not hold (searched): user information, a query string or
#: a fragment. Queries and fragments carry credentials in presigned URLs
#: (``?X-Amz-Signature=...&X-Amz-Credential=...``, SAS tokens), so none is recorded at all.
MOUNT_SECRETS = rf"{USERINFO}|[?#]"


def _no_credentials(value: str) -> str:
    """``value`` unless it carries user information, a query string or a fragment."""
    if re.match(USERINFO, value):
        raise ValueError("must not carry user information (user:password@): credentials")
    if re.search(r"[?#]", value):
        raise ValueError(
            "must not carry a query string or fragment (presigned URLs carry credentials "
            "there); record the location without them"
        )
    return value


class DatasetMount(Strict):
    """One mount of a Fluid Dataset (``spec.mounts[]``): where the data lives. Mount
    ``options`` and ``encryptOptions`` are never recorded (they may carry credentials), nor is
    user information, a query string or a fragment in ``mount_point`` (refused: 422)."""

    name: Annotated[str, StringConstraints(max_length=253, pattern=NO_CONTROL)] = ""
    mount_point: Annotated[
        Uri, AfterValidator(_no_credentials), JsonSchemaExtra({"not": {"pattern": MOUNT_SECRETS}})
    ] = Field(description="The data's location, e.g. ``s3://bucket/prefix``, ``pvc://claim/dir``.")
    path: Annotated[str, StringConstraints(max_length=1024, pattern=NO_CONTROL)] = Field(
        default="", description="Where the mount appears inside the dataset's volume."
    )
    read_only: StrictBool = False
    shared: StrictBool = False


class DatasetCache(Strict):
    """The cache state a Fluid runtime reports (``status.cacheStates``), in bytes and percent;
    a value Fluid has not computed yet is null."""

    capacity_bytes: ByteCount | None = None
    cached_bytes: ByteCount | None = Field(
        default=None,
        json_schema_extra={RULES_KEYWORD: ["at most capacity_bytes when both are given"]},
    )
    cached_percentage: Percent | None = None
    hit_ratio: Percent | None = None

    @field_validator("cached_bytes")
    @classmethod
    def _cached_fits(cls, value: int | None, info: ValidationInfo) -> int | None:
        capacity = info.data.get("capacity_bytes")
        if value is not None and capacity is not None and value > capacity:
            raise ValueError(
                f"cached_bytes ({value}) exceeds capacity_bytes ({capacity}): a cache holds at "
                "most its capacity"
            )
        return value


#: Fluid's dataset phases (``status.phase``) are an open list; an identifier word.
DatasetPhase = Annotated[str, StringConstraints(max_length=63, pattern=r"^[A-Za-z]*$")]


class DatasetSync(Strict):
    """Body of ``PUT /api/v1/teams/{team}/datasets/{dataset}``: the current state of the Fluid
    Dataset that the record mirrors (sent by the lifecycle controller).

    Creates the record (201) or brings it up to date (200); sending the same state again changes
    nothing and writes no audit event. ``source.name`` equals the path's dataset (Fluid names
    the dataset's PVC after it, which is how a training job's volume leads to it). A record of
    a file dataset (``POST``) or of another namespace's Dataset of that name is never taken
    over (409). A new ``source.uid`` (the Dataset was deleted and created again) replaces the
    old one, audited with both uids. ``deleted`` marks the record as mirroring a Dataset that no
    longer exists; the record stays, as versions refer to it.
    """

    source: DatasetSource = Field(
        json_schema_extra={RULES_KEYWORD: ["source.name equals the path's dataset"]}
    )
    mounts: list[DatasetMount] = Field(min_length=1, max_length=64)
    phase: DatasetPhase = ""
    size_bytes: ByteCount | None = Field(
        default=None, description="Total size of the data under the mounts (``status.ufsTotal``)."
    )
    file_count: ByteCount | None = Field(
        default=None, description="Number of files under the mounts (``status.fileNum``)."
    )
    cache: DatasetCache = Field(default_factory=DatasetCache)
    deleted: StrictBool = False
    description: LongText = ""
    labels: Labels = Field(default_factory=dict, max_length=64)


class DatasetRead(BaseModel):
    """A recorded dataset: a file dataset (``uri``, ``manifest``, ``rows``) or one synced from
    a Fluid Dataset (``source`` set; ``uri`` is its first mount point, ``manifest`` and
    ``rows`` are null)."""

    name: str
    team: str
    uri: str
    manifest: Manifest | None
    rows: int | None
    description: str
    labels: dict[str, str]
    created_at: datetime
    source: DatasetSource | None = None
    mounts: list[DatasetMount] = Field(default_factory=list)
    phase: str | None = None
    size_bytes: int | None = None
    file_count: int | None = None
    cache: DatasetCache | None = None
    synced_at: datetime | None = None
    deleted_at: datetime | None = None


# ---------------------------------------------------------------------------------------------
# Inference services


#: A canary's share of the service's live pods: a JSON number, 0 < share < 1 (strict: ``"0.5"``
#: is refused). The count is ``share x pods`` rounded half up, at least one pod and, from two
#: pods on, at least one stable pod (``glue.model_registry.service.inference``).
CanaryShare = Annotated[float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False)]


class Assignment(Strict):
    """Desired model for a service: exactly one of ``version``/``alias``; optional canary.

    ``canary_share`` (0 < share < 1) is the share of the service's live pods that serve
    ``canary_version`` (``CanaryShare``: rounded half up, at least one canary pod and, with two
    pods or more, at least one stable one). ``canary_version`` and ``canary_share`` go together,
    and ``canary_version`` differs from ``version``.
    """

    model_config = ConfigDict(
        json_schema_extra={
            # Exactly one of version/alias is set (not null).
            "oneOf": [
                {"required": ["version"], "properties": {"version": {"type": "integer"}}},
                {"required": ["alias"], "properties": {"alias": {"type": "string"}}},
            ],
            # canary_version and canary_share: both set, or both absent or null.
            "anyOf": [
                {
                    "required": ["canary_version", "canary_share"],
                    "properties": {
                        "canary_version": {"type": "integer"},
                        "canary_share": {"type": "number"},
                    },
                },
                {
                    "properties": {
                        "canary_version": {"type": "null"},
                        "canary_share": {"type": "null"},
                    }
                },
            ],
            RULES_KEYWORD: ["canary_version differs from version"],
        }
    )

    model: Name
    version: VersionNumber | None = None
    alias: AliasName | None = None
    canary_version: VersionNumber | None = None
    canary_share: CanaryShare | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Assignment:
        if (self.version is None) == (self.alias is None):
            raise ValueError("set exactly one of 'version' or 'alias'")
        if (self.canary_version is None) != (self.canary_share is None):
            raise ValueError("'canary_version' and 'canary_share' go together")
        if self.canary_version is not None and self.canary_version == self.version:
            raise ValueError("'canary_version' must differ from 'version'")
        return self


#: Identical assignments are refused (uniqueItems), and so are two of one model.
ASSIGNMENTS_SCHEMA: dict[str, Any] = {
    "uniqueItems": True,
    RULES_KEYWORD: ["each model at most once"],
}


def _unique(items: list[T], key: Callable[[T], object], what: Callable[[T], str]) -> list[T]:
    """``items`` if no two share ``key``; else ``ValueError`` naming the item and both places."""
    seen: dict[object, int] = {}
    for index, item in enumerate(items):
        first = seen.setdefault(key(item), index)
        if first != index:
            raise ValueError(f"{what(item)} twice (items {first} and {index})")
    return items


def _one_per_model(items: list[Assignment]) -> list[Assignment]:
    return _unique(items, lambda a: a.model, lambda a: f"model {a.model!r} is assigned")


Assignments = Annotated[list[Assignment], AfterValidator(_one_per_model)]


class ServiceCreate(Strict):
    """Body of ``POST /api/v1/teams/{team}/services``.

    ``service_account``: the Kubernetes ServiceAccount the service's pods run as (in the team's
    namespace); when set, only that account's pod-bound tokens may report the service's pods.
    """

    name: Name
    team: Name | None = Field(
        default=None,
        description="The team; optional, as the path names it. When given, it must equal the "
        "path's team.",
        json_schema_extra={RULES_KEYWORD: ["equals the path's team"]},
    )
    description: LongText = ""
    service_account: (
        Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN)]
        | None
    ) = None
    assignments: Assignments = Field(
        default_factory=list, max_length=64, json_schema_extra=ASSIGNMENTS_SCHEMA
    )


class AssignmentsSet(Strict):
    """Body of ``PUT /api/v1/services/{service}/assignments`` (replaces all assignments)."""

    assignments: Assignments = Field(max_length=64, json_schema_extra=ASSIGNMENTS_SCHEMA)


class ObservedModel(Strict):
    """What one pod's Triton does with one model version, as reported by its serving agent."""

    model: Name
    version: VersionNumber
    state: ModelState
    error: LongText | None = None


def _one_per_model_version(items: list[ObservedModel]) -> list[ObservedModel]:
    return _unique(
        items,
        lambda m: (m.model, m.version),
        lambda m: f"model {m.model!r} version {m.version} is reported",
    )


#: Seconds the registry keeps traffic samples (the longest traffic window).
TRAFFIC_RETENTION_S = 3600

#: A cumulative counter as JSON carries it exactly (up to 2**53 - 1, as ``DatasetCreate.rows``).
Counter = Annotated[StrictInt, Field(ge=0, le=2**53 - 1), JsonInteger]


class TrafficCounters(Strict):
    """One model version's cumulative request counters in one pod's Triton, read by its serving
    agent from Triton's Prometheus metrics.

    ``success``/``failure``: ``nv_inference_request_success`` and ``nv_inference_request_failure``
    (summed over the ``reason`` label); ``duration_us``: ``nv_inference_request_duration_us``
    (cumulative microseconds); ``p99_us``: the 0.99 quantile of ``nv_inference_request_summary_us``
    over Triton's sliding summary window, None when Triton exports no summary (started without
    ``--metrics-config=summary_latencies=true``) or the window holds no request. Counters restart
    at 0 when Triton restarts or reloads the version.
    """

    model: Name
    version: VersionNumber
    success: Counter
    failure: Counter
    duration_us: Counter
    p99_us: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None


def _one_traffic_per_model_version(items: list[TrafficCounters]) -> list[TrafficCounters]:
    return _unique(
        items,
        lambda m: (m.model, m.version),
        lambda m: f"traffic of model {m.model!r} version {m.version} is reported",
    )


class PodStatusReport(Strict):
    """Body of ``PUT /api/v1/services/{service}/pods/{pod}/status``: the pod's full state, and
    optionally its per-version request counters (``traffic``; older agents send none).

    Each ``traffic`` entry names a model version the same report lists in ``models``, of a model
    assigned to the service, and a registered version: else 422 naming ``body.traffic[i]`` (a
    pod's counters count only for versions it serves).
    """

    models: Annotated[list[ObservedModel], AfterValidator(_one_per_model_version)] = Field(
        max_length=256,
        # Identical entries are refused (uniqueItems), and so are two entries of one model
        # version with different states, which JSON Schema cannot state.
        json_schema_extra={
            "uniqueItems": True,
            RULES_KEYWORD: ["each model and version at most once"],
        },
    )
    agent: ShortText = ""
    traffic: Annotated[list[TrafficCounters], AfterValidator(_one_traffic_per_model_version)] = (
        Field(
            default_factory=list,
            max_length=256,
            json_schema_extra={
                "uniqueItems": True,
                RULES_KEYWORD: [
                    "each model and version at most once",
                    "each model and version is one of models",
                    "each model is assigned to the service and the version is registered",
                ],
            },
        )
    )


class ObservedModelRead(ObservedModel):
    """An observed model version with the pod and the time it was reported."""

    model_config = ConfigDict(extra="ignore")

    pod: str
    reported_at: datetime
    stale: bool = False


class CanaryCleared(BaseModel):
    """A canary the registry took away: ``version``, why (``reason``) and when (``at``)."""

    version: int
    reason: str
    at: datetime


#: Where an assignment's canary stands: ``active`` (served to its share of pods), ``stale``
#: (not newer than the resolved primary: never served; a state the registry refuses and clears,
#: flagged should it ever be found), ``cleared`` (taken away: see ``canary_cleared``), or None
#: (no canary, none cleared).
CanaryStatus = Literal["active", "stale", "cleared"]


class ResolvedAssignment(BaseModel):
    """An assignment with its alias resolved (``resolved_version`` None if the alias is unset)
    and the state of its canary (``canary_status``, ``canary_cleared``).

    ``canary_pods``/``stable_pods``: how many live pods (reports not ``stale``) are observed
    serving ``canary_version``/``resolved_version`` READY. A pod in the middle of a swap may
    count on both sides; an active canary with 0 on one side has nothing to compare with.
    """

    model: str
    version: int | None
    alias: str | None
    canary_version: int | None
    canary_share: float | None
    resolved_version: int | None
    canary_status: CanaryStatus | None = None
    canary_cleared: CanaryCleared | None = None
    canary_pods: int = 0
    stable_pods: int = 0


class CanarySet(Strict):
    """Body of ``PUT .../services/{service}/canaries/{model}``: serve ``version`` to the
    ``share`` (``CanaryShare``) of the service's live pods. ``version`` must be newer than the
    assignment's resolved primary."""

    version: VersionNumber
    share: CanaryShare
    reason: LongText = ""


class VersionTraffic(BaseModel):
    """One version's traffic over a window, summed over the pods that served it.

    ``requests`` = successes + failures; ``error_ratio`` = failures / requests (None without
    requests); ``p99_ms``: the largest per-pod p99 Triton reported within the window (an upper
    bound of the p99 over all those pods' requests; None without summaries); ``mean_ms``: mean
    request duration (exact, from the duration counter); ``pods``: the pods that reported it.
    """

    version: int
    requests: int
    failures: int
    error_ratio: float | None
    p99_ms: float | None
    mean_ms: float | None
    pods: list[str]


class TrafficRead(BaseModel):
    """Answer of ``GET .../services/{service}/traffic?model=&window=``: per-version traffic of
    ``model`` in the ``window_s`` seconds up to ``until``."""

    service: str
    model: str
    window_s: float
    until: datetime
    versions: list[VersionTraffic]


class ServiceRead(BaseModel):
    """An inference service: desired assignments (resolved) and observed pod state."""

    name: str
    team: str
    description: str
    service_account: str | None
    created_at: datetime
    assignments: list[ResolvedAssignment]
    observed: list[ObservedModelRead]


class DesiredVersion(BaseModel):
    """One model version a pod must serve, with what the agent needs to fetch and verify it."""

    model: str
    version: int
    role: Literal["primary", "canary"]
    artifact_uri: str
    manifest: Manifest


class DesiredState(BaseModel):
    """Answer of ``GET /api/v1/services/{service}/desired?pod=``: one version per model.

    ``unresolved`` lists models whose alias points at nothing yet (the agent leaves them alone).
    """

    service: str
    pod: str
    models: list[DesiredVersion]
    unresolved: list[str]


class Deployment(BaseModel):
    """A pod observed serving a model version (answer of ``/models/{m}/deployments``)."""

    service: str
    pod: str
    model: str
    version: int
    state: str
    error: str | None
    reported_at: datetime


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is returned (``application/problem+json``).

    ``errors`` lists each offending field as ``{"field": "body.manifest.files", "message": ...}``.
    """

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Identity and audit


#: An audit action, ``<resource>.<verb>``.
AuditAction = Annotated[str, StringConstraints(max_length=63, pattern=r"^[a-z]+\.[a-z]+$")]


class AuditEventRead(BaseModel):
    """One write in the audit log: who (the authenticated principal and how it authenticated),
    when, in which team, which action on which resource (path relative to the team)."""

    id: int
    at: datetime
    principal: str
    method: str
    team: str
    action: str
    resource: str
    detail: dict[str, Any]


class WhoAmI(BaseModel):
    """The caller as the registry sees it: name, groups, roles per team, admin or not.

    ``teams`` maps each team with a binding to the caller's roles (``*`` for every team).
    """

    name: str
    groups: list[str]
    method: str
    pod: str | None
    admin: bool
    teams: dict[str, list[str]]
