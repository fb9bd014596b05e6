"""``kubeai`` against a registry that authenticates (static tokens) and authorizes by team:
credentials from the environment and the config file, ``auth whoami``, ``audit``, and the one
red line of a 401/403."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from glue.cli.exit_codes import ExitCode
from glue.cli.main import app
from glue.model_registry.app import create_app
from glue.model_registry.client import RegistryClient
from tests.glue.cli.conftest import TlsFiles, publish_digits
from tests.support.net import free_port
from tests.support.registry import CLIENT_TIMEOUT, RegistryServer, registry_settings

runner = CliRunner()
ALICE = "alice-" + "a" * 40  # promoter in cv
BOB = "bob-" + "b" * 40  # reader in cv
CAROL = "carol-" + "c" * 40  # no role anywhere
TOKENS = (ALICE, BOB, CAROL)
BINDINGS = [
    {"team": "cv", "role": "promoter", "users": ["alice"]},
    {"team": "cv", "role": "reader", "users": ["bob"]},
]


def authenticating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make registries started from ``registry_settings(tmp_path)`` check the static tokens
    above (alice, bob, carol) and the ``BINDINGS``, as a deployment would configure them."""
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(
        f'{ALICE},alice,1,"ml-eng,cv-team"\n{BOB},bob,2,cv-readers\n{CAROL},carol,3\n'
    )
    monkeypatch.setenv("KUBEAI_REGISTRY_AUTH__STATIC_TOKENS_FILE", str(tokens))
    monkeypatch.setenv("KUBEAI_REGISTRY_AUTH__BINDINGS", json.dumps(BINDINGS))
    (tmp_path / "artifacts").mkdir()


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A registry with static tokens and team bindings, holding cv's ``digits`` v1 and v2 with
    ``production`` on v1 (moved by alice); yields its URL."""
    authenticating(tmp_path, monkeypatch)
    server = RegistryServer(registry_settings(tmp_path)).start()
    try:
        with RegistryClient(server.url, team="cv", token=ALICE, timeout=CLIENT_TIMEOUT) as client:
            publish_digits(server, client, tmp_path)
            client.set_alias("digits", "production", 1, reason="first")
        yield server.url
    finally:
        server.stop()


def kubeai(url: str, *args: str, token: str | None = None, **env: str):
    """``kubeai ARGS`` with KUBEAI_REGISTRY_URL=url, KUBEAI_TEAM=cv and ``token`` (if any) as
    KUBEAI_REGISTRY_TOKEN; every output is checked to hold no token."""
    variables = {"COLUMNS": "250", "KUBEAI_REGISTRY_URL": url, "KUBEAI_TEAM": "cv", **env}
    if token is not None:
        variables["KUBEAI_REGISTRY_TOKEN"] = token
    result = runner.invoke(app, list(args), env=variables)
    assert not any(t in result.output for t in TOKENS), "a token was printed"
    assert "Traceback" not in result.output
    return result


def json_of(stdout: str) -> dict[str, object]:
    """The JSON document ``--json`` printed (the registry in this process logs to stdout too)."""
    lines = stdout.splitlines()
    start, end = lines.index("{"), len(lines) - lines[::-1].index("}")
    document = json.loads("\n".join(lines[start:end]))
    assert isinstance(document, dict)
    return document


def test_whoami_shows_name_method_groups_and_roles(secured: str) -> None:
    r = kubeai(secured, "auth", "whoami", token=ALICE)
    assert r.exit_code == 0, r.output
    for text in ("alice", "static", "cv-team, ml-eng", "team cv", "promoter", "no"):
        assert text in r.stdout, (text, r.stdout)
    r = kubeai(secured, "auth", "whoami", "--json", token=BOB)
    assert r.exit_code == 0, r.output
    who = json_of(r.stdout)
    assert (who["name"], who["method"], who["groups"]) == ("bob", "static", ["cv-readers"])
    assert who["teams"] == {"cv": ["reader"]} and who["admin"] is False
    r = kubeai(secured, "auth", "whoami", token=CAROL)
    assert r.exit_code == 0 and "no role in any team" in r.stdout


def test_a_reader_gets_one_refused_line_on_promotion(secured: str) -> None:
    r = kubeai(secured, "models", "alias", "digits", "production", "2", token=BOB)
    assert r.exit_code == ExitCode.FAILED == 1
    lines = r.stderr.strip().splitlines()  # stdout has the in-process registry's log lines
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: refused (403): bob may not promote in team 'cv'")
    assert "promoter" in lines[0]
    r = kubeai(secured, "models", "rollback", "digits", token=BOB)
    assert r.exit_code == 1 and "refused (403)" in r.output
    r = kubeai(secured, "models", "list", token=CAROL)  # no role in cv: not even read
    assert r.exit_code == 1 and "refused (403): carol may not read in team 'cv'" in r.output
    assert kubeai(secured, "models", "list", token=BOB).exit_code == 0  # reading is allowed
    with RegistryClient(secured, team="cv", token=ALICE) as client:
        assert client.get_model("digits").aliases == {"production": 1}


def test_missing_or_unknown_token_is_one_unauthenticated_line(secured: str) -> None:
    r = kubeai(secured, "models", "list")
    assert r.exit_code == ExitCode.FAILED
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "not authenticated (401): this registry needs credentials" in r.output
    assert "KUBEAI_REGISTRY_TOKEN" in r.output
    r = kubeai(secured, "auth", "whoami", token="x" * 40)
    assert r.exit_code == 1 and "not known to this registry" in r.output


def test_promotion_is_audited_under_the_authenticated_name(secured: str) -> None:
    r = kubeai(secured, "models", "alias", "digits", "production", "2", token=ALICE)
    assert r.exit_code == 0, r.output
    r = kubeai(secured, "models", "history", "digits", token=BOB)
    assert r.exit_code == 0 and "alice" in r.stdout
    r = kubeai(secured, "audit", "--action", "alias.set", token=BOB)
    assert r.exit_code == 0, r.output
    assert "2 writes" in r.stdout and "alice" in r.stdout and "alias.set" in r.stdout
    r = kubeai(
        secured, "audit", "--team", "cv", "--principal", "alice", "--limit", "1", token=ALICE
    )
    assert r.exit_code == 0 and "more: --offset 1" in r.stdout
    r = kubeai(secured, "audit", "--principal", "bob", token=ALICE)
    assert r.exit_code == 0 and "0 writes" in r.stdout
    r = kubeai(secured, "audit", token=CAROL)  # reads no team: sees nothing
    assert r.exit_code == 0 and "0 writes" in r.stdout
    r = kubeai(secured, "audit", "--team", "Bad", token=ALICE)
    assert r.exit_code == ExitCode.BAD_INPUT and "--team 'Bad'" in r.output


def test_credentials_from_the_config_file(
    secured: str, no_user_config: Path, tmp_path: Path
) -> None:
    bob_file = tmp_path / "bob.token"
    bob_file.write_text(BOB + "\n")
    no_user_config.write_text(
        "current-context: alice\n"
        "contexts:\n"
        f"  - {{name: alice, registry: '{secured}', team: cv, token: {ALICE}}}\n"
        f"  - {{name: bob, registry: '{secured}', team: cv, token-file: {bob_file}}}\n"
    )
    no_user_config.chmod(0o600)
    env = {"COLUMNS": "250"}
    r = runner.invoke(app, ["auth", "whoami", "--json"], env=env)
    assert r.exit_code == 0 and json_of(r.stdout)["name"] == "alice", r.output
    r = runner.invoke(app, ["auth", "whoami", "--json", "--context", "bob"], env=env)
    assert r.exit_code == 0 and json_of(r.stdout)["name"] == "bob", r.output
    # the context's team applies without --team; the environment's token wins over the file's
    r = runner.invoke(app, ["models", "list"], env={**env, "KUBEAI_CONTEXT": "bob"})
    assert r.exit_code == 0 and "team cv: 1 model" in r.stdout, r.output
    r = runner.invoke(
        app, ["auth", "whoami", "--json"], env={**env, "KUBEAI_REGISTRY_TOKEN": CAROL}
    )
    assert r.exit_code == 0 and json_of(r.stdout)["name"] == "carol", r.output
    # the token file is read at each request: a rotated token is used without a restart
    bob_file.write_text(ALICE)
    r = runner.invoke(app, ["auth", "whoami", "--json", "--context", "bob"], env=env)
    assert r.exit_code == 0 and json_of(r.stdout)["name"] == "alice", r.output
    assert not any(t in r.output for t in TOKENS)


@pytest.fixture
def tls_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tls_files: TlsFiles
) -> Iterator[str]:
    """The authenticating registry served over https with ``tls_files``' server certificate
    (not trusted by the system); yields its https URL."""
    authenticating(tmp_path, monkeypatch)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(registry_settings(tmp_path)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            ssl_certfile=str(tls_files.cert),
            ssl_keyfile=str(tls_files.key),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(tls_files.ca))
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the TLS registry did not start"
        time.sleep(0.05)
    assert httpx.get(url + "/healthz", verify=trusted).status_code == 200
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_certificate_authority_from_the_context_or_environment(
    tls_registry: str, tls_files: TlsFiles, no_user_config: Path
) -> None:
    """A registry whose certificate the system does not trust is reached with the context's
    ``certificate-authority`` or KUBEAI_REGISTRY_CA_FILE, and refused (exit 3) without."""
    no_user_config.write_text(
        "current-context: tls\n"
        "contexts:\n"
        f"  - name: tls\n    registry: {tls_registry}\n    token: {ALICE}\n"
        f"    certificate-authority: {tls_files.ca}\n"
    )
    no_user_config.chmod(0o600)
    r = runner.invoke(app, ["auth", "whoami", "--json"], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert json_of(r.stdout)["name"] == "alice"
    # the environment's token wins over the context's; the context's CA still applies
    r = kubeai(tls_registry, "auth", "whoami", "--json", token=BOB)
    assert r.exit_code == 0 and json_of(r.stdout)["name"] == "bob", r.output
    no_user_config.unlink()
    r = kubeai(tls_registry, "auth", "whoami", token=BOB)
    assert r.exit_code == ExitCode.UNAVAILABLE and "CERTIFICATE_VERIFY_FAILED" in r.output
    r = kubeai(
        tls_registry,
        "auth",
        "whoami",
        "--json",
        token=BOB,
        KUBEAI_REGISTRY_CA_FILE=str(tls_files.ca),
    )
    assert r.exit_code == 0 and json_of(r.stdout)["name"] == "bob", r.output
