"""Static bearer tokens from a file in kube-apiserver's ``--token-auth-file`` format.

Each line is CSV: ``token,user,uid[,"group1,group2"]`` (Kubernetes docs, "Authenticating",
static token file). The file is mounted from a Secret and read again when it changes. Tokens are
kept only as SHA-256 digests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from pathlib import Path

import structlog

from glue.model_registry.auth.principal import Principal

log = structlog.get_logger("kubeai.registry")

#: Shortest token accepted: 128 bits as hex (shorter ones are guessable).
MIN_TOKEN_LENGTH = 32


class StaticTokenError(ValueError):
    """The token file is malformed; the message names the line."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_token_file(text: str, *, source: str = "token file") -> dict[str, Principal]:
    """Principals by token digest. Raises ``StaticTokenError`` naming the line of a row with
    fewer than 3 columns, an empty user, a token shorter than ``MIN_TOKEN_LENGTH``, or a token
    that appears twice."""
    principals: dict[str, Principal] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("#"):
            continue
        if len(row) < 3:
            raise StaticTokenError(f"{source} line {number}: expected token,user,uid[,groups]")
        token, user = row[0].strip(), row[1].strip()
        if len(token) < MIN_TOKEN_LENGTH:
            raise StaticTokenError(
                f"{source} line {number}: tokens need at least {MIN_TOKEN_LENGTH} characters"
            )
        if not user:
            raise StaticTokenError(f"{source} line {number}: the user name is empty")
        digest = _digest(token)
        if digest in principals:
            raise StaticTokenError(f"{source} line {number}: this token is already on a line above")
        groups = [g.strip() for g in row[3].split(",") if g.strip()] if len(row) > 3 else []
        principals[digest] = Principal(name=user, groups=frozenset(groups), method="static")
    return principals


def read_token_file(path: Path) -> dict[str, Principal]:
    """``parse_token_file`` of the file at ``path`` (UTF-8, a byte-order mark allowed).

    Raises ``StaticTokenError`` naming the file when it cannot be read or is not UTF-8.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise StaticTokenError(f"{path}: cannot read the token file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise StaticTokenError(f"{path}: the token file is not UTF-8 text ({exc.reason})") from exc
    return parse_token_file(text, source=str(path))


class StaticTokens:
    """Look up static tokens (``find(token) -> Principal | None``), re-reading a changed file.

    Raises ``StaticTokenError`` at construction for a malformed file. A later change that is
    malformed, or a deleted file, fails closed: no static token is accepted until the file is
    valid again (an operator who removed a token must never see it keep working), and the
    error is logged.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._tokens = read_token_file(path)

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _reload(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp:
            return
        try:
            tokens = read_token_file(self.path)
        except StaticTokenError as exc:
            log.error("static tokens refused until the file is fixed", error=str(exc))
            tokens = {}
        with self._lock:
            self._stamp, self._tokens = stamp, tokens

    def find(self, token: str) -> Principal | None:
        """The principal of ``token``, or None when the file does not hold it."""
        self._reload()
        return self._tokens.get(_digest(token))
