"""The build cache: a binary is rebuilt exactly when its module files, flags or Go change."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from infra import gobuild
from infra.gobuild import Binary, BuildError, Release

TOOLCHAIN = "go version go1.26.8 linux/amd64"


@pytest.fixture
def module(tmp_path: Path) -> Binary:
    """A wrapper module ``demo`` (go.mod and go.sum, no code) with one binary."""
    folder = tmp_path / "modules" / "demo"
    folder.mkdir(parents=True)
    (folder / "go.mod").write_text("module demo\n\nrequire example.com/x v1.0.0\n")
    (folder / "go.sum").write_text("example.com/x v1.0.0 h1:abc=\n")
    return Binary("demo", folder, "example.com/x/cmd/demo", ("-X example.com/x.v=1",))


def release(*binaries: Binary) -> Release:
    """A release ``demo-v1`` of ``binaries``, built by ``make demo-tools``."""
    return Release("demo-v1", binaries, title="demo", make_target="demo-tools")


def install(dest: Path, binary: Binary, key: str) -> None:
    """Put a fake built ``binary`` and its stamp ``key`` into the cache under ``dest``."""
    folder = release(binary).cache_dir(dest)
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    (folder / "bin" / binary.name).write_bytes(b"\x7fELF")
    (folder / gobuild.STAMP_FILE).write_text(json.dumps({binary.name: key}))


def test_stamp_key_follows_module_files_flags_and_toolchain(module: Binary) -> None:
    key = gobuild.stamp_key(module, TOOLCHAIN)
    assert gobuild.stamp_key(module, TOOLCHAIN) == key
    assert gobuild.stamp_key(module, "go version go1.27.0 linux/amd64") != key
    flags = Binary(module.name, module.module_dir, module.package, ("-X example.com/x.v=2",))
    assert gobuild.stamp_key(flags, TOOLCHAIN) != key
    (module.module_dir / "go.sum").write_text("example.com/x v1.0.0 h1:other=\n")
    assert gobuild.stamp_key(module, TOOLCHAIN) != key


def test_stamp_key_of_a_module_without_code_is_what_existing_caches_hold(module: Binary) -> None:
    """The digest the control plane's stamps were written with before the engine came: a
    change here rebuilds every warm machine's control plane (30 minutes)."""
    assert gobuild.stamp_key(module, TOOLCHAIN) == (
        "0b97235033af9533943cbfa31e501187eb7e03fa5d2c217c9f92cde499917728"
    )


def test_stamp_key_follows_the_module_go_sources_only(module: Binary) -> None:
    key = gobuild.stamp_key(module, TOOLCHAIN)
    (module.module_dir / "embed").mkdir()
    (module.module_dir / "embed" / "schema.json").write_text("{}")  # decided by go.sum
    (module.module_dir / "README.md").write_text("notes")
    assert gobuild.stamp_key(module, TOOLCHAIN) == key
    (module.module_dir / "main.go").write_text("package main\n\nfunc main() {}\n")
    with_main = gobuild.stamp_key(module, TOOLCHAIN)
    assert with_main != key
    (module.module_dir / "main.go").write_text("package main\n\nfunc main() { println() }\n")
    assert gobuild.stamp_key(module, TOOLCHAIN) not in (key, with_main)


def test_stale_lists_missing_and_outdated_binaries_only(module: Binary, tmp_path: Path) -> None:
    dest = tmp_path / "tools"
    assert release(module).stale(dest, toolchain=TOOLCHAIN) == [module]
    install(dest, module, gobuild.stamp_key(module, TOOLCHAIN))
    assert release(module).stale(dest, toolchain=TOOLCHAIN) == []
    (module.module_dir / "go.mod").write_text("module demo\n\nrequire example.com/x v1.0.1\n")
    assert release(module).stale(dest, toolchain=TOOLCHAIN) == [module]


def test_installed_names_the_stale_binaries_and_the_make_target(
    module: Binary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gobuild, "go_version", lambda: TOOLCHAIN)
    dest = tmp_path / "tools"
    with pytest.raises(
        BuildError, match=r"demo binaries missing or stale in .*: demo \(run `make demo-tools`\)"
    ):
        release(module).installed(dest)
    install(dest, module, gobuild.stamp_key(module, TOOLCHAIN))
    folder = release(module).cache_dir(dest)
    assert release(module).installed(dest) == {"demo": folder / "bin" / "demo"}


