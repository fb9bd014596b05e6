"""OIDC bearer tokens: JWTs verified with the issuer's published keys (joserfc).

Discovery (OpenID Connect Discovery 1.0 section 4) reads
``<issuer>/.well-known/openid-configuration`` for ``jwks_uri`` unless the settings name it.
The key set is fetched on first use and again when a token names a ``kid`` the cached set
lacks (key rotation), at most once per ``jwks_refresh_seconds``. Claims checked: signature
with an allowed algorithm, ``iss``, ``aud`` (contains the configured audience), ``exp``
(required), ``nbf``/``iat`` with leeway.
"""

from __future__ import annotations

import ssl
import threading
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from glue.model_registry.auth.principal import AuthUnavailable, Principal, Unauthenticated
from glue.model_registry.auth.settings import OidcAuth

#: Seconds a failed discovery or key set fetch is not retried (requests meanwhile get 503 at once).
FAILURE_BACKOFF = 10.0


class OidcVerifier:
    """Verify OIDC JWTs (``verify(token) -> Principal``).

    Raises ``Unauthenticated`` for a token that is malformed, badly signed, expired, or for
    another issuer or audience, or that lacks the username claim; ``AuthUnavailable`` when the
    issuer's discovery document or key set cannot be fetched.
    """

    def __init__(self, settings: OidcAuth) -> None:
        if settings.issuer is None:
            raise ValueError("OIDC needs an issuer")
        self.settings = settings
        self.issuer: str = settings.issuer
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(settings.ca_file)) if settings.ca_file else True
        )
        self._http = httpx.Client(verify=verify, timeout=5.0)
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._failed_at = float("-inf")
        self._failure = ""
        self._lock = threading.Lock()
        self._claims = jwt.JWTClaimsRegistry(
            leeway=settings.leeway_seconds,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": settings.audience},
            exp={"essential": True},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self._http.get(url)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthUnavailable(f"cannot fetch the OIDC {what} {url}: {exc}") from exc
        if not isinstance(body, dict):
            raise AuthUnavailable(f"the OIDC {what} {url} is not a JSON object")
        return body

    def _jwks_uri(self) -> str:
        if self.settings.jwks_uri is not None:
            return str(self.settings.jwks_uri)
        discovery = self._get_json(
            self.issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery document"
        )
        uri = discovery.get("jwks_uri")
        if not isinstance(uri, str):
            raise AuthUnavailable("the OIDC discovery document has no jwks_uri")
        return uri

    def _key_set(self, *, refresh: bool) -> KeySet:
        """The cached key set; fetched when there is none, or again when ``refresh`` and the
        last fetch is ``jwks_refresh_seconds`` old.

        Never waits for another request's fetch (one fetch at a time; the others use the keys
        they have, or get 503 at once), and a failed fetch is not retried for
        ``FAILURE_BACKOFF`` seconds: a slow or unreachable issuer costs one request, not all.
        """
        now = time.monotonic()
        keys = self._keys
        due = refresh and now - self._fetched_at >= self.settings.jwks_refresh_seconds
        if keys is not None and not due:
            return keys
        if now - self._failed_at < FAILURE_BACKOFF:
            if keys is not None:
                return keys
            raise AuthUnavailable(
                f"the OIDC issuer's keys could not be fetched {now - self._failed_at:.0f} s ago "
                f"({self._failure}); retry later"
            )
        if not self._lock.acquire(blocking=False):
            if keys is not None:
                return keys
            raise AuthUnavailable("the OIDC issuer's keys are being fetched; retry shortly")
        try:
            body = self._get_json(self._jwks_uri(), "key set")
            try:
                fetched = KeySet.import_key_set(body)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise AuthUnavailable(f"the OIDC key set is not valid: {exc}") from exc
        except AuthUnavailable as exc:
            self._failed_at, self._failure = time.monotonic(), exc.detail
            raise
        finally:
            self._lock.release()
        self._keys, self._fetched_at = fetched, time.monotonic()
        return fetched

    def verify(self, token: str) -> Principal:
        """The principal a valid token names (username and groups claims)."""
        algorithms = list(self.settings.algorithms)
        try:
            try:
                decoded = jwt.decode(token, self._key_set(refresh=False), algorithms=algorithms)
            except InvalidKeyIdError:
                decoded = jwt.decode(token, self._key_set(refresh=True), algorithms=algorithms)
            self._claims.validate(decoded.claims)
        except JoseError as exc:
            raise Unauthenticated(f"OIDC token refused: {exc.description or exc.error}") from exc
        except ValueError as exc:
            raise Unauthenticated(f"OIDC token refused: {exc}") from exc
        claims = decoded.claims
        name = claims.get(self.settings.username_claim)
        if not isinstance(name, str) or not name:
            raise Unauthenticated(f"OIDC token has no {self.settings.username_claim!r} claim")
        groups = claims.get(self.settings.groups_claim) or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise Unauthenticated(
                f"OIDC claim {self.settings.groups_claim!r} is not a list of names"
            )
        prefix, group_prefix = self.settings.username_prefix, self.settings.groups_prefix
        return Principal(
            name=prefix + name, groups=frozenset(group_prefix + g for g in groups), method="oidc"
        )
