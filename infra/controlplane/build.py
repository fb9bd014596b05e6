"""Build the control plane binaries from the pinned wrapper modules, cached under ``.tools/``.

Usage::

    python -m infra.controlplane.build [--dest .tools] [--jobs 2] [--force]

Result: ``.tools/controlplane-k8s-v1.35.4-etcd-v3.6.16-kwok-v0.7.0/bin/{etcd,kwok,kube-apiserver,
kube-controller-manager,kube-scheduler}`` and ``stamp.json`` beside ``bin/``.

How binaries are built, stamped, locked and installed is ``infra.gobuild``'s job (one binary at a
time, ``go build -p 2`` under ``nice``; a binary whose stamp matches is not rebuilt). This module
binds it to the control plane: ``cache_dir(dest)``, ``stale(dest, binaries, toolchain=)``,
``installed(dest)`` (raises ``BuildError`` naming ``make controlplane``) and ``build(dest, jobs=,
force=, log=)`` are ``RELEASE``'s methods, ``dest`` defaulting to ``<repo>/.tools``.

Exit status: 0 when every binary is in place, 1 with a message on stderr otherwise.
"""

from __future__ import annotations

import sys

from infra.controlplane.components import BINARIES, release_name
from infra.gobuild import DEFAULT_DEST, BuildError, Release

__all__ = ["DEFAULT_DEST", "RELEASE", "BuildError", "build", "cache_dir", "installed", "stale"]

RELEASE = Release(release_name(), BINARIES, title="control plane", make_target="controlplane")
cache_dir = RELEASE.cache_dir
stale = RELEASE.stale
installed = RELEASE.installed
build = RELEASE.build


def main(argv: list[str] | None = None) -> int:
    """Command line: build what is stale, print each binary's time and the folder."""
    return RELEASE.main(argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
