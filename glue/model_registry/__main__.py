"""Run the registry: ``python -m glue.model_registry [--host 127.0.0.1] [--port 8080]``.

Configuration comes from ``KUBEAI_REGISTRY_*`` environment variables (see settings.py).
"""

from __future__ import annotations

import argparse

import uvicorn

from glue.model_registry.app import create_app
from glue.model_registry.settings import RegistrySettings
from glue.observability import configure_logging


def main() -> None:
    """Parse ``--host``/``--port``/``--log-level`` and serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m glue.model_registry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    configure_logging(args.log_level)
    app = create_app(RegistrySettings())
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
