"""The `kubeai` command line against a real registry server (uvicorn + SQLite)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from glue.artifacts.store import ArtifactStore
from glue.cli.exit_codes import ExitCode
from glue.cli.main import app
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient, RegistryError
from tests.glue.cli.conftest import publish_digits
from tests.support.registry import RegistryServer

runner = CliRunner()


@pytest.fixture
def populated(registry: RegistryServer, tmp_path: Path) -> str:
    with RegistryClient(registry.url, team="cv") as client:
        publish_digits(registry, client, tmp_path)
        client.set_alias("digits", "production", 1)
        client.create_service(
            schemas.ServiceCreate(
                name="digits-svc",
                team="cv",
                assignments=[schemas.Assignment(model="digits", alias="production")],
            )
        )
        client.report_pod_status(
            "digits-svc",
            "pod-a",
            schemas.PodStatusReport(
                models=[
                    schemas.ObservedModel(model="digits", version=1, state="READY"),
                    schemas.ObservedModel(
                        model="digits",
                        version=2,
                        state="FAILED",
                        error="checksum mismatch in 1/model.py",
                    ),
                ]
            ),
        )
    return registry.url


def _run(url: str, *args: str, team: str = "cv"):
    """``kubeai ARGS --registry-url URL`` acting in ``team`` (given as KUBEAI_TEAM)."""
    env = {"COLUMNS": "200", "KUBEAI_TEAM": team}
    return runner.invoke(app, [*args, "--registry-url", url], env=env)


def test_models_list_show_versions(populated: str) -> None:
    r = _run(populated, "models", "list")
    assert r.exit_code == 0 and "digits" in r.stdout and "production→v1" in r.stdout
    r = _run(populated, "models", "show", "digits")
    assert r.exit_code == 0 and "production → v1" in r.stdout and "pod-a" in r.stdout
    r = _run(populated, "models", "show", "digits", "2")
    assert (
        r.exit_code == 0
        and "PyTorchJob cv/job-2 uid=u2" in r.stdout
        and "accuracy=0.92" in r.stdout
    )
    r = _run(populated, "models", "versions", "digits")
    assert r.exit_code == 0 and "v2" in r.stdout and "0.9200" in r.stdout


def test_alias_rollback_history(populated: str) -> None:
    r = _run(populated, "models", "alias", "digits", "production", "2", "--reason", "better")
    assert r.exit_code == 0 and "production v1 → v2" in r.stdout
    r = _run(populated, "models", "rollback", "digits")
    assert r.exit_code == 0 and "v2 → v1" in r.stdout
    r = _run(populated, "models", "history", "digits")
    assert r.exit_code == 0 and "better" in r.stdout
    with RegistryClient(populated, team="cv") as client:
        # the authenticated principal (an open registry's caller is "local"), never client text
        assert client.alias_history("digits").items[0].actor == "local"
        assert client.get_model("digits").aliases == {"production": 1}


def test_services_status_shows_pods_and_errors(populated: str) -> None:
    r = _run(populated, "services", "status", "digits-svc")
    assert r.exit_code == 0
    assert "alias production → v1" in r.stdout
    assert "pod-a" in r.stdout and "READY" in r.stdout and "checksum mismatch" in r.stdout


def test_errors_are_one_line_not_tracebacks(populated: str) -> None:
    # A version the body names that does not exist is the registry's 422: bad input, 2.
    r = _run(populated, "models", "alias", "digits", "production", "9")
    assert r.exit_code == 2 and "no version 9" in r.output and "Traceback" not in r.output
    r = _run(populated, "services", "status", "nope")
    assert r.exit_code == 1 and "does not exist" in r.output
    r = _run("http://127.0.0.1:9", "models", "list")
    assert r.exit_code == 3 and "unreachable" in r.output
    r = _run(populated, "models", "alias", "digits", "production", "0")
    assert r.exit_code == 2 and "version" in r.output and "Traceback" not in r.output
    # A name the registry would refuse (422) is bad input: 2, checked before any request.
    r = _run(populated, "models", "alias", "digits", "Prod", "1")
    assert r.exit_code == 2 and "^[a-z]([-a-z0-9]*[a-z0-9])?$" in r.output  # markup not eaten


def test_datasets_add_uploads_records_and_lists(
    registry: RegistryServer, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("KUBEAI_ARTIFACTS_LOCAL_ROOT", str(registry.settings.artifacts.local_root))
    data = tmp_path / "clicks"
    data.mkdir()
    (data / "part-0.csv").write_text("a,b\n1,2\n")
    store = ArtifactStore(registry.settings.artifacts)
    uri = store.local_uri("datasets", "clicks")
    args = [
        "datasets",
        "add",
        "clicks",
        "--from-dir",
        str(data),
        "--uri",
        uri,
        "--team",
        "search",
        "--rows",
        "1",
    ]
    r = _run(registry.url, *args)
    assert r.exit_code == 0, r.output
    assert "1 file," in r.output and "1 files" not in r.output
    assert _run(registry.url, *args).exit_code == 0  # idempotent
    listed = _run(registry.url, "datasets", "list", team="search")
    assert "clicks" in listed.stdout and "team search: 1 dataset" in listed.stdout
    assert "0 datasets" in _run(registry.url, "datasets", "list").stdout  # team cv has none
    (data / "part-1.csv").write_text("c\n")
    changed = _run(registry.url, *args)
    assert changed.exit_code == 1 and "already recorded" in changed.output  # immutable
    assert not (
        registry.settings.artifacts.local_root / "datasets" / "clicks" / "part-1.csv"
    ).exists()
    bad = _run(
        registry.url,
        "datasets",
        "add",
        "Bad_Name",
        "--from-dir",
        str(data),
        "--uri",
        uri,
        "--team",
        "search",
        "--rows",
        "1",
    )
    assert bad.exit_code == 2 and "name" in bad.output
    escape = _run(
        registry.url,
        "datasets",
        "add",
        "x",
        "--from-dir",
        str(data),
        "--uri",
        "file:///etc",
        "--team",
        "search",
        "--rows",
        "1",
    )
    assert escape.exit_code == 2 and "artifact_uri" in escape.output


def test_counts_are_pluralised(populated: str) -> None:
    listed = _run(populated, "models", "list")
    assert re.search(r"\b1 model(?!s)", listed.stdout), listed.stdout
    versions = _run(populated, "models", "versions", "digits")
    assert "digits: 2 versions" in versions.stdout


def test_a_new_alias_one_slip_from_a_known_one_warns(populated: str) -> None:
    """``kubeai models alias digits prod 1`` used to create ``prod`` silently."""
    r = _run(populated, "models", "alias", "digits", "prod", "1")
    assert r.exit_code == 0 and "prod - → v1" in r.stdout
    assert "warning" in r.output and "did you mean 'production'" in r.output
    r = _run(populated, "models", "alias", "digits", "stagin", "1")  # one edit from staging
    assert r.exit_code == 0 and "did you mean 'staging'" in r.output
    for quiet in ("staging", "prod", "shadow"):  # conventional, existing now, not close
        r = _run(populated, "models", "alias", "digits", quiet, "2")
        assert r.exit_code == 0 and "warning" not in r.output, (quiet, r.output)
    with RegistryClient(populated, team="cv") as client:
        assert client.get_model("digits").aliases == {
            "production": 1,
            "prod": 2,
            "stagin": 1,
            "staging": 2,
            "shadow": 2,
        }


def test_help_has_no_literal_markup() -> None:
    r = runner.invoke(app, ["models", "alias", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "``" not in r.output
    assert "production, staging and canary are the conventional ones" in r.output


def test_pattern_in_a_render_error_is_printed_literally(tmp_path: Path) -> None:
    """Rich markup used to eat ``[a-z0-9]`` from the name pattern in config errors."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    root = Path(__file__).resolve().parents[3] / "stacks"
    team = yaml.safe_load((root / "Pulumi.team-risk-prod.yaml").read_text())
    team["config"]["kubeai:team"]["name"] = "Bad_Name"
    (stacks / "Pulumi.team-risk-prod.yaml").write_text(yaml.safe_dump(team))
    out = str(tmp_path / "out")
    r = runner.invoke(
        app,
        ["render", "--stack", "team-risk-prod", "--out", out, "--stacks-dir", str(stacks)],
        env={"COLUMNS": "200"},
    )
    assert r.exit_code == 2, r.output
    assert "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" in r.output


