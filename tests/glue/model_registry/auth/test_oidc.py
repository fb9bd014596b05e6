"""OIDC verification against a local issuer (keys generated in the test, served on loopback)."""

from __future__ import annotations

import threading
import time

import pytest
from joserfc.jwk import OctKey, RSAKey

from glue.model_registry.auth.oidc import OidcVerifier
from glue.model_registry.auth.principal import AuthUnavailable, Unauthenticated
from glue.model_registry.auth.settings import OidcAuth
from tests.glue.model_registry.auth.support import Issuer


def _verifier(issuer: Issuer, **extra: object) -> OidcVerifier:
    return OidcVerifier(OidcAuth.model_validate({"issuer": issuer.url, **extra}))


def test_a_valid_token_names_the_prefixed_user_and_groups(issuer: Issuer) -> None:
    principal = _verifier(issuer).verify(issuer.sign())
    assert principal.name == "oidc:alice" and principal.method == "oidc"
    assert principal.groups == {"oidc:ml-engineers"}
    assert principal.service_account is None


def test_a_user_named_like_a_service_account_gets_no_service_account_identity(
    issuer: Issuer,
) -> None:
    principal = _verifier(issuer, username_prefix="").verify(
        issuer.sign(sub="system:serviceaccount:cv:trainer")
    )
    assert principal.service_account is None  # only TokenReview makes service accounts


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "another-client"}, "aud"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "exp"),
        ({"iss": "https://elsewhere.example"}, "iss"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
        ({"sub": None}, "'sub'"),
        ({"groups": "admins"}, "groups"),
    ],
)
def test_claims_that_do_not_hold_are_refused(
    issuer: Issuer, claims: dict[str, object], reason: str
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        _verifier(issuer).verify(issuer.sign(**claims))


def test_tokens_signed_by_other_keys_or_algorithms_are_refused(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    stranger = RSAKey.generate_key(2048, parameters={"kid": "key-1"})  # same kid, other key
    with pytest.raises(Unauthenticated):
        verifier.verify(issuer.sign(key=stranger))
    hmac = OctKey.generate_key(256, parameters={"kid": "key-1"})
    with pytest.raises(Unauthenticated):
        verifier.verify(issuer.sign(key=hmac, alg="HS256"))  # type: ignore[arg-type]
    header, payload, _ = issuer.sign().split(".")
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{header}.{payload}.")
    with pytest.raises(Unauthenticated):
        verifier.verify("not-a-jwt")


def test_a_rotated_key_is_fetched_once_when_a_token_names_it(issuer: Issuer) -> None:
    verifier = _verifier(issuer, jwks_refresh_seconds=0)
    verifier.verify(issuer.sign())
    assert issuer.jwks_fetches == 1
    issuer.rotate()
    assert verifier.verify(issuer.sign()).name == "oidc:alice"
    assert issuer.jwks_fetches == 2
    verifier.verify(issuer.sign())
    assert issuer.jwks_fetches == 2  # cached


def test_refresh_is_rate_limited(issuer: Issuer) -> None:
    verifier = _verifier(issuer, jwks_refresh_seconds=3600)
    verifier.verify(issuer.sign())
    issuer.rotate()
    with pytest.raises(Unauthenticated, match="kid"):
        verifier.verify(issuer.sign())
    assert issuer.jwks_fetches == 1


def test_an_unreachable_issuer_is_503_not_401_and_is_not_asked_again_at_once(
    issuer: Issuer,
) -> None:
    issuer.down = True
    verifier = _verifier(issuer)
    with pytest.raises(AuthUnavailable, match="discovery"):
        verifier.verify(issuer.sign())
    asked = issuer.requests
    for _ in range(20):  # a flood of forged tokens naming the issuer
        with pytest.raises(AuthUnavailable, match="retry later"):
            verifier.verify(issuer.sign())
    assert issuer.requests == asked


def test_a_slow_issuer_holds_up_one_request_not_the_others(issuer: Issuer) -> None:
    """The trial's input: forged tokens naming a slow issuer queued every request behind one
    lock (a valid static-token call took 29.5 s, /healthz timed out)."""
    issuer.gate = threading.Event()
    verifier = _verifier(issuer)
    answers: list[str] = []
    first = threading.Thread(target=lambda: answers.append(verifier.verify(issuer.sign()).name))
    first.start()
    while issuer.requests == 0:
        time.sleep(0.01)
    refused: list[str] = []

    def other() -> None:
        try:
            verifier.verify(issuer.sign())
        except AuthUnavailable as exc:
            refused.append(exc.detail)

    others = threading.Thread(target=other)
    others.start()
    others.join(10)
    assert not others.is_alive()  # answered 503 at once, while the fetch is still waiting
    assert refused and "being fetched" in refused[0]
    issuer.gate.set()
    first.join(30)
    assert answers == ["oidc:alice"]  # the fetch that waited completes and is used
    assert verifier.verify(issuer.sign()).name == "oidc:alice"


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example",
        "http://127.0.0.1.nip.io",  # the trial's inputs: prefix tests let these through
        "http://127.evil.example",
        "http://127.0.0.1@idp.example.com",
        "http://[::1]@idp.example.com",
        "https://user:pw@idp.example.com",
        "ftp://127.0.0.1",
    ],
)
def test_settings_refuse_keys_over_plain_http_off_loopback(url: str) -> None:
    with pytest.raises(ValueError, match=r"refused|https"):
        OidcAuth(issuer=url)
    with pytest.raises(ValueError, match=r"refused|https"):
        OidcAuth(issuer="https://idp.example", jwks_uri=url)


@pytest.mark.parametrize(
    "url", ["https://idp.example", "http://127.0.0.1:8080", "http://[::1]:9", "http://localhost"]
)
def test_settings_accept_https_and_loopback_http(url: str) -> None:
    assert OidcAuth(issuer=url).issuer == url
