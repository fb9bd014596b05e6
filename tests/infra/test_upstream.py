"""infra/upstream.py and the pins in infra/versions.py: every upstream file is pinned by URL and
sha256, installed from a mirror folder or its URL, verified, and refused when it differs."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from infra import upstream, versions
from infra.upstream import UpstreamError, chart_content_digest, fetch
from infra.versions import UpstreamFile

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The machine's shared mirror of the pinned upstream files (``$KUBEAI_UPSTREAM_MIRROR``).
SHARED_MIRROR = Path("/work/shared")


def pin_for(path: str, data: bytes) -> UpstreamFile:
    # Port 9 (discard) on loopback: never reached, since these pins come from the mirror.
    return UpstreamFile(
        path=path, url=f"https://127.0.0.1:9/{path}", sha256=hashlib.sha256(data).hexdigest()
    )


def chart_tgz(files: dict[str, bytes], mtime: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_every_pin_is_https_with_a_sha256_and_a_unique_path() -> None:
    paths = [pin.path for pin in versions.UPSTREAM_FILES]
    assert len(paths) == len(set(paths))
    for pin in versions.UPSTREAM_FILES:
        assert pin.url.startswith("https://"), pin
        assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0, pin
        assert not pin.path.startswith("/") and ".." not in pin.path.split("/"), pin
    for chart in versions.ALL_CHARTS:
        assert chart.archive in versions.UPSTREAM_FILES
        assert chart.archive.url.endswith(f"{chart.name}-{chart.version}.tgz")
    # Git files are pinned at the release commit, never at a branch or tag that can move.
    for release in (versions.TRAINING_OPERATOR, versions.ARGO_WORKFLOWS):
        urls = [p.url for p in versions.UPSTREAM_FILES if p.path.startswith(release.manifests)]
        assert urls and all(f"/{release.commit}/" in url for url in urls)


def test_the_installed_root_holds_every_pin_verified() -> None:
    root = upstream.ensure()
    for pin in versions.UPSTREAM_FILES:
        upstream.verify(pin, (root / pin.path).read_bytes(), origin="test")


def test_mirror_install_then_noop(tmp_path: Path) -> None:
    mirror, root = tmp_path / "mirror", tmp_path / "root"
    data = b"kind: CustomResourceDefinition\n"
    (mirror / "crds" / "x").mkdir(parents=True)
    (mirror / "crds" / "x" / "a.yaml").write_bytes(data)
    pins = [pin_for("crds/x/a.yaml", data)]
    lines: list[str] = []
    assert fetch(root=root, mirror=mirror, pins=pins, log=lines.append) == root.resolve()
    assert (root / "crds/x/a.yaml").read_bytes() == data and len(lines) == 1
    (mirror / "crds" / "x" / "a.yaml").unlink()  # a second run needs neither mirror nor network
    fetch(root=root, mirror=mirror, pins=pins, log=lines.append)
    assert len(lines) == 1


def test_a_wrong_hash_is_a_hard_error_naming_file_expected_and_actual(tmp_path: Path) -> None:
    mirror, root = tmp_path / "mirror", tmp_path / "root"
    (mirror / "crds").mkdir(parents=True)
    (mirror / "crds" / "a.yaml").write_bytes(b"tampered")
    pin = pin_for("crds/a.yaml", b"original")
    actual = hashlib.sha256(b"tampered").hexdigest()
    with pytest.raises(UpstreamError) as caught:
        fetch(root=root, mirror=mirror, pins=[pin])
    message = str(caught.value)
    assert "crds/a.yaml" in message and pin.sha256 in message and actual in message
    assert "\n" not in message
    assert not (root / "crds" / "a.yaml").exists()


def test_a_file_replaced_in_the_root_is_installed_again(tmp_path: Path) -> None:
    mirror, root = tmp_path / "mirror", tmp_path / "root"
    (mirror / "crds").mkdir(parents=True)
    (mirror / "crds" / "a.yaml").write_bytes(b"original")
    pins = [pin_for("crds/a.yaml", b"original")]
    fetch(root=root, mirror=mirror, pins=pins)
    (root / "crds" / "a.yaml").write_bytes(b"edited by hand")
    fetch(root=root, mirror=mirror, pins=pins)
    assert (root / "crds" / "a.yaml").read_bytes() == b"original"


def test_a_file_missing_from_the_mirror_names_the_file_and_the_mirror(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    with pytest.raises(UpstreamError, match=r"crds/a\.yaml is missing from the mirror"):
        fetch(
            root=tmp_path / "root", mirror=tmp_path / "mirror", pins=[pin_for("crds/a.yaml", b"")]
        )
    with pytest.raises(UpstreamError, match="is not a directory"):
        fetch(root=tmp_path / "root", mirror=tmp_path / "nope", pins=[])


def test_unreachable_upstream_fails_fast_with_one_line_naming_the_mirror_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(upstream.MIRROR_ENV, raising=False)
    pins = [pin_for("crds/a.yaml", b"x"), pin_for("crds/b.yaml", b"y")]
    with pytest.raises(UpstreamError) as caught:
        fetch(root=tmp_path / "root", pins=pins)
    message = str(caught.value)
    assert message.startswith("cannot fetch crds/a.yaml from https://127.0.0.1:9/crds/a.yaml")
    assert upstream.MIRROR_ENV in message and "\n" not in message


def test_a_plain_http_url_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(upstream.MIRROR_ENV, raising=False)
    pin = UpstreamFile(path="crds/a.yaml", url="http://127.0.0.1:9/a", sha256="0" * 64)
    with pytest.raises(UpstreamError, match="non-https"):
        fetch(root=tmp_path, pins=[pin])


def test_chart_digest_ignores_timestamps_but_not_content() -> None:
    files = {"c/Chart.yaml": b"name: c\n", "c/values.yaml": b"a: 1\n"}
    first = chart_content_digest(chart_tgz(files, mtime=1))
    assert first == chart_content_digest(chart_tgz(dict(reversed(files.items())), mtime=2))
    assert first != chart_content_digest(chart_tgz({**files, "c/values.yaml": b"a: 2\n"}, 1))
    with pytest.raises(UpstreamError, match="not a chart archive"):
        chart_content_digest(b"not a tarball")


def _with_link(kind: bytes, name: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        chart = tarfile.TarInfo("c/Chart.yaml")
        chart.size = 8
        archive.addfile(chart, io.BytesIO(b"name: c\n"))
        link = tarfile.TarInfo(name)
        link.type, link.linkname = kind, target
        archive.addfile(link)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "said"), [(tarfile.SYMTYPE, "symlink"), (tarfile.LNKTYPE, "hardlink")]
)
def test_a_chart_archive_with_a_link_member_is_refused_naming_it(kind: bytes, said: str) -> None:
    """Only regular files counted, so adding a symlink or hardlink to a pinned chart archive
    still verified (and the link got installed)."""
    with pytest.raises(UpstreamError, match=f"'c/templates/x.yaml' .*{said} to '/etc/passwd'"):
        chart_content_digest(_with_link(kind, "c/templates/x.yaml", "/etc/passwd"))


def test_directory_members_do_not_change_the_digest() -> None:
    """Decided: directory entries do not count (``helm package`` writes none, and counting them
    would change the digests pinned before): a directory matters through its files only."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        directory = tarfile.TarInfo("c")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        chart = tarfile.TarInfo("c/Chart.yaml")
        chart.size = 8
        archive.addfile(chart, io.BytesIO(b"name: c\n"))
    plain = chart_tgz({"c/Chart.yaml": b"name: c\n"}, mtime=3)
    assert chart_content_digest(buffer.getvalue()) == chart_content_digest(plain)


