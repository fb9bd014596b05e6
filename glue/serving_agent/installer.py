"""The agent's installer: puts verified model versions into Triton's repository, removes old ones.

It owns the model repository directory shared with tritonserver (``<repo>``)::

    <repo>/<model>/<N>/                 an installed version (the artifact's version directory)
    <repo>/<model>/config.pbtxt         the model-level config Triton reads
    <repo>/.kubeai/<model>/<N>.pbtxt    each installed version's own config.pbtxt
    <repo>/.staging/<unique>/           downloads in progress
    <repo>/.trash/<unique>/             directories on their way out

Installing version N: unless ``<repo>/<model>/<N>/`` already holds it verified against the
manifest, the artifact is downloaded into ``.staging/`` (sha256 checked while streaming), passes
the layout pre-flight, its config.pbtxt is stored as ``.kubeai/<model>/<N>.pbtxt`` and its single
version directory is renamed to ``<repo>/<model>/<N>`` (``os.rename``: atomic, and it never
replaces a directory; a corrupted existing one is first moved aside to ``.trash/``). Nothing
below ``<repo>/<model>/`` changes when a step fails.

The model-level config.pbtxt is only rewritten when the config really changes (Triton reloads
every loaded version of a model whose config file changed). Garbage collection keeps the current
version and the ``keep_previous`` versions installed before it; ``.staging/`` and ``.trash/`` are
emptied when the installer starts (leftovers of an interrupted run).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from google.protobuf import text_format
from structlog.typing import FilteringBoundLogger

from glue.artifacts.errors import ChecksumMismatch
from glue.artifacts.manifest import FileDigest, digest_bytes, verify_directory
from glue.artifacts.store import ArtifactStore
from glue.model_registry.schemas import DesiredVersion
from glue.triton.config import ModelConfig
from glue.triton.layout import (
    CONFIG_FILE,
    PYCACHE,
    LayoutError,
    block_bytecode_cache,
    check_artifact,
    check_config_text,
    check_layout,
    is_version_name,
    manifest_version_dir,
)
from glue.triton.repository import SERVING_STATES, RepositoryEntry

STAGING_DIR = ".staging"
META_DIR = ".kubeai"
TRASH_DIR = ".trash"


def same_config(a: ModelConfig, b: ModelConfig) -> bool:
    """True if two ``ModelConfig`` messages are equal apart from ``version_policy``."""
    left, right = ModelConfig(), ModelConfig()
    left.CopyFrom(a)
    right.CopyFrom(b)
    left.ClearField("version_policy")
    right.ClearField("version_policy")
    return bool(left == right)


def verify_installed_directory(directory: Path, files: dict[str, FileDigest]) -> None:
    """Check ``directory`` holds exactly ``files`` (relative path -> digest), ``__pycache__`` aside.

    Entries named ``__pycache__`` (our bytecode blockers, or caches Python wrote) and everything
    below them are ignored unless listed. Raises ``ChecksumMismatch`` naming the first
    difference, ``OSError`` if a file cannot be read.
    """
    verify_directory(directory, files, ignore_names=frozenset({PYCACHE}))


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename.

    Readers see the old or the new content, never a part. Raises ``OSError``.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class Installer:
    """Installs, verifies and removes model versions in the model repository ``repository``.

    Args:
        repository: Triton's model repository directory (created if missing).
        store: where artifacts are downloaded from.
        keep_previous: version directories kept per model besides the current one.

    Creating an installer creates ``.staging/``, ``.kubeai/`` and ``.trash/`` below the
    repository and empties ``.staging/`` and ``.trash/``. Raises ``OSError`` if it cannot.
    """

    def __init__(self, repository: Path, store: ArtifactStore, *, keep_previous: int) -> None:
        self.repository = repository
        self.store = store
        self.keep_previous = keep_previous
        self._history: dict[str, list[int]] = {}
        for name in (STAGING_DIR, META_DIR, TRASH_DIR):
            (self.repository / name).mkdir(parents=True, exist_ok=True)
        self._clean_scratch()

    def version_dir(self, model: str, number: int) -> Path:
        """``<repo>/<model>/<number>``: where version ``number`` of ``model`` is installed."""
        return self.repository / model / str(number)

    def meta_path(self, model: str, number: int) -> Path:
        """``<repo>/.kubeai/<model>/<number>.pbtxt``: the stored config of an installed version."""
        return self.repository / META_DIR / model / f"{number}.pbtxt"

    # -- install --------------------------------------------------------------------------------

    def install(
        self,
        desired: DesiredVersion,
        log: FilteringBoundLogger,
        *,
        before_download: Callable[[], None] | None = None,
    ) -> ModelConfig:
        """Put verified files of ``desired`` at ``<repo>/<model>/<N>``; return its parsed config.

        A directory already there is reused when it matches the manifest, else moved aside and
        downloaded again. ``before_download`` runs right before a download (not when the
        installed files are reused) and may raise to prevent it (the agent makes room and
        checks the disk budget there; what it raises propagates). Raises ``LayoutError``
        (manifest or staged files are not one valid Triton version), ``ArtifactError`` and its
        subclasses (download, e.g. ``ChecksumMismatch``), ``OSError``; the staging directory is
        removed in every case.
        """
        model, number = desired.model, desired.version
        artifact_version = manifest_version_dir(desired.manifest.files)
        target = self.version_dir(model, number)
        if target.exists():
            try:
                config = self._verify_installed(desired, artifact_version)
                block_bytecode_cache(target)
                log.info("version_reused", path=str(target))
                return config
            except (ChecksumMismatch, LayoutError, OSError, UnicodeDecodeError) as exc:
                aside = self._trash_path(model, number)
                log.warning("version_dir_corrupted", error=str(exc), moved_to=str(aside))
                os.rename(target, aside)
                shutil.rmtree(aside, ignore_errors=True)
        if before_download is not None:
            before_download()
        stage = self.repository / STAGING_DIR / f"{model}-{number}-{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        try:
            log.info("download_started", uri=desired.artifact_uri)
            self.store.download_dir(desired.artifact_uri, stage, desired.manifest)
            checked = check_layout(stage, model)
            block_bytecode_cache(checked.version_dir)
            meta = self.meta_path(model, number)
            meta.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(meta, checked.config_text.encode("utf-8"))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(checked.version_dir, target)
            log.info(
                "version_installed",
                path=str(target),
                bytes=desired.manifest.total_bytes,
                seconds=round(time.perf_counter() - started, 3),
            )
            return checked.config
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _verify_installed(self, desired: DesiredVersion, artifact_version: str) -> ModelConfig:
        """Check ``<repo>/<model>/<N>`` and its stored config against the manifest.

        The stored config and the manifest's paths pass ``check_artifact`` again (the checks
        registration applies), so a reused version meets the same rules as a downloaded one.
        """
        prefix = artifact_version + "/"
        files = {
            key[len(prefix) :]: digest
            for key, digest in desired.manifest.files.items()
            if key.startswith(prefix)
        }
        verify_installed_directory(self.version_dir(desired.model, desired.version), files)
        meta = self.meta_path(desired.model, desired.version)
        if not meta.is_file():
            raise ChecksumMismatch(
                f"{meta} (the version's config.pbtxt) is missing", field=CONFIG_FILE
            )
        data = meta.read_bytes()
        expected = desired.manifest.files[CONFIG_FILE]
        if digest_bytes(data) != expected:
            raise ChecksumMismatch(
                f"{meta} does not match the manifest's config.pbtxt", field=CONFIG_FILE
            )
        return check_artifact(desired.manifest.files, data.decode("utf-8"), desired.model).config

    def installed_config(self, model: str, number: int) -> ModelConfig:
        """Parsed stored config of an installed version (else the model-level config.pbtxt).

        Raises ``LayoutError`` (field ``config.pbtxt``) when neither is readable and valid.
        """
        for path in (self.meta_path(model, number), self.repository / model / CONFIG_FILE):
            try:
                return check_config_text(path.read_text(encoding="utf-8"), model)
            except (OSError, UnicodeDecodeError, LayoutError):
                continue
        raise LayoutError("no stored config.pbtxt for the served version", field=CONFIG_FILE)

    def write_model_config(self, model: str, config: ModelConfig) -> bool:
        """Write ``<repo>/<model>/config.pbtxt`` if missing or different; True if written.

        Raises ``OSError``.
        """
        path = self.repository / model / CONFIG_FILE
        with contextlib.suppress(OSError, UnicodeDecodeError, LayoutError):
            if same_config(check_config_text(path.read_text(encoding="utf-8"), model), config):
                return False
        atomic_write(path, text_format.MessageToString(config).encode("utf-8"))
        return True

    # -- garbage collection ---------------------------------------------------------------------

    def remember(self, model: str, number: int) -> None:
        """Record ``number`` as the most recently served version of ``model`` (for collection).

        The first call for a model starts from the versions on disk, oldest install first.
        """
        history = self._history.setdefault(model, self._disk_history(model))
        if number in history:
            history.remove(number)
        history.append(number)

    def _disk_history(self, model: str) -> list[int]:
        """Installed versions of ``model``, oldest install first (directory mtime)."""
        directory = self.repository / model
        if not directory.is_dir():
            return []
        found = []
        for path in directory.iterdir():
            if path.is_dir() and is_version_name(path.name):
                with contextlib.suppress(OSError):
                    found.append((path.stat().st_mtime, int(path.name)))
        return [n for _, n in sorted(found)]

    def collect_garbage(
        self, model: str, current: int, index: list[RepositoryEntry], log: FilteringBoundLogger
    ) -> None:
        """Remove version directories other than ``current`` and the last kept previous ones.

        Versions the index shows READY, LOADING or UNLOADING are left for a later pass. A
        directory that cannot be moved aside is logged (``gc_failed``) and left; never raises.
        """
        history = [v for v in self._history.get(model, []) if v != current]
        self.remove_versions(
            model, {current, *history[len(history) - self.keep_previous :]}, index, log
        )

    def installed_models(self) -> list[str]:
        """Names of the models with a directory in the repository, sorted."""
        return sorted(
            p.name for p in self.repository.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def remove_versions(
        self, model: str, keep: set[int], index: list[RepositoryEntry], log: FilteringBoundLogger
    ) -> None:
        """Remove the version directories of ``model`` not in ``keep`` (and their stored configs).

        Versions the index shows READY, LOADING or UNLOADING are left for a later pass. A
        directory that cannot be moved aside is logged (``gc_failed``) and left; never raises.
        """
        busy = {e.version for e in index if e.name == model and e.state in SERVING_STATES}
        for number in self._disk_history(model):
            if number in keep or number in busy:
                continue
            aside = self._trash_path(model, number)
            try:
                os.rename(self.version_dir(model, number), aside)
            except OSError as exc:
                log.warning("gc_failed", removed_version=number, error=str(exc))
                continue
            shutil.rmtree(aside, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                self.meta_path(model, number).unlink()
            self._history[model] = [v for v in self._history.get(model, []) if v != number]
            log.info("version_removed", removed_version=number)

    def _trash_path(self, model: str, number: int) -> Path:
        return self.repository / TRASH_DIR / f"{model}-{number}-{uuid.uuid4().hex[:8]}"

    def _clean_scratch(self) -> None:
        """Remove leftovers of interrupted downloads and removals (at start)."""
        for name in (STAGING_DIR, TRASH_DIR):
            for child in (self.repository / name).iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        child.unlink()
