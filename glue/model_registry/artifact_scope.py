"""Team scoping of artifact URIs: where a team's versions and datasets may point.

Each team owns the artifacts below ``<root>/teams/<team>/`` of an artifact root (the lifecycle
controller's output convention, ``glue.controller.jobs.default_artifact_uri``). The registry
checks version and dataset URIs against prefixes rendered from URI templates
(``RegistrySettings.artifact_team_prefixes``); the controller checks a job's output URI against
``team_prefix`` of its own artifact root. Both compare normalised URIs (``ArtifactStore.check_uri``:
no ``..``, ``%``, query or fragment, scheme lower-cased, ``file://`` symlinks resolved), and a URI
is inside a prefix only below a whole path segment, so ``teams/cv-evil/...`` is not in
``teams/cv/``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path

#: Placeholder of the team in a prefix template (required, a whole path segment).
TEAM = "team"
#: Placeholder of ``file://`` + the artifact store's ``local_root`` in a prefix template.
LOCAL_ROOT = "local_root"
_TEAM_SEGMENT = re.compile(r"(^|/)\{team\}(/|$)")


def team_prefix(root: str, team: str) -> str:
    """``<root>/teams/<team>`` (no trailing ``/``): the part of artifact root ``root`` owned by
    ``team``."""
    return f"{root.rstrip('/')}/teams/{team}"


def check_template(template: str) -> str:
    """``template`` if it is a prefix template: only the placeholders ``{team}`` (exactly once,
    as a whole path segment) and ``{local_root}``; ``ValueError`` saying what is wrong."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(f"{template!r} is not a template: {exc}") from None
    unknown = sorted(set(fields) - {TEAM, LOCAL_ROOT})
    if unknown:
        raise ValueError(
            f"{template!r} has unknown placeholder(s) {unknown}: only {{team}} and {{local_root}}"
        )
    if fields.count(TEAM) != 1 or not _TEAM_SEGMENT.search(template):
        raise ValueError(
            f"{template!r} must hold {{team}} exactly once as a whole path segment, e.g. "
            "'s3://kubeai-artifacts/teams/{team}/'"
        )
    return template


def render(templates: Iterable[str], *, team: str, local_root: Path) -> list[str]:
    """The prefixes of ``team``: each template with ``{team}`` and ``{local_root}``
    (``file://`` + ``local_root``) filled in, without a trailing ``/``."""
    root = "file://" + local_root.as_posix()
    return [t.format(team=team, local_root=root).rstrip("/") for t in templates]


def is_below(uri: str, prefixes: Sequence[str]) -> bool:
    """Whether the normalised ``uri`` lies below one of the normalised ``prefixes`` (whole
    path segments: ``s3://b/teams/cv-evil/x`` is not below ``s3://b/teams/cv``)."""
    return any(uri.startswith(p.rstrip("/") + "/") for p in prefixes)
