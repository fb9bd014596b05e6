"""``glue.cli.context``: the config file, precedence of option > environment > context >
defaults, permissions of a file holding a token, token files, and ``config`` commands."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from glue.cli.context import ContextError, load_config, resolve, use_context
from glue.cli.exit_codes import ExitCode
from glue.cli.main import app
from glue.model_registry.client import BearerAuth, RegistryError
from tests.glue.cli.conftest import TlsFiles

runner = CliRunner()
TOKEN = "t" * 40

CONFIG = """\
# the team's registries
current-context: cv-prod
contexts:
  - name: cv-prod
    registry: https://registry.example.com/
    team: cv
    token-file: cv.token
    certificate-authority: ca.crt
  - name: search
    registry: http://127.0.0.1:8081
    team: search
    token: {token}
"""


@pytest.fixture
def config(no_user_config: Path, tls_files: TlsFiles) -> Path:
    """The config above (mode 600) with its token file and CA bundle beside it."""
    no_user_config.write_text(CONFIG.format(token=TOKEN))
    no_user_config.chmod(0o600)
    (no_user_config.parent / "cv.token").write_text("file-token\n")
    (no_user_config.parent / "ca.crt").write_bytes(tls_files.ca.read_bytes())
    return no_user_config


def env(config: Path, **values: str) -> dict[str, str]:
    return {"KUBEAI_CONFIG": str(config), **values}


def test_defaults_without_a_config_file(no_user_config: Path) -> None:
    c = resolve(url=None, team=None, context=None, need_team=False, env=env(no_user_config))
    assert (c.url, c.team, c.context, c.token, c.token_file, c.verify) == (
        "http://127.0.0.1:8080",
        None,
        None,
        None,
        None,
        True,
    )
    with pytest.raises(ContextError, match=r"no team given: use --team \(or KUBEAI_TEAM\)"):
        resolve(url=None, team=None, context=None, need_team=True, env=env(no_user_config))


def test_current_context_gives_url_team_and_credentials(config: Path) -> None:
    c = resolve(url=None, team=None, context=None, need_team=True, env=env(config))
    assert c.url == "https://registry.example.com" and c.team == "cv" and c.context == "cv-prod"
    # relative paths are relative to the config file's folder
    assert c.token_file == config.parent / "cv.token" and c.token is None
    assert c.verify == str(config.parent / "ca.crt")


def test_precedence_option_over_environment_over_context(config: Path, tls_files: TlsFiles) -> None:
    # --context (or KUBEAI_CONTEXT, merged by click) picks another context
    c = resolve(url=None, team=None, context="search", need_team=True, env=env(config))
    assert (c.url, c.team, c.token, c.token_file) == (
        "http://127.0.0.1:8081",
        "search",
        TOKEN,
        None,
    )
    # an option/variable team and URL win over the context's
    c = resolve(
        url="http://127.0.0.1:8081", team="nlp", context="search", need_team=True, env=env(config)
    )
    assert (c.url, c.team, c.token) == ("http://127.0.0.1:8081", "nlp", TOKEN)
    # environment credentials win over the context's; the token file over the token
    token_file = config.parent / "env.token"
    token_file.write_text("env-file-token")
    c = resolve(
        url=None,
        team=None,
        context="search",
        need_team=True,
        env=env(config, KUBEAI_REGISTRY_TOKEN="from-env"),
    )
    assert c.token == "from-env" and c.token_file is None
    c = resolve(
        url=None,
        team=None,
        context="search",
        need_team=True,
        env=env(
            config,
            KUBEAI_REGISTRY_TOKEN="from-env",
            KUBEAI_REGISTRY_TOKEN_FILE=str(token_file),
            KUBEAI_REGISTRY_CA_FILE=str(tls_files.ca),
        ),
    )
    assert c.token is None and c.token_file == token_file and c.verify == str(tls_files.ca)


def test_context_credentials_go_only_to_the_context_registry(config: Path) -> None:
    c = resolve(url="http://127.0.0.1:9", team=None, context=None, need_team=True, env=env(config))
    assert c.url == "http://127.0.0.1:9" and c.team == "cv"  # the team still applies
    assert c.token is None and c.token_file is None and c.verify is True
    assert "credentials of context 'cv-prod'" in c.warnings[0]
    assert "file-token" not in repr(c) and TOKEN not in repr(
        resolve(url=None, team=None, context="search", need_team=True, env=env(config))
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("contexts:\n  - name: a\n    tokn: x\n", r"contexts\[0\]\.tokn: Extra inputs"),
        ("current-context: a\nusers: []\n", r"users: Extra inputs"),
        ("contexts:\n  - name: a\n    registry: ftp://x\n", r"contexts\[0\]\.registry: .*http"),
        ("contexts:\n  - name: a\n    team: Bad_Team\n", r"contexts\[0\]\.team: String should"),
        ("contexts:\n  - {name: a}\n  - {name: a}\n", r"contexts: .*two contexts are named 'a'"),
        (
            "contexts:\n  - {name: a, token: x, token-file: f}\n",
            r"contexts\[0\]: .*token or token-file, not both",
        ),
        ("contexts: {name: a}\n", r"contexts: Input should be a valid list"),
        ("- a\n", r"\(top level\): Input should be a valid dictionary"),
        ("contexts: [\n", r"not valid YAML at line 2, column 1: expected"),
        (  # PyYAML quotes the line of the error: the token must not be printed
            f"contexts:\n  - name: a\n    token: {TOKEN}: x\n",
            r"not valid YAML at line 3, column \d+: mapping values are not allowed here$",
        ),
    ],
)
def test_bad_config_names_the_file_and_key_path(
    no_user_config: Path, text: str, message: str
) -> None:
    no_user_config.write_text(text)
    no_user_config.chmod(0o600)
    with pytest.raises(ContextError, match=message) as caught:
        load_config(no_user_config)
    assert str(caught.value).startswith(str(no_user_config)) and TOKEN not in str(caught.value)
    r = runner.invoke(app, ["models", "list"], env={"COLUMNS": "300"})
    assert r.exit_code == ExitCode.BAD_INPUT and str(no_user_config) in r.output
    assert "Traceback" not in r.output and TOKEN not in r.output


def test_an_inline_token_in_a_file_others_can_read_is_refused(config: Path) -> None:
    config.chmod(0o644)
    r = runner.invoke(app, ["models", "list"], env={"COLUMNS": "300"})
    assert r.exit_code == ExitCode.BAD_INPUT
    assert f"run chmod 600 {config}" in r.output and TOKEN not in r.output
    config.chmod(0o640)
    with pytest.raises(ContextError, match="group or others may read it"):
        load_config(config)
    config.write_text(CONFIG.format(token=TOKEN).split("  - name: search")[0])  # no token
    assert load_config(config).contexts[0].name == "cv-prod"  # 640 is fine without a token


def test_unreadable_token_file_names_where_it_came_from(config: Path) -> None:
    (config.parent / "cv.token").unlink()
    with pytest.raises(ContextError, match=r"context 'cv-prod': token-file .*cv\.token"):
        resolve(url=None, team=None, context=None, need_team=True, env=env(config))
    (config.parent / "cv.token").write_text("file-token\n")
    (config.parent / "ca.crt").write_text("not a certificate\n")
    with pytest.raises(ContextError, match=r"certificate-authority .*ca\.crt is not a PEM bundle"):
        resolve(url=None, team=None, context=None, need_team=True, env=env(config))
    with pytest.raises(ContextError, match=r"KUBEAI_REGISTRY_TOKEN_FILE /nonexistent"):
        resolve(
            url=None,
            team=None,
            context="search",
            need_team=True,
            env=env(config, KUBEAI_REGISTRY_TOKEN_FILE="/nonexistent"),
        )


def test_unknown_context_and_bad_team_are_bad_input(config: Path) -> None:
    r = runner.invoke(app, ["models", "list", "--context", "nope"], env={"COLUMNS": "300"})
    assert r.exit_code == ExitCode.BAD_INPUT
    assert "--context (or KUBEAI_CONTEXT) 'nope'" in r.output and "cv-prod, search" in r.output
    r = runner.invoke(app, ["models", "list"], env={"COLUMNS": "300", "KUBEAI_TEAM": "Bad"})
    assert r.exit_code == ExitCode.BAD_INPUT and "--team (or KUBEAI_TEAM) 'Bad'" in r.output
    config.write_text("current-context: gone\ncontexts: []\n")
    r = runner.invoke(app, ["datasets", "list"], env={"COLUMNS": "300"})
    assert r.exit_code == ExitCode.BAD_INPUT and "current-context 'gone'" in r.output


def test_config_contexts_lists_without_tokens(config: Path) -> None:
    r = runner.invoke(app, ["config", "contexts"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert "* │ cv-prod" in r.output and "token (inline)" in r.output
    assert TOKEN not in r.output and "file-token" not in r.output


def test_use_context_keeps_the_rest_of_the_file_and_its_mode(config: Path) -> None:
    before = config.read_text()
    r = runner.invoke(app, ["config", "use-context", "search"])
    assert r.exit_code == 0, r.output
    after = config.read_text()
    assert after == before.replace("current-context: cv-prod", 'current-context: "search"')
    assert os.stat(config).st_mode & 0o777 == 0o600
    assert load_config(config).current_context == "search"
    r = runner.invoke(app, ["config", "use-context", "nope"])
    assert r.exit_code == ExitCode.BAD_INPUT and "'nope' is not a context" in r.output
    assert config.read_text() == after
    # a file without current-context gets one; a symlinked file is changed where it lives
    real = config.parent / "real.yaml"
    real.write_text("contexts:\n  - name: a\n")
    config.unlink()
    config.symlink_to(real)
    use_context(config, "a")
    assert config.is_symlink() and real.read_text().startswith('current-context: "a"\ncontexts:')


def test_use_context_needs_a_file(no_user_config: Path) -> None:
    r = runner.invoke(app, ["config", "use-context", "a"])
    assert r.exit_code == ExitCode.BAD_INPUT and "no config file" in r.output


@pytest.mark.parametrize("token", ["two words", "café-token", "line\nbreak"])
def test_a_token_that_cannot_be_a_header_is_bad_input(no_user_config: Path, token: str) -> None:
    """Sent as is, a non-ASCII token was a traceback (UnicodeEncodeError) and a newline a
    misleading "unreachable"."""
    r = runner.invoke(
        app,
        ["auth", "whoami"],
        env={"COLUMNS": "300", "KUBEAI_REGISTRY_TOKEN": token},
    )
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    assert "KUBEAI_REGISTRY_TOKEN is not a bearer token" in r.output
    assert token.split()[0] not in r.output and "Traceback" not in r.output


def test_a_token_over_plain_http_to_another_host_warns(no_user_config: Path) -> None:
    values = {"KUBEAI_REGISTRY_TOKEN": TOKEN}
    remote = resolve(
        url="http://registry.example.com",
        team=None,
        context=None,
        need_team=False,
        env=env(no_user_config, **values),
    )
    assert "plain http" in remote.warnings[0]
    for url in ("http://127.0.0.1:8080", "https://registry.example.com"):
        c = resolve(
            url=url, team=None, context=None, need_team=False, env=env(no_user_config, **values)
        )
        assert c.warnings == () and c.token == TOKEN


def test_a_context_without_registry_sends_credentials_only_to_the_default(
    no_user_config: Path,
) -> None:
    """Its token went to any ``--registry-url`` (issue 10): its registry is the default."""
    no_user_config.write_text(
        f"current-context: noreg\ncontexts: [{{name: noreg, team: cv, token: {TOKEN}}}]\n"
    )
    no_user_config.chmod(0o600)
    other = resolve(
        url="http://127.0.0.1:18095",
        team=None,
        context="noreg",
        need_team=False,
        env=env(no_user_config),
    )
    assert other.token is None and other.token_file is None and other.team == "cv"
    (warning,) = other.warnings
    assert "credentials of context 'noreg' are for http://127.0.0.1:8080 (the default" in warning
    for url in (None, "http://127.0.0.1:8080/"):
        own = resolve(url=url, team=None, context="noreg", need_team=False, env=env(no_user_config))
        assert (own.url, own.token, own.warnings) == ("http://127.0.0.1:8080", TOKEN, ())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe token", "is not UTF-8 text"),
        (b"", "is empty"),
        (b" \n", "is empty"),
        (b"a b c\n", "is not a bearer token"),
        ("tök\n".encode(), "is not a bearer token"),
    ],
)
def test_a_token_file_is_checked_like_the_variable(
    config: Path, content: bytes, message: str
) -> None:
    """A non-UTF-8 file was a traceback, an empty one no header, ``a b c``/``tök`` sent as is."""
    bad = config.parent / "cv.token"
    bad.write_bytes(content)
    r = runner.invoke(app, ["auth", "whoami"], env={"COLUMNS": "300"})
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    assert f"context 'cv-prod': token-file {bad} {message}" in " ".join(r.output.split())
    assert "Traceback" not in r.output and "tök" not in r.output
    r = runner.invoke(
        app,
        ["auth", "whoami", "--context", "search"],
        env={"COLUMNS": "300", "KUBEAI_REGISTRY_TOKEN_FILE": str(bad)},
    )
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    assert f"KUBEAI_REGISTRY_TOKEN_FILE {bad} {message}" in " ".join(r.output.split())


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"\xff\xfe", "not UTF-8"), (b"", "empty"), ("tök".encode(), "not a bearer token")],
)
def test_a_token_file_spoiled_after_start_is_a_registry_error(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """``BearerAuth`` re-reads the file at every request: a bad rotation is a ``RegistryError``,
    not a traceback nor a request without a header."""
    token_file = tmp_path / "token"
    token_file.write_text("good-token\n")
    auth = BearerAuth(token_file=token_file)
    request = httpx.Request("GET", "http://127.0.0.1:8080/api/v1/whoami")
    assert next(auth.auth_flow(request)).headers["Authorization"] == "Bearer good-token"
    token_file.write_bytes(content)
    os.utime(token_file, ns=(1, 1))  # a new modification time, as a rotation gives
    with pytest.raises(RegistryError, match=f"token file {token_file} is unusable: .*{reason}"):
        next(auth.auth_flow(httpx.Request("GET", "http://127.0.0.1:8080/api/v1/whoami")))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"contexts:\n  - name: a\n    token: {TOKEN}\n    token: other\n", 4),
        ("current-context: a\ncurrent-context: b\n", 2),
        ("contexts:\n  - {name: a, name: b}\n", 2),
    ],
)
def test_a_key_given_twice_is_bad_input(no_user_config: Path, text: str, line: int) -> None:
    """The last of two ``token:`` keys silently won (issue 10)."""
    no_user_config.write_text(text)
    no_user_config.chmod(0o600)
    r = runner.invoke(app, ["models", "list"], env={"COLUMNS": "300"})
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    output = " ".join(r.output.split())
    assert f"not valid YAML at line {line}, column" in output and "duplicate key" in output
    assert TOKEN not in r.output and "other" not in r.output and "Traceback" not in r.output
    # merge keys may still be overridden
    no_user_config.write_text("x: &d {team: cv}\ncontexts:\n  - {<<: *d, name: a, team: nlp}\n")
    with pytest.raises(ContextError, match="x: Extra inputs"):
        load_config(no_user_config)
