"""Run the registry: ``python -m glue.model_registry [--host H] [--port P] [--workers N]``.

Configuration comes from ``KUBEAI_REGISTRY_*`` environment variables (see settings.py). Bad
settings exit 2 and an unreachable database exits 3, each with one line naming the problem.
Without an authenticator configured the registry is open to every caller, so it then refuses
(exit 2) to bind anything but a loopback address.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from glue.model_registry.app import create_app
from glue.model_registry.db import Database
from glue.model_registry.settings import RegistrySettings
from glue.observability import configure_logging


def app_factory() -> FastAPI:
    """Worker entry (``--workers`` > 1): JSON logs, then the app from the environment."""
    configure_logging(os.environ.get("KUBEAI_REGISTRY_LOG_LEVEL", "INFO"))
    return create_app(RegistrySettings())


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this
    machine: 127.0.0.0/8, ``::1`` or ``localhost``; ``0.0.0.0``, ``::`` and names are not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main() -> None:
    """Parse ``--host``/``--port``/``--workers``/``--log-level``; serve until SIGTERM/SIGINT.

    The schema is migrated once here before serving; with ``--workers N`` > 1, N worker
    processes then serve (each building the app from the same ``KUBEAI_REGISTRY_*`` environment).
    """
    parser = argparse.ArgumentParser(prog="python -m glue.model_registry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1..64)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    try:
        configure_logging(args.log_level)
        settings = RegistrySettings()
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            name = "KUBEAI_REGISTRY_" + "__".join(str(p) for p in first["loc"]).upper()
            _fail(f"{name}: {first['msg']}", 2)
        _fail(str(exc), 2)
        return
    if not settings.auth.enabled and not is_loopback(args.host):
        _fail(
            f"refusing to serve without authentication on {args.host}: configure an "
            "authenticator (KUBEAI_REGISTRY_AUTH__KUBERNETES__ENABLED=true, "
            "KUBEAI_REGISTRY_AUTH__OIDC__ISSUER or KUBEAI_REGISTRY_AUTH__STATIC_TOKENS_FILE) "
            "or bind a loopback address (--host 127.0.0.1)",
            2,
        )
    if settings.migrate_on_start:
        try:
            Database(settings.database_url).migrate()
        except ArgumentError as exc:
            _fail(f"KUBEAI_REGISTRY_DATABASE_URL is not a database URL: {exc}", 2)
        except SQLAlchemyError as exc:
            where = make_url(settings.database_url).render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            _fail(f"cannot reach or migrate the database {where}: {reason}", 3)
    os.environ["KUBEAI_REGISTRY_MIGRATE_ON_START"] = "false"
    if args.workers == 1:
        app = create_app(settings.model_copy(update={"migrate_on_start": False}))
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
        return
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
