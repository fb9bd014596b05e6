"""Session fixture for the real helm binaries (v3.19 and v4), hermetic and offline.

``helm_tools`` runs ``tools/fetch_tools.py`` once per session into ``<repo>/.tools`` (a no-op when
the pinned binaries are already there with the right sha256, as after ``make tools``) and
returns a ``HelmTools``: the paths of helm v3.19.0, helm v4.1.4 and kubectl v1.34.5, plus an
environment whose HELM_CACHE_HOME / HELM_CONFIG_HOME / HELM_DATA_HOME and KUBECONFIG point into
a session temp directory, so no user configuration, repository list or cluster is ever seen.

Helpers ``HelmTools.run`` and ``HelmTools.template`` call helm with that environment; the latter
returns the rendered objects as dicts.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".tools"
FETCH_SCRIPT = REPO_ROOT / "tools" / "fetch_tools.py"
KUBE_VERSION = "1.34.0"
"""Kubernetes version charts are rendered and validated for."""

_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_FETCH_TIMEOUT_S = 300
_HELM_TIMEOUT_S = 120


@dataclass(frozen=True)
class HelmResult:
    """Outcome of one helm call."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together (helm prints lint findings on stdout, errors on stderr)."""
        return f"{self.stdout}\n{self.stderr}"


@dataclass(frozen=True)
class HelmTools:
    """Paths of the pinned binaries and the hermetic environment to run them in."""

    helm3: Path
    helm4: Path
    kubectl: Path
    env: dict[str, str] = field(repr=False)

    def run(
        self, *args: str | os.PathLike[str], v4: bool = False, check: bool = True
    ) -> HelmResult:
        """Run helm v3 (or v4) with ``args``; with ``check`` a non-zero exit fails the test."""
        binary = self.helm4 if v4 else self.helm3
        argv = [str(binary), *(str(a) for a in args)]
        done = subprocess.run(
            argv,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=_HELM_TIMEOUT_S,
            check=False,
        )
        result = HelmResult(tuple(argv[1:]), done.returncode, done.stdout, done.stderr)
        if check and done.returncode != 0:
            pytest.fail(
                f"helm {' '.join(result.args)} exited {done.returncode}:\n{result.output}",
                pytrace=False,
            )
        return result

    def template(
        self,
        chart: Path,
        *,
        release: str = "release",
        namespace: str = "default",
        values: Sequence[Path] = (),
        set_values: Sequence[str] = (),
        kube_version: str = KUBE_VERSION,
        v4: bool = False,
    ) -> list[dict[str, Any]]:
        """``helm template`` ``chart``; returns the rendered objects (empty documents dropped)."""
        args: list[str | os.PathLike[str]] = [
            "template",
            release,
            chart,
            "--namespace",
            namespace,
            "--kube-version",
            kube_version,
        ]
        for path in values:
            args += ["--values", path]
        for item in set_values:
            args += ["--set", item]
        result = self.run(*args, v4=v4)
        return [doc for doc in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader) if doc]


def fetch_tools(dest: Path = TOOLS_DIR) -> None:
    """Run ``tools/fetch_tools.py --dest dest``; fails the session with its message on error."""
    try:
        done = subprocess.run(
            [sys.executable, str(FETCH_SCRIPT), "--dest", str(dest), "--quiet"],
            capture_output=True,
            text=True,
            timeout=_FETCH_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{FETCH_SCRIPT} took more than {_FETCH_TIMEOUT_S} s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"could not install the pinned helm/kubectl binaries ({FETCH_SCRIPT}; `make tools` "
            f"runs the same):\n{done.stderr.strip()}",
            pytrace=False,
        )


def tool_paths(dest: Path = TOOLS_DIR) -> dict[str, Path]:
    """``{"helm-v3.19.0": path, ...}`` as pinned in ``tools/fetch_tools.py`` (not fetched here)."""
    spec = importlib.util.spec_from_file_location("kubeai_fetch_tools", FETCH_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return {f"{tool.name}-{tool.version}": tool.path(dest) for tool in module.TOOLS}


@pytest.fixture(scope="session")
def helm_tools(tmp_path_factory: pytest.TempPathFactory) -> HelmTools:
    """The pinned helm v3/v4 and kubectl binaries with a hermetic environment (session-wide)."""
    fetch_tools()
    home = tmp_path_factory.mktemp("helm-home")
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env.update(
        HOME=str(home),
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_DATA_HOME=str(home / "data"),
        KUBECONFIG=str(home / "kubeconfig-absent"),
    )
    paths = tool_paths()
    return HelmTools(
        helm3=paths["helm-v3.19.0"],
        helm4=paths["helm-v4.1.4"],
        kubectl=paths["kubectl-v1.34.5"],
        env=env,
    )
