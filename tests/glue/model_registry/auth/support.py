"""A local OIDC issuer for the tests: RSA keys generated here, discovery and JWKS served over
HTTP on 127.0.0.1 (an http:// issuer is accepted on loopback only)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

AUDIENCE = "kubeai-registry"


class Issuer:
    """Discovery at ``/.well-known/openid-configuration``, keys at ``/jwks``; ``sign`` mints.

    ``rotate()`` adds a new signing key to the published set (the old one stays published);
    ``down`` makes every request answer 503; ``requests`` counts JWKS fetches.
    """

    def __init__(self) -> None:
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "key-1"})]
        self.down = False
        self.jwks_fetches = 0
        #: When set, every request waits until it is set (a slow issuer).
        self.gate: threading.Event | None = None
        self.requests = 0
        issuer = self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def rotate(self) -> None:
        """Publish and sign with a new key."""
        self.keys.append(RSAKey.generate_key(2048, parameters={"kid": f"key-{len(self.keys) + 1}"}))

    def jwks(self) -> dict[str, Any]:
        """The public key set."""
        return KeySet(self.keys).as_dict(private=False)

    def sign(self, *, key: RSAKey | None = None, alg: str = "RS256", **claims: Any) -> str:
        """A token with default claims (iss, aud, sub alice, groups, exp in 10 minutes)."""
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "alice",
            "groups": ["ml-engineers"],
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        signing = key or self.keys[-1]
        return jwt.encode({"alg": alg, "kid": signing.kid}, body, signing)


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer.requests += 1
            if issuer.gate is not None:
                issuer.gate.wait(30)
            if issuer.down:
                self.send_error(503)
                return
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
            elif self.path == "/jwks":
                issuer.jwks_fetches += 1
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    """A started local OIDC issuer."""
    found = Issuer()
    yield found
    found.close()
