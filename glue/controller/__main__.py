"""Run the lifecycle controller: ``python -m glue.controller``.

Configuration comes from ``KUBEAI_CONTROLLER_*`` environment variables (``settings``). Exit
status: 0 after SIGTERM/SIGINT (the Lease released), 1 when leadership was lost (the pod
restarts and campaigns again), 2 for bad settings or missing Kubernetes credentials (one line
naming the variable or file).
"""

from __future__ import annotations

import asyncio
import sys

from glue.controller.operator import run
from glue.controller.settings import SettingsError, load_settings
from glue.kubeconfig import KubeconfigError
from glue.observability import configure_logging


def main() -> int:
    """Entry point; returns the exit status."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"kubeai-controller: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        released = asyncio.run(run(settings))
    except (KubeconfigError, PermissionError) as exc:
        print(f"kubeai-controller: {exc}", file=sys.stderr)
        return 2
    return 0 if released else 1


if __name__ == "__main__":
    sys.exit(main())
