"""Build the Pulumi engine (CLI + Kubernetes provider) from pinned wrapper modules into ``.tools/``.

Usage::

    python -m infra.engine.build [--dest .tools] [--jobs 2] [--force]

Result: ``.tools/engine-pulumi-v3.274.1-kubernetes-v4.25.0/bin/{pulumi,
pulumi-resource-kubernetes}`` and ``stamp.json`` beside ``bin/``. Put ``bin/`` on PATH: the
engine then finds the provider there.

How binaries are built, stamped, locked and installed is ``infra.gobuild``'s job (one binary at a
time, ``go build -p 2`` under ``nice``, since the provider alone peaks at about 4 GB; a binary
whose stamp matches is not rebuilt; the provider's embedded files are staged right before its
build). This module binds it to the engine: ``cache_dir(dest)``, ``installed(dest)`` ->
``{"pulumi": path, "pulumi-resource-kubernetes": path}`` (raises ``BuildError`` naming
``make engine`` when one is missing or stale) and ``build(dest, jobs=, force=, log=)`` are
``RELEASE``'s methods, ``dest`` defaulting to ``<repo>/.tools``.

Exit status: 0 when both binaries are in place, 1 with a message on stderr otherwise.
"""

from __future__ import annotations

import sys

from infra.engine.components import BINARIES, release_name
from infra.gobuild import DEFAULT_DEST, BuildError, Release

__all__ = ["DEFAULT_DEST", "RELEASE", "BuildError", "build", "cache_dir", "installed"]

RELEASE = Release(release_name(), BINARIES, title="Pulumi engine", make_target="engine")
cache_dir = RELEASE.cache_dir
installed = RELEASE.installed
build = RELEASE.build


def main(argv: list[str] | None = None) -> int:
    """Command line: build what is stale, print each binary's time and the folder."""
    return RELEASE.main(argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
