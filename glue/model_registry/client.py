"""Synchronous HTTP client of the registry API, used by the CLI, training jobs and serving agents.

Errors: ``RegistryUnavailable`` when the registry cannot be reached or answers 5xx (callers retry
with backoff); ``RegistryError`` for 4xx answers, carrying the problem+json body, and for answers
that are not what the API sends (a redirect, a body that is not JSON or not the expected shape).

Every name put into a URL path is percent-encoded as one segment (``_path``): ``a/../b`` or
``staging?x=`` can never address another resource.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Generator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from glue.model_registry import schemas

M = TypeVar("M", bound=BaseModel)

API = "/api/v1"


#: What a bearer token may hold (RFC 6750 ``b64token`` and JWTs): visible ASCII, no spaces.
TOKEN_PATTERN = re.compile(r"[\x21-\x7e]+")


class RegistryError(Exception):
    """The registry refused a request (4xx). ``status`` and the parsed ``problem`` are attached."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("title") or "request refused"
        errors = [e for e in problem.get("errors", []) if isinstance(e, dict)]
        if len(errors) == 1 and errors[0].get("message") == detail:
            text = f"{errors[0].get('field')}: {detail}"
        else:
            fields = ", ".join(f"{e.get('field')}: {e.get('message')}" for e in errors)
            text = f"{detail}" + (f" ({fields})" if fields and fields != detail else "")
        super().__init__(f"registry answered {status}: {text}")
        self.status = status
        self.problem = problem


class RegistryUnavailable(Exception):  # noqa: N818 - reads as a state in `except` clauses
    """The registry could not be reached, timed out, or answered with a 5xx status."""


def _path(*segments: str | int) -> str:
    """``/a/b/c`` with every segment percent-encoded (``/``, ``?``, ``#``, ``%`` too); a ``.``
    or ``..`` segment as ``%2E``/``%2E%2E`` so no URL normalisation can drop it.

    Raises ``ValueError`` for an empty segment: ``/models/`` would address another resource.
    """
    parts = []
    for segment in segments:
        text = str(segment)
        if not text:
            raise ValueError("empty name in a registry path")
        encoded = quote(text, safe="")
        parts.append(encoded.replace(".", "%2E") if text in (".", "..") else encoded)
    return "/" + "/".join(parts)


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer`` from a fixed ``token`` or read from ``token_file`` before every
    request (projected ServiceAccount tokens are rotated by the kubelet; the file is re-read
    only when its modification time changes). Raises ``RegistryError`` if the file cannot be
    read or does not hold a token (empty, not UTF-8, not visible ASCII)."""

    def __init__(self, *, token: str | None = None, token_file: Path | None = None) -> None:
        self.token = token
        self.token_file = token_file
        self._stamp: int | None = None

    def _current(self) -> str | None:
        if self.token_file is None:
            return self.token
        try:
            stamp = self.token_file.stat().st_mtime_ns
            if stamp != self._stamp:
                token = self.token_file.read_bytes().decode("utf-8").strip()
                if not TOKEN_PATTERN.fullmatch(token):
                    raise ValueError("it is empty or not a bearer token")
                self.token, self._stamp = token, stamp
        except OSError as exc:
            raise RegistryError(
                401, {"detail": f"cannot read the token file {self.token_file}: {exc.strerror}"}
            ) from exc
        except ValueError as exc:  # UnicodeDecodeError included; the content is not echoed
            reason = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc
            raise RegistryError(
                401, {"detail": f"the token file {self.token_file} is unusable: {reason}"}
            ) from None
        return self.token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header (httpx ``Auth`` protocol)."""
        token = self._current()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


