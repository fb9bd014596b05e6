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

from glue.model_registry.auth.principal import Principal

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


class StaticTokens:
    """Look up static tokens (``find(token) -> Principal | None``), re-reading a changed file.

    Raises ``StaticTokenError`` at construction for a malformed file; a later change that is
    malformed keeps the previous tokens (and is logged by the caller's next start).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._tokens = parse_token_file(path.read_text(), source=str(path))

    def _stat(self) -> tuple[int, int]:
        stat = self.path.stat()
        return (stat.st_mtime_ns, stat.st_size)

    def _reload(self) -> None:
        try:
            stamp = self._stat()
            if stamp == self._stamp:
                return
            tokens = parse_token_file(self.path.read_text(), source=str(self.path))
        except (OSError, StaticTokenError):
            return
        with self._lock:
            self._stamp, self._tokens = stamp, tokens

    def find(self, token: str) -> Principal | None:
        """The principal of ``token``, or None when the file does not hold it."""
        self._reload()
        return self._tokens.get(_digest(token))
