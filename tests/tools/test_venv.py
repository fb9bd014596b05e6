"""tools/venv.py: the extras, stamps, installer pin and commands behind `make demo`/`make test`."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kubeai_tools_venv", ROOT / "tools" / "venv.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


venv_tool = _load()


def test_extras_are_sorted_and_unique() -> None:
    assert venv_tool.parse_extras("glue, demo,glue") == ["demo", "glue"]


@pytest.mark.parametrize("text", ["", " , ", "glue,de mo", "glue;demo"])
def test_bad_extras_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--extras"):
        venv_tool.parse_extras(text)


def test_makefile_extras_are_the_projects_extras() -> None:
    """Every extra the Makefile asks for exists in pyproject.toml; the demo's are a subset of the
    full set (so `make test` after `make demo` only adds packages)."""
    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    makefile = (ROOT / "Makefile").read_text()
    demo = re.search(r"^DEMO_EXTRAS := (\S+)$", makefile, re.M)
    full = re.search(r"^ALL_EXTRAS := (\S+)$", makefile, re.M)
    assert demo and full
    demo_extras = set(venv_tool.parse_extras(demo.group(1)))
    all_extras = set(venv_tool.parse_extras(full.group(1)))
    assert all_extras <= declared
    assert demo_extras <= all_extras
    assert {"glue", "demo"} <= demo_extras
    # The large provider SDKs and the dev tools are not part of the first `make demo`.
    assert not demo_extras & {"aws", "gcp", "alicloud", "infra", "dev"}


def test_installer_pin_is_exact() -> None:
    version = venv_tool.installer_version(ROOT / venv_tool.INSTALLER_PIN)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)


def test_installer_pin_without_exact_line(tmp_path: Path) -> None:
    pin = tmp_path / "installer.txt"
    pin.write_text("# comment\nuv>=0.13\n")
    with pytest.raises(venv_tool.InstallError, match="uv=="):
        venv_tool.installer_version(pin)
    pin.write_text("uv==0.13.9  # pinned\n")
    assert venv_tool.installer_version(pin) == "0.13.9"


def test_digest_follows_contents_and_missing_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("x")
    first = venv_tool.inputs_digest([a, b])
    assert venv_tool.inputs_digest([b, a]) == first
    b.write_text("")
    assert venv_tool.inputs_digest([a, b]) == first  # a missing file counts as empty
    a.write_text("y")
    assert venv_tool.inputs_digest([a, b]) != first


def _stamp(venv: Path, name: str, **record: object) -> Path:
    venv.mkdir(exist_ok=True)
    path = venv / f".{name}"
    path.write_text(json.dumps(record))
    return path


def test_full_install_covers_the_demo(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    full = _stamp(venv, "stamp", digest="d1", extras=["demo", "dev", "glue", "infra"])
    assert venv_tool.covered_by(venv, "d1", ["demo", "glue"], []) == full
    assert venv_tool.covered_by(venv, "d2", ["demo", "glue"], []) is None  # inputs changed
    assert venv_tool.covered_by(venv, "d1", ["aws"], []) is None
    assert venv_tool.covered_by(venv, "d1", ["glue"], ["benchmarks/requirements.txt"]) is None


def test_demo_install_does_not_cover_the_test_extras(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _stamp(venv, "stamp-demo", digest="d1", extras=["demo", "glue"])
    assert venv_tool.covered_by(venv, "d1", ["demo", "dev", "glue"], []) is None


def test_old_empty_stamp_covers_nothing(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".stamp").write_text("")
    assert venv_tool.read_stamp(venv / ".stamp") is None
    assert venv_tool.covered_by(venv, "d1", ["glue"], []) is None


PIP_CONFIG_LIST = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
global.cert='/etc/ssl/old.pem'
global.index-url='https://mirror.example/simple'
install.index-url="https://install.example/simple"
install.extra-index-url='https://a.example/simple
https://b.example/simple'
freeze.index-url='https://ignored.example/simple'
"""


