"""Run the registry: ``python -m glue.model_registry [--host H] [--port P] [--workers N]``.

Configuration comes from ``KUBEAI_REGISTRY_*`` environment variables (see settings.py).
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import FastAPI

from glue.model_registry.app import create_app
from glue.model_registry.db import Database
from glue.model_registry.settings import RegistrySettings
from glue.observability import configure_logging


def app_factory() -> FastAPI:
    """Worker entry (``--workers`` > 1): JSON logs, then the app from the environment."""
    configure_logging(os.environ.get("KUBEAI_REGISTRY_LOG_LEVEL", "INFO"))
    return create_app(RegistrySettings())


def main() -> None:
    """Parse ``--host``/``--port``/``--workers``/``--log-level``; serve until SIGTERM/SIGINT.

    With ``--workers N`` > 1 the schema is migrated once here, then N worker processes serve
    (each building the app from the same ``KUBEAI_REGISTRY_*`` environment).
    """
    parser = argparse.ArgumentParser(prog="python -m glue.model_registry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1..64)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    configure_logging(args.log_level)
    settings = RegistrySettings()
    if args.workers == 1:
        app = create_app(settings)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
        return
    if settings.migrate_on_start:
        Database(settings.database_url).migrate()
    os.environ["KUBEAI_REGISTRY_MIGRATE_ON_START"] = "false"
    os.environ["KUBEAI_REGISTRY_LOG_LEVEL"] = args.log_level
    uvicorn.run(
        "glue.model_registry.__main__:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
