"""The agent's disk budget: what the model repository holds, may hold, and a download needs.

Kubernetes evicts a pod whose ``emptyDir`` outgrows its ``sizeLimit``, so the agent must never
start a download that cannot fit. The budget is ``KUBEAI_AGENT_REPOSITORY_BUDGET_BYTES`` (the
triton-inference chart sets it to the model repository's ``sizeLimit``); unset, the repository
may grow into the free space of its filesystem. Whatever the budget, the filesystem's free space
also bounds a download.

Usage is measured like ``du`` and the kubelet measure a volume: the blocks allocated to every
file and directory below the repository (a hard-linked file once, symlinks not followed), the
downloads in progress in ``.staging/`` included. What a version needs is its manifest's files,
each rounded up to whole filesystem blocks, plus the copy of its ``config.pbtxt`` the installer
keeps and a block per directory.

The agent removes versions no longer desired first (``agent.py``), then asks ``check_fit``: a
version that does not fit is refused with ``InsufficientSpace`` (reported FAILED to the registry,
the served version keeps serving) instead of filling the volume.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from glue.artifacts.manifest import Manifest
from glue.triton.layout import CONFIG_FILE

#: The environment variable of the budget (named in errors).
BUDGET_VARIABLE = "KUBEAI_AGENT_REPOSITORY_BUDGET_BYTES"


class InsufficientSpace(OSError):  # noqa: N818 - reads as a state in `except` clauses
    """A version cannot be downloaded: the repository's budget or filesystem lacks the room.

    An ``OSError`` with ``errno.ENOSPC``. Attributes: ``need`` and ``available`` (bytes).
    """

    def __init__(self, message: str, *, need: int, available: int) -> None:
        super().__init__(errno.ENOSPC, message)
        self.need = need
        self.available = available

    def __str__(self) -> str:
        return str(self.strerror)


def disk_usage(root: Path) -> int:
    """Bytes allocated on disk below ``root`` (``root`` itself included), like ``du -s``.

    Each inode counts once (hard links), symlinks are not followed, entries that vanish while
    walking (a concurrent removal) are skipped. 0 when ``root`` does not exist.
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    pending = [str(root)]
    while pending:
        path = pending.pop()
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            try:
                with os.scandir(path) as entries:
                    pending.extend(entry.path for entry in entries)
            except (FileNotFoundError, NotADirectoryError):
                continue
    return total


def required_bytes(manifest: Manifest, block_size: int) -> int:
    """Bytes installing ``manifest``'s version takes on a filesystem of ``block_size`` blocks.

    Every file rounded up to whole blocks, the installer's copy of ``config.pbtxt`` once more,
    and one block per directory the files need.
    """

    def blocks(size: int) -> int:
        return -(-size // block_size) * block_size

    files = sum(blocks(d.size) for d in manifest.files.values())
    config = manifest.files.get(CONFIG_FILE)
    directories = {str(p) for key in manifest.files for p in PurePosixPath(key).parents}
    return files + (blocks(config.size) if config else 0) + len(directories) * block_size


def _size(n: int) -> str:
    """``n`` bytes for people: ``5.0 MiB (5242880 bytes)``."""
    value, unit = float(n), "bytes"
    for next_unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024:
            break
        value, unit = value / 1024, next_unit
    return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({n} bytes)"


@dataclass(frozen=True)
class Space:
    """One look at the repository's space (bytes).

    Attributes:
        usage: allocated below the repository now.
        free: free on its filesystem (for an unprivileged writer).
        budget: the configured budget, or None.
        available: what a new download may take: ``min(budget - usage, free)``, or ``free``.
    """

    usage: int
    free: int
    budget: int | None

    @property
    def available(self) -> int:
        """Bytes a new download may take (never negative)."""
        if self.budget is None:
            return max(self.free, 0)
        return max(min(self.budget - self.usage, self.free), 0)


class DiskBudget:
    """The model repository's budget and the fit decision for downloads.

    Args:
        repository: the model repository directory (it must exist for ``space``).
        budget: bytes the repository may hold (``sizeLimit`` of its volume), or None for
            "the filesystem's free space".
    """

    def __init__(self, repository: Path, budget: int | None) -> None:
        self.repository = repository
        self.budget = budget

    def space(self) -> Space:
        """Measure usage and free space now. Raises ``OSError`` if the repository is missing."""
        free = shutil.disk_usage(self.repository).free
        return Space(usage=disk_usage(self.repository), free=free, budget=self.budget)

    def need(self, manifest: Manifest) -> int:
        """Bytes a version with ``manifest`` takes once installed here (see ``required_bytes``)."""
        return required_bytes(manifest, os.statvfs(self.repository).f_bsize)

    def fits(self, manifest: Manifest) -> bool:
        """True if a version with ``manifest`` fits in what is available now."""
        return self.need(manifest) <= self.space().available

    def check_fit(self, model: str, version: int, manifest: Manifest) -> None:
        """Raise ``InsufficientSpace`` unless version ``version`` of ``model`` fits now.

        The message names the need, the budget (and its variable) or the filesystem's free
        space, and what the repository holds.
        """
        need = self.need(manifest)
        space = self.space()
        if need <= space.available:
            return
        if space.budget is not None and space.budget - space.usage <= space.free:
            limit = (
                f"the model repository {self.repository} has {_size(space.available)} left of "
                f"its budget of {_size(space.budget)} ({BUDGET_VARIABLE}; "
                f"{_size(space.usage)} in use)"
            )
        else:
            unset = "" if space.budget is not None else f"; {BUDGET_VARIABLE} is not set"
            limit = (
                f"the filesystem of the model repository {self.repository} has "
                f"{_size(space.free)} free ({_size(space.usage)} in use by the repository{unset})"
            )
        raise InsufficientSpace(
            f"version {version} of {model} needs {_size(need)} on disk but {limit}, after "
            "removing every version that is neither desired nor served; the served version "
            "keeps serving",
            need=need,
            available=space.available,
        )
