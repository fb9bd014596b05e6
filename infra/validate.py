"""Offline validation of rendered Kubernetes objects.

Built-in kinds are checked with kubernetes-validate (the upstream OpenAPI schemas, strict: unknown
fields are errors). Custom resources are checked against the ``openAPIV3Schema`` of their upstream
CRD, read from the pinned upstream CRDs (``infra.upstream``) or a directory the user names
(``--crds`` or ``KUBEAI_CRDS_DIR``), with the
conversions a plain JSON-Schema validator needs: ``nullable`` adds ``null`` to the type,
``x-kubernetes-int-or-string`` accepts both, and in strict mode objects with ``properties`` and no
``x-kubernetes-preserve-unknown-fields`` refuse unknown fields. CEL rules
(``x-kubernetes-validations``) are not enforced.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from infra import upstream
from infra.versions import KUBERNETES_VERSION

#: apiVersion of documents that record a declared (not rendered) resource; never validated.
DECLARED_API_VERSION = "render.kubeai.dev/v1"


@dataclass(frozen=True)
class Problem:
    """One invalid object: ``where`` (file and Kind/namespace/name), ``field`` path, ``message``."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field or '<root>'}: {self.message}"


def crds_dir(explicit: str | Path | None = None) -> Path:
    """The CRD directory: ``explicit``, else ``$KUBEAI_CRDS_DIR``, else the pinned upstream CRDs.

    The default is ``crds/`` below the verified upstream root (``infra.upstream``), fetched (or
    copied from ``$KUBEAI_UPSTREAM_MIRROR``) first when missing. Raises ``FileNotFoundError``
    naming the directory when a named one does not exist, ``infra.upstream.UpstreamError`` when
    the pinned CRDs cannot be fetched or verified.
    """
    named = explicit or os.environ.get("KUBEAI_CRDS_DIR")
    if not named:
        return upstream.ensure("crds")
    chosen = Path(named)
    if not chosen.is_dir():
        raise FileNotFoundError(
            f"CRD directory {chosen} does not exist; pass --crds DIR or set KUBEAI_CRDS_DIR"
        )
    return chosen


def _convert(schema: Any, *, strict: bool) -> Any:
    if isinstance(schema, list):
        return [_convert(item, strict=strict) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: _convert(v, strict=strict)
        for k, v in schema.items()
        if not k.startswith("x-kubernetes-")
    }
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        kind = out["type"]
        out["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    out.pop("nullable", None)
    if (
        strict
        and "properties" in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in schema
    ):
        out["additionalProperties"] = False
    return out


class CrdSchemas:
    """Validators for every CRD version found below a directory, keyed by (group/version, kind)."""

    def __init__(self, directory: Path, *, strict: bool = True) -> None:
        self.directory = directory
        self.strict = strict
        self._raw: dict[tuple[str, str], dict[str, Any]] = {}
        self._validators: dict[tuple[str, str], jsonschema.Draft7Validator] = {}
        self._loaded: set[Path] = set()
        self._files = sorted(directory.rglob("*.yaml"))

    def _load(self, path: Path) -> None:
        if path in self._loaded:
            return
        self._loaded.add(path)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with path.open() as stream:
            for doc in yaml.load_all(stream, Loader=loader):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec.get("versions", []):
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if schema:
                        key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                        self._raw[key] = schema

    def knows(self, api_version: str, kind: str) -> bool:
        """Whether a CRD for ``api_version``/``kind`` exists (files of its group load lazily).

        Upstream CRD files are named ``<group>_<plural>.yaml``; those of the object's group are
        read first, every other file only if the kind is still unknown.
        """
        key = (api_version, kind)
        if key in self._raw or "/" not in api_version:
            return key in self._raw
        group = api_version.split("/", 1)[0]
        if "." not in group or group.endswith(".k8s.io"):
            return False  # a built-in API group: kubernetes-validate knows it
        for path in self._files:
            if path.name.startswith(group + "_"):
                self._load(path)
        if key not in self._raw:
            for path in self._files:
                self._load(path)
                if key in self._raw:
                    break
        return key in self._raw

    def validator(self, api_version: str, kind: str) -> jsonschema.Draft7Validator:
        """The (cached) validator of one custom resource kind."""
        key = (api_version, kind)
        if key not in self._validators:
            schema = _convert(copy.deepcopy(self._raw[key]), strict=self.strict)
            props = schema.setdefault("properties", {})
            props.update(
                {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                }
            )
            self._validators[key] = jsonschema.Draft7Validator(schema)
        return self._validators[key]


def iter_documents(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every YAML document (mapping) in ``*.yaml`` files below ``directory``, sorted by path."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(directory.rglob("*.yaml")):
        with path.open() as stream:
            for doc in yaml.load_all(stream, Loader=loader):
                if isinstance(doc, dict):
                    yield path, doc


def _where(path: Path, doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{path.name}: {doc.get('kind', '?')}/{ns + '/' if ns else ''}{name}"


def validate_object(
    doc: dict[str, Any],
    *,
    crds: CrdSchemas,
    kube_version: str = KUBERNETES_VERSION,
    where: str = "",
) -> list[Problem]:
    """Problems of one object (empty list when valid). Unknown kinds are a problem too."""
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError

    api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    if not api_version or not kind:
        return [Problem(where, "apiVersion" if not api_version else "kind", "is required")]
    if crds.knows(api_version, kind):
        return [
            Problem(where, ".".join(str(p) for p in error.absolute_path), error.message)
            for error in sorted(crds.validator(api_version, kind).iter_errors(doc), key=str)
        ]
    try:
        kubernetes_validate.validate(doc, kube_version, strict=True)
    except SchemaNotFoundError:
        return [
            Problem(
                where,
                "apiVersion",
                f"no schema for {api_version} {kind} in Kubernetes "
                f"{kube_version} nor in the CRD directory {crds.directory}",
            )
        ]
    except kubernetes_validate.ValidationError as exc:
        field = ".".join(str(p) for p in getattr(exc, "absolute_path", []) or [])
        return [Problem(where, field, str(getattr(exc, "message", exc)))]
    return []


def validate_directory(
    directory: Path, *, crds: CrdSchemas, kube_version: str = KUBERNETES_VERSION
) -> tuple[int, list[Problem]]:
    """Validate every rendered object below ``directory``; returns (objects checked, problems).

    Documents recording declared resources (``apiVersion: render.kubeai.dev/v1``) are skipped.
    """
    checked, problems = 0, []
    for path, doc in iter_documents(directory):
        if doc.get("apiVersion") == DECLARED_API_VERSION:
            continue
        checked += 1
        problems.extend(
            validate_object(doc, crds=crds, kube_version=kube_version, where=_where(path, doc))
        )
    return checked, problems


def declared_types(directory: Path) -> dict[str, int]:
    """How many declared (not rendered) resources below ``directory`` there are, by Pulumi type.

    These documents (``apiVersion: render.kubeai.dev/v1``) stand for resources whose objects only
    exist at deploy time (upstream Helm releases, kustomize directories, cloud node pools), so
    ``validate_directory`` cannot check them; callers report them so no object goes unmentioned.
    """
    counts: dict[str, int] = {}
    for _, doc in iter_documents(directory):
        if doc.get("apiVersion") == DECLARED_API_VERSION:
            kind = str(doc.get("pulumiType") or doc.get("kind"))
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))
