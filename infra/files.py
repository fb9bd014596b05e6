"""Writing a file so that readers see the old content or the new one, never a partial file.

``write_atomic`` is the one place the infra code does it (upstream files, tool binaries,
generated kustomize overlays, the engine's workspace files).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` through a temporary file in the same folder
    (unique per call, so concurrent writers never share one) renamed onto ``path``
    (``os.replace``). Creates the parent folders; ``mode`` (e.g. ``0o755``) is set before the
    rename, else the temporary file's ``0o600`` stays. The temporary file is removed when
    anything fails, and the error (``OSError``) propagates. Returns ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
