"""A real, throw-away PostgreSQL server, started from the Debian packages when installed.

The one PostgreSQL starter of the repository: tests take the ``postgres_url`` fixture of
``tests.support.postgres_fixtures`` (skipped with the reason when no ``initdb`` is installed;
``.ci/run`` installs PostgreSQL with apt-get first), and the benchmarks use ``PostgresServer``
directly (they run from the repository root, so ``tests.support`` is importable there too).
This module imports no pytest: the benchmarks run in venvs without it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.support.net import free_port


class PostgresNotInstalled(RuntimeError):  # noqa: N818 - reads as a state in `except` clauses
    """No PostgreSQL server binaries (``/usr/lib/postgresql/*/bin/initdb``) on this machine."""


def postgres_bindir() -> Path | None:
    """Directory of the newest installed PostgreSQL server binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server as the 'postgres' user the package creates.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port (``fsync=off``, trust auth).

    Use as a context manager (or ``start``/``stop``). ``create_database()`` gives a fresh, empty
    database and returns its SQLAlchemy URL (``postgresql+psycopg://postgres@127.0.0.1:PORT/N``).

    Args:
        max_connections: the server's ``max_connections``.

    Raises ``PostgresNotInstalled`` at start when PostgreSQL is not installed.
    """

    def __init__(self, *, max_connections: int = 300) -> None:
        self.bindir = postgres_bindir()
        self.max_connections = max_connections
        self.port = 0
        self.data: Path | None = None
        self.version = ""

    def start(self) -> PostgresServer:
        """initdb + pg_ctl start (about 1 s); raises ``PostgresNotInstalled``."""
        if self.bindir is None:
            raise PostgresNotInstalled(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                "apt-get install postgresql"
            )
        self.version = subprocess.run(
            [str(self.bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.data = Path(tempfile.mkdtemp(prefix="kubeai-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self.port = free_port()
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data / "db")]
        subprocess.run(
            _as_postgres([*initdb, "-U", "postgres", "-A", "trust", "--no-sync"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = (
            f"-k {self.data} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c max_connections={self.max_connections}"
        )
        pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.data / "db")]
        log = str(self.data / "log")
        subprocess.run(
            _as_postgres([*pg_ctl, "-w", "-t", "60", "-l", log, "start", "-o", options]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        return self

    @property
    def admin_url(self) -> str:
        """libpq URL of the ``postgres`` database (for CREATE DATABASE)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, prefix: str = "t") -> str:
        """Create an empty database; returns its SQLAlchemy URL (psycopg 3 driver)."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server (fast mode) and delete its data directory. Idempotent."""
        if self.data is None or self.bindir is None:
            return
        subprocess.run(
            _as_postgres(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data / "db"), "-m", "fast", "stop"]
            ),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.data, ignore_errors=True)
        self.data = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
