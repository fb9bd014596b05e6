"""``benchmarks.support``: the process-tree memory sampler, on a fake ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.support import NamedProcessPeaks, descendants, proc_status_bytes, process_name


def _process(
    proc: Path,
    pid: int,
    ppid: int,
    *,
    exe: str | None,
    comm: str,
    rss_kib: int = 0,
    hwm_kib: int = 0,
) -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    (folder / "stat").write_text(f"{pid} ({comm}) S {ppid} 1 1 0 -1\n")
    (folder / "comm").write_text(comm[:15] + "\n")
    (folder / "status").write_text(
        f"Name:\t{comm[:15]}\nVmHWM:\t{hwm_kib} kB\nVmRSS:\t{rss_kib} kB\nThreads:\t4\n"
    )
    if exe is not None:
        os.symlink(exe, folder / "exe")


def _tree(proc: Path) -> None:
    """1 (init) ─ 10 (benchmark) ─ 20 (pulumi) ─ 30 (provider, no readable exe)
    and, outside the benchmark's tree, 40 (another user's pulumi)."""
    _process(proc, 1, 0, exe="/sbin/init", comm="init")
    _process(proc, 10, 1, exe="/usr/bin/python3", comm="python", rss_kib=50_000, hwm_kib=60_000)
    _process(proc, 20, 10, exe="/t/bin/pulumi", comm="pulumi", rss_kib=100, hwm_kib=300)
    _process(proc, 30, 20, exe=None, comm="pulumi-resource-kubernetes", rss_kib=200, hwm_kib=700)
    _process(proc, 40, 1, exe="/t/bin/pulumi", comm="pulumi", rss_kib=9_000, hwm_kib=9_000)
    (proc / "self").mkdir()  # not a pid: skipped


def test_descendants_walk_the_whole_tree_below_the_root(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert descendants(10, tmp_path) == {20, 30}
    assert descendants(1, tmp_path) == {10, 20, 30, 40}
    assert descendants(30, tmp_path) == set()


def test_process_name_is_the_executable_else_comm(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert process_name(20, tmp_path) == "pulumi"
    assert process_name(30, tmp_path) == "pulumi-resource"  # comm: cut to 15 characters
    assert process_name(99, tmp_path) is None


def test_proc_status_bytes_reads_rss_and_hwm(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert proc_status_bytes(20, tmp_path) == {"VmRSS": 100 * 1024, "VmHWM": 300 * 1024}
    assert proc_status_bytes(99, tmp_path) == {}


def test_named_process_peaks_sums_only_named_descendants(tmp_path: Path) -> None:
    _tree(tmp_path)
    peaks = NamedProcessPeaks(("pulumi", "pulumi-resource-kubernetes"), root=10, proc=tmp_path)
    assert peaks() == (100 + 200) * 1024  # pid 40 is not below the root, the python is unnamed
    assert peaks.peaks == {"pulumi": 300 * 1024, "pulumi-resource-kubernetes": 700 * 1024}
    assert peaks.pids == {"pulumi": {20}, "pulumi-resource-kubernetes": {30}}


def test_named_process_peaks_keeps_the_largest_hwm_and_windows(tmp_path: Path) -> None:
    _tree(tmp_path)
    peaks = NamedProcessPeaks(("pulumi",), root=10, proc=tmp_path)
    peaks()
    assert peaks.take_window() == {"pulumi": 300 * 1024}
    # the operation ends, a new engine process (smaller) starts for the next one
    (tmp_path / "20" / "status").unlink()
    _process(tmp_path, 21, 10, exe="/t/bin/pulumi", comm="pulumi", rss_kib=50, hwm_kib=100)
    assert peaks() == 50 * 1024
    assert peaks.take_window() == {"pulumi": 100 * 1024}
    assert peaks.take_window() == {}
    assert peaks.peaks == {"pulumi": 300 * 1024}
    assert peaks.pids == {"pulumi": {20, 21}}