def test_datasets_add_exit_status_follows_the_table(
    registry: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "clicks"
    data.mkdir()
    (data / "part-0.csv").write_text("a,b\n1,2\n")
    args = ["datasets", "add", "clicks", "--from-dir", str(data), "--team", "search"]
    # Bad input: the name pattern is printed as is.
    r = _run(registry.url, *args[:2], "Bad_Name", *args[3:], "--uri", "s3://b-x/c", "--rows", "1")
    assert r.exit_code == ExitCode.BAD_INPUT == 2
    assert "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" in r.output
    r = _run(registry.url, *args[:4], str(tmp_path / "nope"), *args[5:], "--uri", "s3://b-x/c")
    assert r.exit_code == 2 and "--rows" in r.output  # typer's own usage error is 2 as well
    # Storage unreachable: 3 (retry), as for the training entrypoint.
    monkeypatch.setenv("KUBEAI_ARTIFACTS_S3__ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    r = _run(registry.url, *args, "--uri", "s3://bucket-x/clicks", "--rows", "1")
    assert r.exit_code == ExitCode.UNAVAILABLE == 3, r.output
    assert "Traceback" not in r.output


def test_render_writes_declared_ints_as_ints(tmp_path: Path) -> None:
    """Pulumi passes numbers as doubles: ``max_history=10`` was written ``maxHistory: 10.0``."""
    out = tmp_path / "out"
    r = runner.invoke(app, ["render", "--stack", "local", "--out", str(out)])
    assert r.exit_code == 0, r.output
    written = "\n".join(p.read_text() for p in sorted(out.glob("*.yaml")))
    assert "maxHistory: 10\n" in written
    assert not re.search(r":\s+\d+\.0\s*$", written, re.MULTILINE)


def _aliases(url: str) -> dict[str, int]:
    with RegistryClient(url, team="cv") as client:
        return client.get_model("digits").aliases


@pytest.mark.parametrize(
    "args",
    [
        ("models", "alias", "nosuch/../digits", "staging", "1"),  # used to move digits' alias
        ("models", "alias", "digits", "staging?x=", "1"),  # used to move `staging`
        ("models", "alias", "digits", "staging#x", "1"),
        ("models", "alias", "", "production", "1"),  # crashed with JSONDecodeError (307)
        ("models", "alias", "..", "production", "1"),
        ("models", "show", "digits?x=1"),  # half-worked
        ("models", "show", ""),
        ("models", "show", "digits", "production/../1"),
        ("models", "versions", "a/b"),
        ("models", "history", "%2e%2e"),
        ("models", "rollback", "digits", "prod%2Fx"),
        ("services", "status", ""),
        ("services", "status", "digits-svc/../x"),
    ],
)
def test_names_are_checked_before_they_reach_a_url(populated: str, args: tuple[str, ...]) -> None:
    before = _aliases(populated)
    r = _run(populated, *args)
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    assert "error:" in r.output and "Traceback" not in r.output and "JSONDecode" not in r.output
    assert _aliases(populated) == before


def test_client_quotes_every_path_segment(populated: str) -> None:
    """The client on its own (no CLI checks): a segment can never address another resource."""
    with RegistryClient(populated, team="cv") as client:
        with pytest.raises(RegistryError) as caught:
            client.set_alias("nosuch/../digits", "staging", 1)
        assert caught.value.status in (404, 422)
        with pytest.raises(RegistryError) as caught:
            client.set_alias("digits", "staging?x=", 1)
        assert caught.value.status == 422
        with pytest.raises(RegistryError):
            client.get_model("..")
        with pytest.raises(RegistryError) as caught:
            client.get_model("digits?x=1")
        assert caught.value.status in (404, 422)
        with pytest.raises(ValueError, match="empty name"):
            client.get_model("")
        assert "staging" not in client.get_model("digits").aliases


def test_redirect_or_non_json_answers_are_registry_errors(tmp_path: Path) -> None:
    """A 307 without a body (what the registry answers for an empty name) or an HTML page
    must be a RegistryError, never a JSONDecodeError."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if "redirect" in self.path:
                self.send_response(307)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"<html>not json</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with RegistryClient(url, team="cv") as client:
            with pytest.raises(RegistryError, match="redirect to /elsewhere"):
                client.get_model("redirect")
            with pytest.raises(RegistryError, match="not a valid ModelRead"):
                client.get_model("digits")
        r = _run(url, "models", "show", "digits")
        assert r.exit_code == 1 and "not a valid ModelRead" in r.output, r.output
        assert "Traceback" not in r.output
    finally:
        server.shutdown()
        server.server_close()


def test_server_text_with_control_characters_is_never_printed_raw(
    registry: RegistryServer,
) -> None:
    """A description like "\x1b[2J\x1b]0;pwned\x07" cleared the screen and retitled the
    window. The registry refuses it now; text that got in some other way is printed escaped."""
    evil = "\x1b[2J\x1b]0;pwned\x07"
    with RegistryClient(registry.url, team="cv") as client:
        with pytest.raises(RegistryError) as caught:
            client._request(  # raw body: the client's own schema would refuse it first
                "POST", "/teams/cv/models", json={"name": "m", "description": evil}
            )
        assert caught.value.status == 422 and "description" in str(caught.value)
        client.create_model(schemas.ModelCreate(name="m", team="cv", description="ok"))
    from glue.cli.terminal import shown

    assert shown(evil) == "\\x1b[2J\\x1b]0;pwned\\x07"
    assert shown("two\nlines\tand tab\r\x85") == "two\nlines\tand tab\\x0d\\x85"


def test_show_escapes_control_characters_in_server_text(
    populated: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = "\x1b[2J\x1b]0;pwned\x07"
    real = RegistryClient.get_model

    def tampered(self: RegistryClient, name: str, **kwargs: str | None) -> schemas.ModelRead:
        model = real(self, name, **kwargs)
        return model.model_copy(update={"description": evil, "task": "a\x1bb"})

    monkeypatch.setattr(RegistryClient, "get_model", tampered)
    r = _run(populated, "models", "show", "digits")
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output and "\x07" not in r.output
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in r.output and "a\\x1bb" in r.output


def test_422_from_the_registry_is_bad_input(populated: str) -> None:
    """Input only the registry checks (an offset past its limit, an action that is no action
    name) exits 2, not 1."""
    r = _run(populated, "models", "versions", "digits", "--offset", "20000000")
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    assert "registry answered 422" in r.output and "offset" in r.output
    r = _run(populated, "audit", "--action", "Alias\x1b[31m")
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    assert "action" in r.output and "\x1b" not in r.output


def test_actor_option_is_gone(populated: str) -> None:
    """The registry records the authenticated caller; there is no client-supplied actor."""
    r = _run(populated, "models", "alias", "digits", "staging", "1", "--actor", "mallory")
    assert r.exit_code == ExitCode.BAD_INPUT and "No such option" in r.output
    assert "staging" not in _aliases(populated)
    help_text = runner.invoke(app, ["models", "alias", "--help"], env={"COLUMNS": "200"}).output
    assert "--actor" not in help_text and "records who you are" in help_text


@pytest.mark.parametrize(
    "url", ["http://[red]x[/red]", "", "ftp://127.0.0.1/", "127.0.0.1:8080", "http://"]
)
def test_bad_registry_url_is_bad_input_naming_the_option(url: str) -> None:
    r = runner.invoke(app, ["models", "list", "--registry-url", url], env={"COLUMNS": "300"})
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    assert "--registry-url" in r.output and "KUBEAI_REGISTRY_URL" in r.output
    assert "Traceback" not in r.output and "unreachable" not in r.output
    if not url:
        return  # an empty KUBEAI_REGISTRY_URL counts as unset (the default URL), as for click
    r = runner.invoke(
        app, ["services", "status", "x"], env={"COLUMNS": "300", "KUBEAI_REGISTRY_URL": url}
    )
    assert r.exit_code == ExitCode.BAD_INPUT and "KUBEAI_REGISTRY_URL" in r.output, r.output


def test_cli_turns_off_ec2_metadata_probes_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kubeai datasets add --uri s3://...` without credentials connected to 169.254.169.254."""
    import os

    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    runner.invoke(app, ["models", "list", "--registry-url", "ftp://x"])
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")  # EC2 instance-role users
    runner.invoke(app, ["models", "list", "--registry-url", "ftp://x"])
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "false"


def test_cli_process_has_metadata_probes_off() -> None:
    """The same for a real `kubeai` process, which the AWS SDK reads its settings from."""
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "os.environ.pop('AWS_EC2_METADATA_DISABLED', None)\n"
        "from glue.cli.main import app\n"
        "try:\n"
        "    app(['models', 'list', '--registry-url', 'ftp://x'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(os.environ['AWS_EC2_METADATA_DISABLED'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip().splitlines()[-1] == "true", done.stderr


def test_kubeai_command_for_a_fresh_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`demo --keep-running` printed `kubeai models list ...`, but kubeai is not on PATH in a
    fresh shell: the command names the running executable."""
    from glue.cli.invocation import kubeai_command

    exe = tmp_path / ".venv" / "bin" / "kubeai"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert kubeai_command(".venv/bin/kubeai") == ".venv/bin/kubeai"
    assert kubeai_command(str(exe)) == str(exe)
    monkeypatch.setenv("PATH", f"{exe.parent}:/usr/bin")  # on PATH here, not in a fresh shell
    assert kubeai_command(str(exe)) == str(exe)
    assert kubeai_command("/nonexistent/pytest").endswith(" -m glue.cli.main")


def test_reserved_alias_names_are_refused_and_latest_shows_the_newest(populated: str) -> None:
    for reserved in ("latest", "history", "v3"):
        r = _run(populated, "models", "alias", "digits", reserved, "1")
        assert r.exit_code == ExitCode.BAD_INPUT, r.output
        assert "reserved" in r.output and "Traceback" not in r.output
    r = _run(populated, "models", "show", "digits", "latest")
    assert r.exit_code == 0 and "digits v2" in r.stdout, r.output
