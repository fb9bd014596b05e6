"""The build cache: a binary is rebuilt exactly when its module files, flags or Go change."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from infra.controlplane import build, components
from infra.controlplane.components import Binary

TOOLCHAIN = "go version go1.26.8 linux/amd64"


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Binary:
    """A wrapper module ``demo`` under a temporary MODULES_DIR, with one binary."""
    monkeypatch.setattr(components, "MODULES_DIR", tmp_path / "modules")
    folder = tmp_path / "modules" / "demo"
    folder.mkdir(parents=True)
    (folder / "go.mod").write_text("module demo\n\nrequire example.com/x v1.0.0\n")
    (folder / "go.sum").write_text("example.com/x v1.0.0 h1:abc=\n")
    return Binary("demo", "demo", "example.com/x/cmd/demo", ("-X example.com/x.v=1",))


def install(dest: Path, binary: Binary, key: str) -> None:
    """Put a fake built ``binary`` and its stamp ``key`` into the cache under ``dest``."""
    folder = build.cache_dir(dest)
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    (folder / "bin" / binary.name).write_bytes(b"\x7fELF")
    (folder / build.STAMP_FILE).write_text(json.dumps({binary.name: key}))


def test_stamp_key_follows_module_files_flags_and_toolchain(module: Binary) -> None:
    key = build.stamp_key(module, TOOLCHAIN)
    assert build.stamp_key(module, TOOLCHAIN) == key
    assert build.stamp_key(module, "go version go1.27.0 linux/amd64") != key
    flags = Binary(module.name, module.module, module.package, ("-X example.com/x.v=2",))
    assert build.stamp_key(flags, TOOLCHAIN) != key
    (module.module_dir / "go.sum").write_text("example.com/x v1.0.0 h1:other=\n")
    assert build.stamp_key(module, TOOLCHAIN) != key


def test_stale_lists_missing_and_outdated_binaries_only(module: Binary, tmp_path: Path) -> None:
    dest = tmp_path / "tools"
    assert build.stale(dest, [module], toolchain=TOOLCHAIN) == [module]
    install(dest, module, build.stamp_key(module, TOOLCHAIN))
    assert build.stale(dest, [module], toolchain=TOOLCHAIN) == []
    (module.module_dir / "go.mod").write_text("module demo\n\nrequire example.com/x v1.0.1\n")
    assert build.stale(dest, [module], toolchain=TOOLCHAIN) == [module]


def test_build_command_is_reproducible_and_module_pinned(module: Binary, tmp_path: Path) -> None:
    argv = build.build_command(module, tmp_path / "out", jobs=2)
    assert argv[:3] == ["go", "build", "-p=2"]
    assert "-trimpath" in argv and "-buildvcs=false" in argv
    assert "-ldflags=-s -w -X example.com/x.v=1" in argv
    assert argv[-3:] == ["-o", str(tmp_path / "out"), module.package]
    assert build.GO_ENV == {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}


def test_cache_dir_is_absolute_and_named_after_the_pins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert build.cache_dir(tmp_path) == tmp_path.resolve() / components.release_name()
    monkeypatch.chdir(tmp_path)
    assert (
        build.cache_dir(Path(".tools")) == tmp_path.resolve() / ".tools" / components.release_name()
    )


def test_concurrent_installs_of_one_binary_never_share_a_temporary_name(tmp_path: Path) -> None:
    """Two `make tools` at once: one crashed with FileNotFoundError: .../bin/.kwok.partial ->
    .../bin/kwok, both builds writing (and renaming) the same `.partial` name."""
    target = tmp_path / "bin" / "kwok"
    target.parent.mkdir()
    both_writing = threading.Barrier(2)
    used: list[Path] = []

    def write(path: Path, content: bytes) -> None:
        used.append(path)
        path.write_bytes(content)
        both_writing.wait(timeout=10)  # both are between writing and renaming

    errors: list[BaseException] = []

    def install(content: bytes) -> None:
        try:
            build.install_binary(target, lambda path: write(path, content))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=install, args=(c,)) for c in (b"first", b"second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert len(set(used)) == 2 and all(p.parent.parent == target.parent for p in used)
    assert target.read_bytes() in (b"first", b"second")
    assert [p.name for p in target.parent.iterdir()] == ["kwok"]  # no temporary left over


def test_a_failed_install_leaves_the_old_binary_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "kwok"
    target.write_bytes(b"old")

    def fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise build.BuildError("building kwok failed")

    with pytest.raises(build.BuildError, match="kwok"):
        build.install_binary(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["kwok"]


def test_a_second_builder_waits_for_the_build_lock(tmp_path: Path) -> None:
    folder = tmp_path / "controlplane"
    order: list[str] = []
    waiting: list[str] = []
    first_holds = threading.Event()

    def second() -> None:
        first_holds.wait(timeout=10)
        with build.build_lock(folder, log=waiting.append):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with build.build_lock(folder, log=order.append):
        first_holds.set()
        deadline = time.monotonic() + 10
        while not waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        order.append("first done")
    thread.join(timeout=10)
    assert order == ["first done", "second"]
    assert waiting == [f"waiting for another build of {folder} to finish"]