def test_pip_config_sections_by_precedence() -> None:
    config = venv_tool.parse_pip_config(PIP_CONFIG_LIST)
    assert config["cert"] == "/etc/ssl/certs/ca-certificates.crt"  # PIP_CERT over the file
    assert config["index-url"] == "https://install.example/simple"  # install over global
    assert config["find-links"] == "/opt/wheels"
    assert config["default-timeout"] == "180"
    assert config["extra-index-url"].split() == [
        "https://a.example/simple",
        "https://b.example/simple",
    ]
    assert venv_tool.parse_pip_config("not a setting\n=x\n") == {}


def test_uv_gets_pips_index_settings() -> None:
    config = {
        "index-url": "https://mirror.example/simple",
        "extra-index-url": "https://a.example/simple\n https://b.example/simple",
        "find-links": "/opt/wheels",
        "cert": "/etc/ssl/certs/ca-certificates.crt",
        "default-timeout": "180",
    }
    assert venv_tool.uv_environment(config, {}) == {
        "UV_DEFAULT_INDEX": "https://mirror.example/simple",
        "UV_INDEX": "https://a.example/simple https://b.example/simple",
        "UV_FIND_LINKS": "/opt/wheels",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    }
    # What the user set for uv wins; no pip setting, no variable.
    given = {"UV_DEFAULT_INDEX": "https://mine.example/simple", "SSL_CERT_FILE": "/x.pem"}
    assert venv_tool.uv_environment(config, given) == {
        "UV_INDEX": "https://a.example/simple https://b.example/simple",
        "UV_FIND_LINKS": "/opt/wheels",
    }
    assert venv_tool.uv_environment({}, {}) == {}


def test_commands_share_the_constraints() -> None:
    venv = Path("/v")
    uv = venv_tool.install_command("uv", venv, ["demo", "glue"], ["r.txt"])
    pip = venv_tool.install_command("pip", venv, ["demo", "glue"], ["r.txt"])
    tail = ["-c", "constraints/serving.txt", "-c", "constraints/engine.txt"]
    tail += ["-e", ".[demo,glue]", "-r", "r.txt"]
    assert uv == ["/v/bin/uv", "pip", "install", "--python", "/v/bin/python", *tail]
    assert pip == ["/v/bin/python", "-m", "pip", "install", "--progress-bar", "on", *tail]
    with pytest.raises(ValueError, match="installer"):
        venv_tool.install_command("poetry", venv, ["glue"], [])


def _record_runs(
    monkeypatch: pytest.MonkeyPatch,
    fail: str | None = None,
    output: str = "",
    pip_config: dict[str, str] | None = None,
) -> list[list[str]]:
    runs: list[list[str]] = []

    def run(
        command: list[str], step: str, env: dict[str, str] | None = None, *, capture: bool = False
    ) -> None:
        runs.append(list(command))
        if fail and fail in step:
            raise venv_tool.InstallError(f"{step} failed (exit 1)", output if capture else "")

    monkeypatch.setattr(venv_tool, "_run", run)
    monkeypatch.setattr(venv_tool, "_uv_version", lambda _uv: None)
    monkeypatch.setattr(venv_tool, "_pip_config", lambda _python: pip_config or {})
    return runs


def test_install_uses_uv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _record_runs(monkeypatch)
    used = venv_tool.install(tmp_path / "v", ["glue"], python="python3")
    assert used == "uv"
    steps = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("==> [")]
    assert [s[:10] for s in steps] == ["==> [1/3] ", "==> [2/3] ", "==> [3/3] "]
    assert runs[0] == ["python3", "-m", "venv", str(tmp_path / "v")]
    pin = venv_tool.installer_version(ROOT / venv_tool.INSTALLER_PIN)
    assert runs[1][-1] == f"uv=={pin}"
    assert runs[2][:3] == [str(tmp_path / "v" / "bin" / "uv"), "pip", "install"]


