"""The installer: config comparison, installed-files check, atomic writes, install and cleanup."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from glue.artifacts.errors import ChecksumMismatch
from glue.artifacts.manifest import build_manifest
from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.model_registry.schemas import DesiredVersion
from glue.serving_agent.installer import (
    Installer,
    atomic_write,
    same_config,
    verify_installed_directory,
)
from glue.triton.config import parse_model_config
from glue.triton.layout import LayoutError
from glue.triton.repository import RepositoryEntry
from tests.support.triton import CONFIG_PBTXT, write_model

LOG = structlog.get_logger("test")


def config(extra: str = ""):
    return parse_model_config(CONFIG_PBTXT.format(name="m", extra=extra))


def test_same_config_ignores_version_policy_only() -> None:
    assert same_config(config(), config("version_policy: { specific: { versions: [3] } }"))
    assert not same_config(
        config(), config('max_batch_size: 0\nparameters { key: "a" value: { string_value: "b" } }')
    )
    assert not same_config(config(), config('default_model_filename: "x.py"'))


def test_verify_installed_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "model.py").write_text("x = 1\n")
    (tmp_path / "sub" / "w.bin").write_bytes(b"\x00\x01")
    files = dict(build_manifest(tmp_path).files)
    (tmp_path / "__pycache__").write_text("")  # our blocker and Python caches are ignored
    (tmp_path / "sub" / "__pycache__").mkdir()
    (tmp_path / "sub" / "__pycache__" / "w.cpython-311.pyc").write_bytes(b"c")
    verify_installed_directory(tmp_path, files)

    (tmp_path / "extra.txt").write_text("")
    with pytest.raises(ChecksumMismatch, match=r"unexpected file 'extra\.txt'"):
        verify_installed_directory(tmp_path, files)
    (tmp_path / "extra.txt").unlink()
    (tmp_path / "sub" / "w.bin").write_bytes(b"\x00\x02")
    with pytest.raises(ChecksumMismatch) as caught:
        verify_installed_directory(tmp_path, files)
    assert caught.value.field == "sub/w.bin"
    (tmp_path / "sub" / "w.bin").unlink()
    with pytest.raises(ChecksumMismatch, match="missing"):
        verify_installed_directory(tmp_path, files)


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "config.pbtxt"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["config.pbtxt"]


# -- the installer on a real local artifact store -------------------------------------------------

MODEL = "m"


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    (tmp_path / "artifacts").mkdir()
    return ArtifactStore(ArtifactSettings(local_root=tmp_path / "artifacts"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path / "repository"


@pytest.fixture
def installer(repo: Path, store: ArtifactStore) -> Installer:
    return Installer(repo, store, keep_previous=1)


def stored_version(
    store: ArtifactStore, tmp_path: Path, number: int, k: float = 2.0, *, extra_dir: bool = False
) -> DesiredVersion:
    """An artifact of a model answering ``x * k`` in the store, desired as version ``number``."""
    uid = uuid.uuid4().hex[:12]
    source = write_model(tmp_path / "src" / uid, MODEL, k)
    if extra_dir:  # a second version directory: not a valid single-version artifact
        (source / "2").mkdir()
        (source / "2" / "model.py").write_text("")
    uri = store.local_uri("models", MODEL, uid)
    manifest = store.upload_dir(source, uri)
    return DesiredVersion(
        model=MODEL, version=number, role="primary", artifact_uri=uri, manifest=manifest
    )


def artifact_file(desired: DesiredVersion, relative: str) -> Path:
    """A file of the stored artifact (``""``: its directory)."""
    return Path(desired.artifact_uri.removeprefix("file://")) / relative


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path below ``root`` -> file content (None for a directory)."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def test_install_puts_verified_files_at_the_registry_version_number(
    installer: Installer, store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    desired = stored_version(store, tmp_path, 7)
    with capture_logs() as logs:
        installed = installer.install(desired, LOG)
    assert installed.name == MODEL and installed.backend == "python"
    assert (repo / MODEL / "7" / "model.py").is_file()
    assert (repo / MODEL / "7" / "k.txt").read_text() == "2.0\n"
    assert (repo / MODEL / "7" / "__pycache__").is_file()  # bytecode blocker
    assert not (repo / MODEL / "1").exists()  # the artifact's own number does not matter
    assert (
        installer.meta_path(MODEL, 7).read_bytes()
        == artifact_file(desired, "config.pbtxt").read_bytes()
    )
    assert not (repo / MODEL / "config.pbtxt").exists()  # written by a swap, not an install
    assert list((repo / ".staging").iterdir()) == []
    assert [e["event"] for e in logs] == ["download_started", "version_installed"]


def test_install_refuses_a_file_whose_sha256_differs_and_leaves_the_repository_untouched(
    installer: Installer, store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    installer.install(stored_version(store, tmp_path, 1, 2.0), LOG)
    desired = stored_version(store, tmp_path, 2, 3.0)
    artifact_file(desired, "1/k.txt").write_bytes(b"9.0\n")  # same size, other bytes
    before = tree(repo)
    with pytest.raises(ChecksumMismatch) as caught:
        installer.install(desired, LOG)
    assert caught.value.field == "1/k.txt" and "sha256" in str(caught.value)
    assert tree(repo) == before


def test_install_refuses_a_bad_layout_from_the_manifest_before_downloading(
    installer: Installer, store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    desired = stored_version(store, tmp_path, 3, extra_dir=True)
    before = tree(repo)
    with capture_logs() as logs, pytest.raises(LayoutError, match="exactly one version directory"):
        installer.install(desired, LOG)
    assert logs == []  # no download_started
    assert tree(repo) == before


def test_install_applies_the_registration_checks_to_what_it_downloaded(
    installer: Installer, store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    """An artifact registered before the shared checks existed is still refused by the agent."""
    source = write_model(
        tmp_path / "src" / "env",
        MODEL,
        2.0,
        config_extra='parameters { key: "EXECUTION_ENV_PATH" '
        'value: { string_value: "$$TRITON_MODEL_DIRECTORY/python-env.tar.gz" } }\n',
    )
    (source / "python-env.tar.gz").write_bytes(b"tar")
    uri = store.local_uri("models", MODEL, "env")
    desired = DesiredVersion(
        model=MODEL,
        version=6,
        role="primary",
        artifact_uri=uri,
        manifest=store.upload_dir(source, uri),
    )
    before = tree(repo)
    with pytest.raises(LayoutError) as caught:
        installer.install(desired, LOG)
    assert caught.value.field == "config.pbtxt:parameters[EXECUTION_ENV_PATH]"
    assert tree(repo) == before


def test_installed_version_is_reused_without_downloading_again(
    installer: Installer, store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    desired = stored_version(store, tmp_path, 4)
    installer.install(desired, LOG)
    shutil.rmtree(artifact_file(desired, ""))  # the store no longer has it
    restarted = Installer(repo, store, keep_previous=1)  # a new process, same files
    with capture_logs() as logs:
        reused = restarted.install(desired, LOG)
    assert reused.name == MODEL
    assert [e["event"] for e in logs] == ["version_reused"]


def test_corrupted_installed_version_is_moved_aside_and_downloaded_again(
    installer: Installer, store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    desired = stored_version(store, tmp_path, 5, 3.0)
    installer.install(desired, LOG)
    (repo / MODEL / "5" / "k.txt").write_text("7.0\n")  # bit rot on the node
    with capture_logs() as logs:
        installer.install(desired, LOG)
    assert [e["event"] for e in logs] == [
        "version_dir_corrupted",
        "download_started",
        "version_installed",
    ]
    assert (repo / MODEL / "5" / "k.txt").read_text() == "3.0\n"
    assert list((repo / ".trash").iterdir()) == []


def test_stored_config_missing_or_changed_means_downloading_again(
    installer: Installer, store: ArtifactStore, tmp_path: Path
) -> None:
    desired = stored_version(store, tmp_path, 6)
    installer.install(desired, LOG)
    installer.meta_path(MODEL, 6).write_text(
        installer.meta_path(MODEL, 6).read_text() + "\n# edited\n"
    )
    with capture_logs() as logs:
        installer.install(desired, LOG)
    assert logs[0]["event"] == "version_dir_corrupted"
    assert "does not match the manifest's config.pbtxt" in logs[0]["error"]
    installer.meta_path(MODEL, 6).unlink()
    with capture_logs() as logs:
        installer.install(desired, LOG)
    assert "is missing" in logs[0]["error"]
    assert installer.meta_path(MODEL, 6).is_file()


def test_installed_config_falls_back_to_the_model_config_then_raises(
    installer: Installer, store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    installer.install(stored_version(store, tmp_path, 1), LOG)
    assert installer.installed_config(MODEL, 1).name == MODEL
    with pytest.raises(LayoutError, match=r"no stored config\.pbtxt") as caught:
        installer.installed_config(MODEL, 2)
    assert caught.value.field == "config.pbtxt"
    (repo / MODEL / "config.pbtxt").write_text(CONFIG_PBTXT.format(name=MODEL, extra=""))
    assert installer.installed_config(MODEL, 2).name == MODEL  # the model-level config


def test_write_model_config_only_when_it_really_changes(installer: Installer, repo: Path) -> None:
    (repo / MODEL).mkdir(parents=True)
    path = repo / MODEL / "config.pbtxt"
    first = parse_model_config(CONFIG_PBTXT.format(name=MODEL, extra=""))
    assert installer.write_model_config(MODEL, first) is True
    assert parse_model_config(path.read_text()) == first
    written = path.stat().st_mtime_ns
    policy = parse_model_config(
        CONFIG_PBTXT.format(name=MODEL, extra="version_policy: { specific: { versions: [3] } }")
    )
    assert installer.write_model_config(MODEL, policy) is False  # only the version policy
    assert installer.write_model_config(MODEL, first) is False
    assert path.stat().st_mtime_ns == written
    other = parse_model_config(
        CONFIG_PBTXT.format(name=MODEL, extra='default_model_filename: "x.py"')
    )
    assert installer.write_model_config(MODEL, other) is True
    assert parse_model_config(path.read_text()) == other
    path.write_text("not a config")  # unreadable: replaced
    assert installer.write_model_config(MODEL, first) is True
    assert [p.name for p in (repo / MODEL).iterdir()] == ["config.pbtxt"]


def test_garbage_collection_keeps_current_previous_and_busy_versions(
    installer: Installer, store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    for number in (1, 2, 3, 4):
        installer.install(stored_version(store, tmp_path, number), LOG)
        installer.remember(MODEL, number)
    busy = [RepositoryEntry(name=MODEL, version=2, state="UNLOADING", reason="")]
    with capture_logs() as logs:
        installer.collect_garbage(MODEL, 4, busy, LOG)
    assert sorted(p.name for p in (repo / MODEL).iterdir()) == ["2", "3", "4"]
    assert [(e["event"], e["removed_version"]) for e in logs] == [("version_removed", 1)]
    assert not installer.meta_path(MODEL, 1).exists()
    installer.collect_garbage(MODEL, 4, [], LOG)  # 2 finished unloading
    assert sorted(p.name for p in (repo / MODEL).iterdir()) == ["3", "4"]
    assert list((repo / ".trash").iterdir()) == []
    # A rollback to 3 keeps 4 as the previous version.
    installer.remember(MODEL, 3)
    installer.collect_garbage(MODEL, 3, [], LOG)
    assert sorted(p.name for p in (repo / MODEL).iterdir()) == ["3", "4"]


def test_keep_previous_zero_keeps_only_the_current_version(
    store: ArtifactStore, repo: Path, tmp_path: Path
) -> None:
    installer = Installer(repo, store, keep_previous=0)
    for number in (1, 2):
        installer.install(stored_version(store, tmp_path, number), LOG)
        installer.remember(MODEL, number)
    installer.collect_garbage(MODEL, 2, [], LOG)
    assert [p.name for p in (repo / MODEL).iterdir()] == ["2"]


def test_start_empties_staging_and_trash(store: ArtifactStore, repo: Path) -> None:
    for name in (".staging", ".trash"):
        (repo / name / "left-over" / "1").mkdir(parents=True)
        (repo / name / "left-over" / "1" / "w.bin").write_bytes(b"x")
        (repo / name / "stray-file").write_bytes(b"x")
    (repo / ".kubeai" / MODEL).mkdir(parents=True)
    (repo / ".kubeai" / MODEL / "1.pbtxt").write_text("kept")
    Installer(repo, store, keep_previous=1)
    assert list((repo / ".staging").iterdir()) == []
    assert list((repo / ".trash").iterdir()) == []
    assert (repo / ".kubeai" / MODEL / "1.pbtxt").read_text() == "kept"
