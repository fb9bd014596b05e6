"""Run the registry: ``python -m glue.model_registry [--host H] [--port P] [--workers N]``.

Configuration comes from ``KUBEAI_REGISTRY_*`` environment variables (see settings.py). Bad
settings exit 2, an unreachable database exits 3 and a failed migration exits 4, each with one
line naming the problem. Several replicas may start together: the schema is migrated once, under
the database's migration lock (``glue.model_registry.db.upgrade``).

Objects of the startup are frozen out of the garbage collector's work before serving
(``freeze_startup_objects``).

With ``--workers N`` > 1 uvicorn's supervisor runs N worker processes; each worker asks Linux to
send it SIGTERM when the supervisor dies (``die_with_supervisor``), so a supervisor killed with
SIGKILL leaves no worker holding the port.

Without an authenticator configured the registry is open to every caller, so it then refuses
(exit 2) to bind anything but a loopback address.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import ipaddress
import multiprocessing
import os
import signal
import sys
import threading

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError

from glue.model_registry.app import create_app
from glue.model_registry.db import Database, DatabaseUnreachable, MigrationFailed
from glue.model_registry.settings import RegistrySettings
from glue.observability import configure_logging

#: ``prctl`` option: the signal the kernel sends this process when its parent thread exits.
PR_SET_PDEATHSIG = 1


def die_with_supervisor(sig: signal.Signals = signal.SIGTERM) -> None:
    """In a worker started by ``multiprocessing`` (uvicorn's supervisor): end with the parent.

    On Linux, ``prctl(PR_SET_PDEATHSIG, sig)`` has the kernel send ``sig`` to this process when
    the supervisor exits, however it ends (``kill -9`` included). A supervisor that died before
    that call is seen by ``os.getppid()`` no longer being its pid: then ``sig`` is sent at once.
    Elsewhere a daemon thread waits on the parent's sentinel and sends ``sig`` when it closes.
    Does nothing in a process that ``multiprocessing`` did not start. Raises ``OSError`` if
    ``prctl`` fails.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
        if os.getppid() != parent.pid:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), sig)
        return

    def watch() -> None:  # pragma: no cover - not Linux
        parent.join()
        os.kill(os.getpid(), sig)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def app_factory() -> FastAPI:
    """Worker entry (``--workers`` > 1): die with the supervisor, JSON logs, the app from the
    environment."""
    die_with_supervisor()
    configure_logging(os.environ.get("KUBEAI_REGISTRY_LOG_LEVEL", "INFO"))
    app = create_app(RegistrySettings())
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Move every object alive now (imported modules, the app, its routes and schemas: about
    190,000) to the collector's permanent generation (``gc.freeze``), after one collection.

    They live as long as the process, yet each full collection traversed them all: a pause of
    tens to hundreds of milliseconds in which every request of this process waited (measured
    up to 218 ms on a loaded 2-core machine; under 8 ms once frozen). Call once the app is
    built, before serving.
    """
    gc.collect()
    gc.freeze()


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
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        hint = (
            "; a KUBEAI_REGISTRY_* variable holding a list or an object must be JSON"
            if "error parsing value" in str(exc)
            else ""
        )
        _fail(f"{exc}{cause}{hint}", 2)
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
        except DatabaseUnreachable as exc:
            _fail(str(exc), 3)
        except MigrationFailed as exc:
            _fail(str(exc), 4)
    os.environ["KUBEAI_REGISTRY_MIGRATE_ON_START"] = "false"
    if args.workers == 1:
        app = create_app(settings.model_copy(update={"migrate_on_start": False}))
        freeze_startup_objects()
        uvicorn.run(
            app, host=args.host.strip("[]"), port=args.port, log_level="warning", access_log=False
        )
        return
    os.environ["KUBEAI_REGISTRY_LOG_LEVEL"] = args.log_level
    uvicorn.run(
        "glue.model_registry.__main__:app_factory",
        factory=True,
        host=args.host.strip("[]"),
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