@pytest.mark.parametrize(
    "pin", [p for p in versions.UPSTREAM_FILES if p.digest == "chart"], ids=lambda p: p.path
)
def test_every_pinned_chart_still_verifies_from_the_shared_mirror(pin: UpstreamFile) -> None:
    source = SHARED_MIRROR / pin.path
    if not source.is_file():
        pytest.skip(f"{source} is not on this machine")
    upstream.verify(pin, source.read_bytes(), origin=str(source))


def test_a_mirror_chart_that_is_not_an_archive_names_the_file_and_the_mirror(
    tmp_path: Path,
) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "charts").mkdir(parents=True)
    (mirror / "charts" / "c-1.0.0.tgz").write_text("<html>a proxy's error page</html>")
    pin = UpstreamFile(
        path="charts/c-1.0.0.tgz", url="https://127.0.0.1:9/c.tgz", sha256="0" * 64, digest="chart"
    )
    with pytest.raises(UpstreamError) as caught:
        fetch(root=tmp_path / "root", mirror=mirror, pins=[pin])
    assert str(caught.value).startswith(
        f"charts/c-1.0.0.tgz from {mirror / 'charts' / 'c-1.0.0.tgz'}: not a chart archive (.tgz)"
    )
    assert not (tmp_path / "root" / pin.path).exists()