class RegistryClient:
    """Client for one registry base URL, e.g. ``http://127.0.0.1:8080``, acting in one team.

    Models, versions, datasets and services belong to a team (``/api/v1/teams/{team}/...``);
    the client's ``team`` is used unless a create body or ``list_*(team=...)`` names another.

    Args:
        base_url: registry root URL (scheme, host, port).
        team: the team addressed; None allows only ``whoami``/``audit`` and calls naming one.
        timeout: per-request timeout in seconds.
        token: bearer token sent as ``Authorization``.
        token_file: file holding the bearer token, re-read when it changes (wins over ``token``).
        verify: TLS verification: True, False, or a CA bundle path.
    """

    def __init__(
        self,
        base_url: str,
        *,
        team: str | None = None,
        timeout: float = 5.0,
        token: str | None = None,
        token_file: Path | None = None,
        verify: bool | str = True,
    ) -> None:
        self.team = team
        self._timeout = timeout
        #: ``(service, pod)`` -> (ETag, desired state) of the last answer received.
        self._desired_seen: dict[tuple[str, str], tuple[str | None, schemas.DesiredState]] = {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            auth=BearerAuth(token=token, token_file=token_file),
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
        )

    @classmethod
    def from_environment(
        cls, base_url: str, *, team: str | None = None, timeout: float = 5.0
    ) -> RegistryClient:
        """A client whose credentials come from the environment: ``KUBEAI_REGISTRY_TOKEN_FILE``
        (a file re-read when it changes, e.g. a projected ServiceAccount token) or
        ``KUBEAI_REGISTRY_TOKEN``; ``KUBEAI_REGISTRY_CA_FILE`` names a CA bundle for TLS."""
        token_file = os.environ.get("KUBEAI_REGISTRY_TOKEN_FILE") or None
        return cls(
            base_url,
            team=team,
            timeout=timeout,
            token=os.environ.get("KUBEAI_REGISTRY_TOKEN") or None,
            token_file=Path(token_file) if token_file else None,
            verify=os.environ.get("KUBEAI_REGISTRY_CA_FILE") or True,
        )

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _team_path(self, *segments: str | int, team: str | None = None) -> str:
        """``/teams/<team>/<segments>`` of ``team`` or the client's team."""
        chosen = team or self.team
        if not chosen:
            raise ValueError("no team: give the client a team (kubeai --team, KUBEAI_TEAM)")
        return _path("teams", chosen, *segments)

    def _request(
        self, method: str, path: str, *, not_modified: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send; ``RegistryUnavailable``/``RegistryError`` as the module says. ``not_modified``:
        a 304 (answer to a conditional request) is returned, not refused."""
        try:
            response = self._http.request(method, API + path, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"registry {self._http.base_url} unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise RegistryUnavailable(
                f"registry {self._http.base_url} answered {response.status_code}: "
                f"{response.text[:200]}"
            )
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:500]}
            raise RegistryError(response.status_code, problem if isinstance(problem, dict) else {})
        if response.status_code == 304 and not_modified:
            return response
        if response.status_code >= 300:
            target = response.headers.get("location") or "nowhere"
            detail = f"unexpected redirect to {target}: not an API URL"
            raise RegistryError(response.status_code, {"detail": detail})
        return response

    @staticmethod
    def _parse(response: httpx.Response, model: type[M]) -> M:
        """``response``'s JSON body as ``model``; ``RegistryError`` if it is not that."""
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
            kind = response.headers.get("content-type", "no content type")
            raise RegistryError(
                response.status_code,
                {"detail": f"answer is not a valid {model.__name__} ({kind}): {str(exc)[:200]}"},
            ) from None

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._parse(self._request("GET", path, params=clean), model)

    def _send(self, method: str, path: str, body: BaseModel, model: type[M]) -> M:
        return self._send_created(method, path, body, model)[0]

    def _send_created(
        self, method: str, path: str, body: BaseModel, model: type[M]
    ) -> tuple[M, bool]:
        response = self._request(method, path, json=body.model_dump(mode="json", exclude_none=True))
        return self._parse(response, model), response.status_code == 201

    # -- models ---------------------------------------------------------------------------------

    def create_model(self, body: schemas.ModelCreate) -> schemas.ModelRead:
        """Create a model; raises ``RegistryError`` 409 if the name exists."""
        return self._send(
            "POST", self._team_path("models", team=body.team), body, schemas.ModelRead
        )

    def ensure_model(self, body: schemas.ModelCreate) -> schemas.ModelRead:
        """Create the model unless it exists; returns it either way (existing fields unchanged)."""
        try:
            return self.create_model(body)
        except RegistryError as exc:
            if exc.status != 409:
                raise
            return self.get_model(body.name, team=body.team)

    def get_model(self, name: str, *, team: str | None = None) -> schemas.ModelRead:
        """One model by name (404 ``RegistryError`` if unknown)."""
        return self._get(self._team_path("models", name, team=team), schemas.ModelRead)

    def list_models(
        self, *, team: str | None = None, limit: int = 50, offset: int = 0
    ) -> schemas.Page[schemas.ModelRead]:
        """One page of the team's models."""
        return self._get(
            self._team_path("models", team=team),
            schemas.Page[schemas.ModelRead],
            limit=limit,
            offset=offset,
        )

    def register_version(self, model: str, body: schemas.VersionCreate) -> schemas.VersionRead:
        """Register a version (idempotent on ``body.source.uid``)."""
        return self.register_version_created(model, body)[0]

    def register_version_created(
        self, model: str, body: schemas.VersionCreate, *, team: str | None = None
    ) -> tuple[schemas.VersionRead, bool]:
        """Register a version; (the version, True when this call created it, False when the
        same source uid was already registered)."""
        path = self._team_path("models", model, "versions", team=team)
        return self._send_created("POST", path, body, schemas.VersionRead)

    def get_version(self, model: str, version: int | str) -> schemas.VersionRead:
        """One version by number, or by alias name (``production``)."""
        return self._get(self._team_path("models", model, "versions", version), schemas.VersionRead)

    def list_versions(
        self,
        model: str,
        *,
        limit: int = 50,
        offset: int = 0,
        source_uid: str | None = None,
        dataset: str | None = None,
    ) -> schemas.Page[schemas.VersionRead]:
        """One page of a model's versions, newest first (optionally of one source uid/dataset)."""
        return self._get(
            self._team_path("models", model, "versions"),
            schemas.Page[schemas.VersionRead],
            limit=limit,
            offset=offset,
            source_uid=source_uid,
            dataset=dataset,
        )

    def find_version_by_source(self, model: str, uid: str) -> schemas.VersionRead | None:
        """The version produced by source ``uid``, or None (also when the model is unknown)."""
        try:
            page = self.list_versions(model, limit=1, source_uid=uid)
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        return page.items[0] if page.items else None

    def set_alias(
        self, model: str, alias: str, version: int, *, reason: str = ""
    ) -> schemas.AliasEventRead:
        """Point ``alias`` at ``version`` (promotion); returns the move, audited under the
        authenticated caller's name."""
        body = schemas.AliasSet(version=version, reason=reason)
        return self._send(
            "PUT", self._team_path("models", model, "aliases", alias), body, schemas.AliasEventRead
        )

    def rollback_alias(self, model: str, alias: str, *, reason: str = "") -> schemas.AliasEventRead:
        """Move ``alias`` back to the version it pointed at before its last move."""
        body = schemas.AliasRollback(reason=reason)
        return self._send(
            "POST",
            self._team_path("models", model, "aliases", alias, "rollback"),
            body,
            schemas.AliasEventRead,
        )

    def alias_history(
        self, model: str, *, limit: int = 50, offset: int = 0
    ) -> schemas.Page[schemas.AliasEventRead]:
        """The audit log of a model's alias moves, newest first."""
        return self._get(
            self._team_path("models", model, "aliases", "history"),
            schemas.Page[schemas.AliasEventRead],
            limit=limit,
            offset=offset,
        )

    def deployments(
        self, model: str, *, version: int | None = None, limit: int = 100, offset: int = 0
    ) -> schemas.Page[schemas.Deployment]:
        """Which services and pods are observed serving ``model`` (optionally one version)."""
        return self._get(
            self._team_path("models", model, "deployments"),
            schemas.Page[schemas.Deployment],
            version=version,
            limit=limit,
            offset=offset,
        )

    # -- datasets -------------------------------------------------------------------------------

    def register_dataset(self, body: schemas.DatasetCreate) -> schemas.DatasetRead:
        """Record a dataset (idempotent for the same name and manifest)."""
        return self.register_dataset_created(body)[0]

    def register_dataset_created(
        self, body: schemas.DatasetCreate
    ) -> tuple[schemas.DatasetRead, bool]:
        """Record a dataset; (the record, True when this call created it)."""
        return self._send_created(
            "POST", self._team_path("datasets", team=body.team), body, schemas.DatasetRead
        )

    def sync_dataset(
        self, name: str, body: schemas.DatasetSync, *, team: str | None = None
    ) -> tuple[schemas.DatasetRead, bool]:
        """Create or update the record ``name`` mirroring a Fluid Dataset (``PUT``, idempotent);
        (the record, True when this call created it)."""
        return self._send_created(
            "PUT", self._team_path("datasets", name, team=team), body, schemas.DatasetRead
        )

    def list_datasets(
        self, *, team: str | None = None, limit: int = 50, offset: int = 0
    ) -> schemas.Page[schemas.DatasetRead]:
        """One page of the team's datasets."""
        return self._get(
            self._team_path("datasets", team=team),
            schemas.Page[schemas.DatasetRead],
            limit=limit,
            offset=offset,
        )

    def get_dataset(self, name: str, *, team: str | None = None) -> schemas.DatasetRead:
        """One dataset by name."""
        return self._get(self._team_path("datasets", name, team=team), schemas.DatasetRead)

    # -- services -------------------------------------------------------------------------------

    def create_service(
        self, body: schemas.ServiceCreate, *, exist_ok: bool = False
    ) -> schemas.ServiceRead:
        """Create a service; with ``exist_ok`` an existing one is returned unchanged."""
        response = self._request(
            "POST",
            self._team_path("services", team=body.team),
            params={"exist_ok": str(exist_ok).lower()},
            json=body.model_dump(mode="json", exclude_none=True),
        )
        return self._parse(response, schemas.ServiceRead)

    def get_service(self, name: str) -> schemas.ServiceRead:
        """A service with its resolved assignments and observed pod state."""
        return self._get(self._team_path("services", name), schemas.ServiceRead)

    def set_assignments(
        self, name: str, assignments: list[schemas.Assignment]
    ) -> schemas.ServiceRead:
        """Replace a service's desired assignments."""
        body = schemas.AssignmentsSet(assignments=assignments)
        return self._send(
            "PUT", self._team_path("services", name, "assignments"), body, schemas.ServiceRead
        )

    def set_canary(
        self, service: str, model: str, version: int, share: float, *, reason: str = ""
    ) -> schemas.ServiceRead:
        """Serve ``version`` of ``model`` to the ``share`` (0..1) of ``service``'s pods.

        ``RegistryError`` 422 if it is not newer than the resolved primary, 404 if the model is
        not assigned to the service.
        """
        body = schemas.CanarySet(version=version, share=share, reason=reason)
        path = self._team_path("services", service, "canaries", model)
        return self._send("PUT", path, body, schemas.ServiceRead)

    def clear_canary(self, service: str, model: str, *, reason: str = "") -> schemas.ServiceRead:
        """Stop serving ``model``'s canary on ``service``, recording ``reason`` (a no-op without
        a canary); ``RegistryError`` 404 if the model is not assigned."""
        path = self._team_path("services", service, "canaries", model)
        response = self._request("DELETE", path, params={"reason": reason})
        return self._parse(response, schemas.ServiceRead)

    def traffic(self, service: str, model: str, *, window_s: float) -> schemas.TrafficRead:
        """Per-version traffic of ``model`` on ``service`` over the last ``window_s`` seconds."""
        path = self._team_path("services", service, "traffic")
        response = self._request("GET", path, params={"model": model, "window": window_s})
        return self._parse(response, schemas.TrafficRead)

    def desired_state(self, service: str, pod: str) -> schemas.DesiredState:
        """The versions ``pod`` of ``service`` must serve now (aliases resolved, canary applied).

        Conditional: the request names the ETag of the last answer this client received for
        the pod (``If-None-Match``), and a 304 returns that answer again (no body sent).
        """
        return self._desired(service, pod, wait=0.0)[0]

    def wait_desired_state(
        self, service: str, pod: str, *, wait: float
    ) -> tuple[schemas.DesiredState, bool]:
        """Long-poll: the pod's desired state once it differs from the last answer this client
        received, or after ``wait`` seconds; returns ``(state, changed)``.

        The registry holds the request until the answer changes (``wait`` and
        ``If-None-Match``). A registry that does not long-poll (an older one) answers at once:
        then ``changed`` says whether the body differs, and the call took no time (the caller
        decides how long to sleep). Without an earlier answer it is a plain read (changed).
        """
        return self._desired(service, pod, wait=wait)

    def _desired(self, service: str, pod: str, *, wait: float) -> tuple[schemas.DesiredState, bool]:
        key = (service, pod)
        last = self._desired_seen.get(key)
        params: dict[str, Any] = {"pod": pod}
        headers = {}
        if last is not None and last[0]:
            headers["If-None-Match"] = last[0]
            if wait > 0:
                params["wait"] = round(wait, 3)
        response = self._request(
            "GET",
            self._team_path("services", service, "desired"),
            params=params,
            headers=headers,
            timeout=self._timeout + float(params.get("wait", 0)),
            not_modified=last is not None,
        )
        if response.status_code == 304 and last is not None:
            return last[1], False
        state = self._parse(response, schemas.DesiredState)
        self._desired_seen[key] = (response.headers.get("etag"), state)
        return state, last is None or state != last[1]

    def report_pod_status(
        self, service: str, pod: str, report: schemas.PodStatusReport
    ) -> schemas.ServiceRead:
        """Replace the observed state of ``pod`` with ``report``."""
        return self._send(
            "PUT",
            self._team_path("services", service, "pods", pod, "status"),
            report,
            schemas.ServiceRead,
        )

    def forget_pod(self, service: str, pod: str) -> None:
        """Forget ``pod``'s observed state (the pod is gone or its agent stopped).

        Raises ``RegistryError`` 404 if the service is unknown, ``RegistryUnavailable`` if the
        registry cannot be reached.
        """
        self._request("DELETE", self._team_path("services", service, "pods", pod))

    # -- identity -------------------------------------------------------------------------------

    def whoami(self) -> schemas.WhoAmI:
        """The caller as the registry authenticated it, with its roles per team."""
        return self._get("/whoami", schemas.WhoAmI)

    def audit(
        self,
        *,
        team: str | None = None,
        action: str | None = None,
        principal: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> schemas.Page[schemas.AuditEventRead]:
        """The audit log of writes, newest first, of the teams the caller may read."""
        return self._get(
            "/audit",
            schemas.Page[schemas.AuditEventRead],
            team=team,
            action=action,
            principal=principal,
            limit=limit,
            offset=offset,
        )
