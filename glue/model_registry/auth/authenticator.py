"""One entry for authentication: ``Authenticator.authenticate(authorization_header)``.

A bearer token is tried, in this order, as a static token (exact match), as an OIDC token
(a JWT whose unverified ``iss`` is the configured issuer; then fully verified), and as a
Kubernetes ServiceAccount token (TokenReview). Kubernetes answers, positive and negative, are
cached for ``kubernetes.cache_seconds`` under the token's SHA-256 (never the token itself).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading

from cachetools import TTLCache
from joserfc import jws
from joserfc.errors import JoseError

from glue.model_registry.auth.kubernetes import TokenReviewer
from glue.model_registry.auth.oidc import OidcVerifier
from glue.model_registry.auth.principal import LOCAL, Principal, Unauthenticated
from glue.model_registry.auth.settings import AuthSettings
from glue.model_registry.auth.static import StaticTokens
from glue.model_registry.models import MAX_PRINCIPAL
from glue.model_registry.schemas import NO_CONTROL

#: One line of text: no control characters (the registry's body text rule).
_ONE_LINE = re.compile(NO_CONTROL)

#: Largest bearer token read (bytes); Kubernetes and OIDC tokens are a few KiB.
MAX_TOKEN_LENGTH = 16 * 1024


def _issuer(token: str) -> str | None:
    """The unverified ``iss`` of a compact JWS, or None when ``token`` is not one."""
    if token.count(".") != 2:
        return None
    try:
        payload = json.loads(jws.extract_compact(token.encode()).payload)
    except (JoseError, ValueError, UnicodeError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def checked(principal: Principal) -> Principal:
    """``principal`` if its name and groups can be recorded (one line, at most ``MAX_PRINCIPAL``
    characters, a group at most 256); ``Unauthenticated`` naming the problem otherwise (an
    OIDC ``sub`` with a NUL was a 500 on PostgreSQL, one with a newline a forged audit line)."""
    for what, text, longest in (
        ("user name", principal.name, MAX_PRINCIPAL),
        *(("group name", group, 256) for group in principal.groups),
    ):
        if not text or len(text) > longest or not _ONE_LINE.fullmatch(text):
            raise Unauthenticated(
                f"the token's {what} is not usable: 1..{longest} characters, no control characters"
            )
    return principal


class Authenticator:
    """The registry's authenticators, built from ``AuthSettings``.

    ``open`` is True when no authenticator is configured: every request is ``LOCAL`` (a platform
    admin); ``glue.model_registry.__main__`` only allows that on a loopback address.
    """

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.open = not settings.enabled
        self.static = (
            StaticTokens(settings.static_tokens_file) if settings.static_tokens_file else None
        )
        self.oidc = OidcVerifier(settings.oidc) if settings.oidc.issuer else None
        self.kubernetes = (
            TokenReviewer(settings.kubernetes) if settings.kubernetes.enabled else None
        )
        ttl = settings.kubernetes.cache_seconds
        self._cache: TTLCache[str, Principal | Unauthenticated] | None = (
            TTLCache(maxsize=10_000, ttl=ttl) if ttl > 0 else None
        )
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP clients of the OIDC and Kubernetes authenticators."""
        for closable in (self.oidc, self.kubernetes):
            if closable is not None:
                closable.close()

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an ``Authorization: Bearer <token>`` header value.

        Raises ``Unauthenticated`` (401) when the header is missing or not a bearer token, or no
        authenticator accepts the token; ``AuthUnavailable`` (503) when a token cannot be checked
        now. An open registry returns ``LOCAL`` whatever is sent.
        """
        if self.open:
            return LOCAL
        if not authorization:
            raise Unauthenticated(
                "this registry needs credentials: send 'Authorization: Bearer <token>' "
                "(a Kubernetes ServiceAccount token, an OIDC token or a static token)"
            )
        parts = authorization.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
            scheme = (
                parts[0] if len(parts) == 2 and parts[0].isalpha() and len(parts[0]) < 20 else ""
            )
            shown = f" (got the {scheme!r} scheme)" if scheme else ""
            raise Unauthenticated(f"the Authorization header is not 'Bearer <token>'{shown}")
        token = parts[1].strip()
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
            raise Unauthenticated("the bearer token is not a token (too long or not ASCII)")
        return checked(self._principal(token))

    def known(self, authorization: str | None) -> Principal | None:
        """``authenticate`` when it needs no I/O: the registry is open, the header is refused as
        it stands, the token is a static one or a Kubernetes answer is cached (raises as
        ``authenticate``); None when only ``authenticate`` can tell (an OIDC token, a token
        Kubernetes must review): call it then, off the event loop."""
        if self.open:
            return LOCAL
        if self.oidc is None and self.kubernetes is None:
            return self.authenticate(authorization)
        if not authorization:
            return self.authenticate(authorization)
        token = authorization.split(None, 1)[-1].strip()
        if self.static is not None and self.static.find(token) is not None:
            return self.authenticate(authorization)
        if self.kubernetes is not None and self._cache is not None and self.oidc is None:
            with self._lock:
                cached = self._cache.get(hashlib.sha256(token.encode()).hexdigest())
            if cached is not None:
                return self.authenticate(authorization)
        return None

    def _principal(self, token: str) -> Principal:
        if self.static is not None:
            found = self.static.find(token)
            if found is not None:
                return found
        if self.oidc is not None and _issuer(token) == self.oidc.issuer:
            return self.oidc.verify(token)
        if self.kubernetes is not None:
            return self._review(token)
        raise Unauthenticated("the bearer token is not known to this registry")

    def _review(self, token: str) -> Principal:
        assert self.kubernetes is not None
        key = hashlib.sha256(token.encode()).hexdigest()
        if self._cache is not None:
            with self._lock:
                cached = self._cache.get(key)
            if isinstance(cached, Unauthenticated):
                raise cached
            if cached is not None:
                return cached
        try:
            principal = self.kubernetes.review(token)
        except Unauthenticated as refused:
            self._remember(key, refused)
            raise
        self._remember(key, principal)
        return principal

    def _remember(self, key: str, answer: Principal | Unauthenticated) -> None:
        if self._cache is not None:
            with self._lock:
                self._cache[key] = answer