def test_install_falls_back_to_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _record_runs(monkeypatch, fail="installing uv")
    used = venv_tool.install(tmp_path / "v", ["glue"], python="python3")
    assert used == "pip"
    assert "falling back to pip" in capsys.readouterr().out
    python = str(tmp_path / "v" / "bin" / "python")
    assert runs[-2] == [python, "-m", "pip", "install", "-q", "--upgrade", venv_tool.PIP_MIN]
    assert runs[-1][:4] == [python, "-m", "pip", "install"]


def test_install_failure_names_the_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _record_runs(monkeypatch, fail="uv install")
    with pytest.raises(venv_tool.InstallError, match="uv install failed"):
        venv_tool.install(tmp_path / "v", ["glue"], python="python3")


def test_main_installs_then_stamps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Path, list[str]]] = []

    def install(venv: Path, extras: list[str], requirements: list[str], **_: object) -> str:
        calls.append((venv, extras))
        venv.mkdir(parents=True, exist_ok=True)
        return "uv"

    monkeypatch.setattr(venv_tool, "install", install)
    venv = tmp_path / "venv"
    full = "glue,demo,dev,infra"
    assert venv_tool.main([str(venv), "--extras", full, "--stamp", "stamp"]) == 0
    record = json.loads((venv / ".stamp").read_text())
    assert record["extras"] == ["demo", "dev", "glue", "infra"]
    assert record["installer"] == "uv"
    # The demo's extras are covered by the full install: stamped, nothing installed.
    assert venv_tool.main([str(venv), "--extras", "glue,demo", "--stamp", "stamp-demo"]) == 0
    assert len(calls) == 1
    assert json.loads((venv / ".stamp-demo").read_text())["extras"] == ["demo", "glue"]


def test_main_reports_a_failed_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def install(*_: object, **__: object) -> str:
        raise venv_tool.InstallError("uv install failed (exit 2): uv pip install ...")

    monkeypatch.setattr(venv_tool, "install", install)
    venv = tmp_path / "venv"
    assert venv_tool.main([str(venv), "--extras", "glue"]) == 1
    assert "uv install failed" in capsys.readouterr().err
    assert not (venv / ".stamp").exists()


#: What pip 25 prints (``-q``) for ``pip install uv==...`` with ``PIP_INDEX_URL`` on a closed port.
PIP_UNREACHABLE = (
    "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) "
    "after connection broken by 'NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=9): "
    "Failed to establish a new connection: [Errno 111] Connection refused\")': /simple/uv/\n"
    "ERROR: Could not find a version that satisfies the requirement uv==0.13.9 "
    "(from versions: none)\n"
    "ERROR: No matching distribution found for uv==0.13.9\n"
)
#: ... and on a platform with no uv wheel (the index answers).
PIP_NO_WHEEL = (
    "ERROR: Could not find a version that satisfies the requirement uv==0.13.9 "
    "(from versions: 0.1.0)\nERROR: No matching distribution found for uv==0.13.9\n"
)
CLOSED_INDEX = {"index-url": "http://127.0.0.1:9/simple"}


def test_network_problem_is_told_from_a_missing_wheel() -> None:
    found = venv_tool.network_problem(PIP_UNREACHABLE)
    assert found is not None and "Connection refused" in found
    assert venv_tool.network_problem(PIP_NO_WHEEL) is None


def test_package_index_names_pips_index_or_its_default() -> None:
    assert venv_tool.package_index(CLOSED_INDEX) == "http://127.0.0.1:9/simple"
    assert venv_tool.package_index({}) == "https://pypi.org/simple (pip's default)"
    links = venv_tool.package_index({**CLOSED_INDEX, "find-links": "/opt/a\n/opt/b"})
    assert links == "http://127.0.0.1:9/simple (find-links /opt/a /opt/b)"