def test_build_command_is_reproducible_and_module_pinned(module: Binary, tmp_path: Path) -> None:
    argv = gobuild.build_command(module, tmp_path / "out", jobs=2)
    assert argv[:3] == ["go", "build", "-p=2"]
    assert "-trimpath" in argv and "-buildvcs=false" in argv
    assert "-ldflags=-s -w -X example.com/x.v=1" in argv
    assert argv[-3:] == ["-o", str(tmp_path / "out"), module.package]
    assert gobuild.GO_ENV == {
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=readonly",
    }


def test_cache_dir_is_absolute_and_named_after_the_release(
    module: Binary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert release(module).cache_dir(tmp_path) == tmp_path.resolve() / "demo-v1"
    monkeypatch.chdir(tmp_path)
    assert release(module).cache_dir(Path(".tools")) == tmp_path / ".tools" / "demo-v1"


def test_build_prepares_and_stamps_only_what_is_stale(
    module: Binary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prepare`` runs right before its binary's build, never for an up-to-date binary."""
    events: list[str] = []
    monkeypatch.setattr(gobuild, "go_version", lambda: TOOLCHAIN)

    def fake_go_build(binary: Binary, output: Path, jobs: int) -> None:
        events.append(f"build {binary.name} -p={jobs}")
        output.write_bytes(b"\x7fELF")

    monkeypatch.setattr(gobuild, "_go_build", fake_go_build)
    prepared = Binary(
        "prepared",
        module.module_dir,
        "example.com/x/cmd/p",
        prepare=lambda b: events.append(f"prepare {b.name}"),
    )
    demo = release(module, prepared)
    dest = tmp_path / "tools"
    logged: list[str] = []
    paths = demo.build(dest, log=logged.append)
    assert events == ["build demo -p=2", "prepare prepared", "build prepared -p=2"]
    assert paths == {b.name: demo.cache_dir(dest) / "bin" / b.name for b in (module, prepared)}
    stamp = json.loads((demo.cache_dir(dest) / gobuild.STAMP_FILE).read_text())
    assert stamp == {b.name: gobuild.stamp_key(b, TOOLCHAIN) for b in (module, prepared)}
    assert demo.stale(dest, toolchain=TOOLCHAIN) == []

    events.clear()
    demo.build(dest, log=logged.append)
    assert events == []
    assert logged[-2:] == ["demo: up to date", "prepared: up to date"]


def test_a_failed_prepare_builds_nothing_and_stamps_nothing(
    module: Binary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gobuild, "go_version", lambda: TOOLCHAIN)
    monkeypatch.setattr(gobuild, "_go_build", lambda *a, **k: pytest.fail("built anyway"))

    def refuse(binary: Binary) -> None:
        raise BuildError(f"cannot embed schema.json for {binary.name}")

    broken = Binary(module.name, module.module_dir, module.package, prepare=refuse)
    dest = tmp_path / "tools"
    with pytest.raises(BuildError, match=r"cannot embed schema\.json for demo"):
        release(broken).build(dest, log=lambda _: None)
    folder = release(broken).cache_dir(dest)
    assert list((folder / "bin").iterdir()) == []
    assert not (folder / gobuild.STAMP_FILE).exists()


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
            gobuild.install_binary(target, lambda path: write(path, content))
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
        raise BuildError("building kwok failed")

    with pytest.raises(BuildError, match="kwok"):
        gobuild.install_binary(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["kwok"]


def test_a_second_builder_waits_for_the_build_lock(tmp_path: Path) -> None:
    folder = tmp_path / "controlplane"
    order: list[str] = []
    waiting: list[str] = []
    first_holds = threading.Event()

    def second() -> None:
        first_holds.wait(timeout=10)
        with gobuild.build_lock(folder, log=waiting.append):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with gobuild.build_lock(folder, log=order.append):
        first_holds.set()
        deadline = time.monotonic() + 10
        while not waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        order.append("first done")
    thread.join(timeout=10)
    assert order == ["first done", "second"]
    assert waiting == [f"waiting for another build of {folder} to finish"]
