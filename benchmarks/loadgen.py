"""The benchmarks' HTTP load generator: bombardier, built from a pinned Go module, and its results.

A Python load generator would eat one of the machine's two cores and measure itself; bombardier
(github.com/codesenberg/bombardier, fasthttp) needs a fraction of one. It is pinned at
``BOMBARDIER_VERSION`` by the wrapper module ``tools/loadgen/`` (``go.mod`` + ``go.sum``, a
``tool`` directive naming the main package) and built by ``infra.gobuild`` into
``.tools/loadgen-bombardier-<version>/bin/bombardier``, like the control plane binaries: a
second build is a stamp check. ``python -m benchmarks.loadgen`` (or ``make loadgen``) builds it.

``run(...)`` drives one fixed-duration run (``-c clients -d seconds``, keep-alive connections,
optional headers) and returns a ``LoadResult`` parsed from bombardier's JSON report (``-o j -p r
-l``): requests/s, latency percentiles, status code counts and transport errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.gobuild import DEFAULT_DEST, REPO_ROOT, Binary, Release

BOMBARDIER_MODULE = "github.com/codesenberg/bombardier"
BOMBARDIER_VERSION = "v1.2.6"

RELEASE = Release(
    f"loadgen-bombardier-{BOMBARDIER_VERSION}",
    (Binary("bombardier", REPO_ROOT / "tools" / "loadgen", BOMBARDIER_MODULE),),
    title="load generator",
    make_target="loadgen",
)


@dataclass(frozen=True)
class LoadResult:
    """One bombardier run: ``clients`` connections for ``seconds``.

    Attributes:
        requests: responses received (any status).
        rps: mean requests per second.
        p50_ms, p90_ms, p99_ms, max_ms: latency percentiles and maximum, milliseconds.
        status: count per status class (``2xx``, ``3xx``, ``4xx``, ``5xx``, ``others``).
        errors: transport errors (timeouts, refused or reset connections).
    """

    clients: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    status: dict[str, int]
    errors: int

    @property
    def failed(self) -> int:
        """Responses that are not 2xx/3xx plus transport errors."""
        return self.status.get("4xx", 0) + self.status.get("5xx", 0) + self.errors

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (``failed`` included)."""
        return {**asdict(self), "failed": self.failed}


def binary(dest: Path = DEFAULT_DEST, *, build: bool = True) -> Path:
    """Path of the pinned bombardier, built first when missing or stale (``build``).

    Raises ``infra.gobuild.BuildError`` when Go is missing or the build fails, or (``build``
    False) when the binary is not in place.
    """
    paths = RELEASE.build(dest, log=lambda line: None) if build else RELEASE.installed(dest)
    return paths["bombardier"]


def parse(report: dict[str, Any], *, clients: int, seconds: float) -> LoadResult:
    """A ``LoadResult`` from bombardier's JSON report (``-o j -p r -l``); ``KeyError`` or
    ``ValueError`` when it is not one."""
    result = report["result"]
    latency = result["latency"]
    percentiles = latency.get("percentiles", {})
    codes = {
        "2xx": int(result.get("req2xx", 0)),
        "3xx": int(result.get("req3xx", 0)),
        "4xx": int(result.get("req4xx", 0)),
        "5xx": int(result.get("req5xx", 0)),
        "others": int(result.get("others", 0)),
    }
    errors = sum(int(e.get("count", 0)) for e in result.get("errors") or [])
    return LoadResult(
        clients=clients,
        seconds=seconds,
        requests=sum(codes.values()),
        rps=round(float(result["rps"]["mean"]), 1),
        p50_ms=round(float(percentiles.get("50", 0)) / 1000, 2),
        p90_ms=round(float(percentiles.get("90", 0)) / 1000, 2),
        p99_ms=round(float(percentiles.get("99", 0)) / 1000, 2),
        max_ms=round(float(latency["max"]) / 1000, 2),
        status=codes,
        errors=errors,
    )


def run(
    url: str,
    *,
    clients: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    executable: Path | None = None,
    timeout_s: float = 10.0,
) -> LoadResult:
    """GET ``url`` from ``clients`` keep-alive connections for ``seconds`` (>= 1); the parsed
    result.

    Raises ``RuntimeError`` with bombardier's stderr when it fails or prints no report.
    """
    command = [
        str(executable or binary()),
        "-c",
        str(clients),
        "-d",
        f"{seconds}s",
        "-t",
        f"{timeout_s}s",
        "-l",
        "-p",
        "r",
        "-o",
        "j",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + timeout_s + 30
    )
    if done.returncode != 0 or not done.stdout.strip():
        said = (done.stderr.strip() or done.stdout.strip())[-500:]
        raise RuntimeError(f"bombardier failed ({done.returncode}): {said}")
    return parse(json.loads(done.stdout), clients=clients, seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    """Command line: build the pinned bombardier (``--dest``, ``--jobs``, ``--force``)."""
    return RELEASE.main(argv, "Build the benchmarks' pinned load generator (bombardier).")


if __name__ == "__main__":
    sys.exit(main())