def test_unreachable_index_stops_without_the_pip_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``PIP_INDEX_URL=http://127.0.0.1:9/simple make venv-demo``: one error naming the index,
    no second round of retries with pip."""
    runs = _record_runs(
        monkeypatch, fail="installing uv", output=PIP_UNREACHABLE, pip_config=CLOSED_INDEX
    )
    with pytest.raises(venv_tool.InstallError) as failed:
        venv_tool.install(tmp_path / "v", ["glue"], python="python3")
    message = str(failed.value)
    assert "installing uv failed" in message and "http://127.0.0.1:9/simple" in message
    assert "unreachable" in message and "Connection refused" in message
    assert len(runs) == 2  # the venv, uv: no pip upgrade, no install
    assert "falling back" not in capsys.readouterr().out


def test_no_uv_wheel_falls_back_to_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _record_runs(monkeypatch, fail="installing uv", output=PIP_NO_WHEEL)
    assert venv_tool.install(tmp_path / "v", ["glue"], python="python3") == "pip"
    assert "no uv wheel installs on this platform" in capsys.readouterr().out
    assert runs[-1][1:4] == ["-m", "pip", "install"]


def test_unreachable_index_on_the_pip_upgrade_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record_runs(monkeypatch, fail="upgrading pip", output=PIP_UNREACHABLE, pip_config=CLOSED_INDEX)
    with pytest.raises(venv_tool.InstallError, match=r"upgrading pip failed .*127\.0\.0\.1:9"):
        venv_tool.install(tmp_path / "v", ["glue"], installer="pip", python="python3")


def test_a_failed_install_names_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _record_runs(monkeypatch, fail="uv install", pip_config=CLOSED_INDEX)
    with pytest.raises(venv_tool.InstallError, match=r"package index: http://127\.0\.0\.1:9/"):
        venv_tool.install(tmp_path / "v", ["glue"], python="python3")


def test_run_captures_the_output_of_a_failed_step(capsys: pytest.CaptureFixture[str]) -> None:
    code = "import sys; print('first'); print('second', file=sys.stderr); sys.exit(3)"
    with pytest.raises(venv_tool.InstallError, match=r"^probe failed \(exit 3\)") as failed:
        venv_tool._run([sys.executable, "-c", code], "probe", capture=True)
    assert failed.value.output.split() == ["first", "second"]
    assert "    first" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["bogus", "PIP"])
def test_a_bad_kubeai_installer_stops_before_anything(
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``KUBEAI_INSTALLER=bogus make venv-demo``: one line naming the variable and the valid
    values; no venv created, nothing installed."""
    runs = _record_runs(monkeypatch)
    monkeypatch.setenv("KUBEAI_INSTALLER", value)
    venv = tmp_path / "venv"
    assert venv_tool.main([str(venv), "--extras", "glue,demo"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and runs == [] and not venv.exists()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and f"KUBEAI_INSTALLER={value!r}" in lines[0]
    assert "uv, pip" in lines[0]


def test_kubeai_installer_pip_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []

    def install(venv: Path, extras: list[str], requirements: list[str], **kw: str) -> str:
        used.append(kw["installer"])
        venv.mkdir(parents=True, exist_ok=True)
        return kw["installer"]

    monkeypatch.setattr(venv_tool, "install", install)
    monkeypatch.setenv("KUBEAI_INSTALLER", "pip")
    assert venv_tool.main([str(tmp_path / "v"), "--extras", "glue"]) == 0
    assert venv_tool.main([str(tmp_path / "w"), "--extras", "glue", "--installer", "uv"]) == 0
    assert used == ["pip", "uv"]


def test_install_refuses_an_unknown_installer_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _record_runs(monkeypatch)
    with pytest.raises(ValueError, match="installer must be one of"):
        venv_tool.install(tmp_path / "v", ["glue"], installer="bogus", python="python3")
    assert runs == []
