"""Regenerate the k8s staging ``replace`` block of tools/controlplane/kubernetes/go.mod.

Usage::

    python tools/controlplane/update_gomod.py [--check]

The logic lives in ``infra.controlplane.gomod`` (tested in tests/infra/controlplane/); after a
rewrite, run ``go mod tidy`` in tools/controlplane/kubernetes and commit go.mod and go.sum.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infra.controlplane.gomod import main

if __name__ == "__main__":
    sys.exit(main())