def test_command_line_reports_one_line_on_failure(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.upstream",
            "--dest",
            str(tmp_path / "root"),
            "--mirror",
            str(tmp_path / "mirror"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("upstream: ") and "missing from the mirror" in line


def test_nothing_in_the_repository_reaches_outside_it() -> None:
    """No test, default or docstring may read the steering folder beside the clone; only the CI
    script points the mirror variable at it."""
    tracked = subprocess.run(
        ["git", "ls-files"], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    ).stdout.split()
    offenders = []
    for name in tracked:
        if name in (".ci/run", "tests/infra/test_upstream.py") or name.endswith((".tgz", ".png")):
            continue
        text = (REPO_ROOT / name).read_text(encoding="utf-8", errors="replace")
        if "../shared" in text or "shared/crds" in text or "shared/charts" in text:
            offenders.append(name)
    assert offenders == []


def _upstream_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != upstream.MIRROR_ENV}
    return subprocess.run(
        [sys.executable, "-m", "infra.upstream", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        env={**environ, **(env or {})},
    )


def test_an_empty_mirror_option_is_refused_not_taken_as_the_current_folder(
    tmp_path: Path,
) -> None:
    """`python -m infra.upstream --mirror ''` used the current folder as the mirror."""
    done = _upstream_cli("--dest", str(tmp_path / "root"), "--mirror", "")
    assert done.returncode == 2
    assert "--mirror" in done.stderr and "empty path" in done.stderr
    assert not (tmp_path / "root").exists()


def test_mirror_errors_name_the_option_or_the_variable_that_was_used(tmp_path: Path) -> None:
    """Errors for `--mirror X` named KUBEAI_UPSTREAM_MIRROR although the flag was used."""
    missing = tmp_path / "no-such-mirror"
    by_flag = _upstream_cli("--dest", str(tmp_path / "root"), "--mirror", str(missing))
    assert by_flag.returncode == 1
    assert f"--mirror {missing} is not a directory" in by_flag.stderr
    assert upstream.MIRROR_ENV not in by_flag.stderr
    by_env = _upstream_cli(
        "--dest", str(tmp_path / "root"), env={upstream.MIRROR_ENV: str(missing)}
    )
    assert by_env.returncode == 1
    assert f"{upstream.MIRROR_ENV} {missing} is not a directory" in by_env.stderr
    (tmp_path / "empty-mirror").mkdir()
    empty = _upstream_cli(
        "--dest", str(tmp_path / "root"), "--mirror", str(tmp_path / "empty-mirror")
    )
    assert "missing from the mirror" in empty.stderr and "(--mirror)" in empty.stderr
    assert upstream.MIRROR_ENV not in empty.stderr


def _fetch_tools_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "kubeai_fetch_tools_args", REPO_ROOT / "tools" / "fetch_tools.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("form", ["equals", "separate"])
def test_fetch_tools_passes_one_dest_to_both_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """`fetch_tools.py --dest=DIR` put the binaries in DIR but the upstream files in the
    repository's .tools/upstream (only `--dest DIR` was looked for)."""
    module = _fetch_tools_module()
    calls: dict[str, list[str]] = {}
    monkeypatch.setattr(
        module, "toolchain_main", lambda argv: calls.setdefault("tools", argv) and 0
    )
    monkeypatch.setattr(
        module.upstream, "main", lambda argv: calls.setdefault("upstream", argv) and 0
    )
    dest = tmp_path / "tools"
    argv = [f"--dest={dest}"] if form == "equals" else ["--dest", str(dest)]
    assert module.main([*argv, "--quiet"]) == 0
    assert calls == {
        "tools": ["--dest", str(dest), "--quiet"],
        "upstream": ["--dest", str(dest / "upstream"), "--quiet"],
    }


def test_fetch_tools_help_is_its_own() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "fetch_tools.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    assert done.stdout.startswith("usage: python tools/fetch_tools.py")
    assert "infra.toolchain" not in done.stdout and "upstream" in done.stdout
