"""Keep the control plane inside a loopback-only network namespace.

Services, webhooks and KWOK pod IPs live in private ranges; inside a network namespace whose only
interface is ``lo`` and which has no route through anything else, a dial to them fails at once and
no packet can leave the machine. ``loopback_only_problem`` inspects the calling process's own
namespace (``/proc/self/net``: interfaces, the IPv4 main routing table and every IPv6 route);
``unshare_command`` wraps a command so it runs in a fresh such namespace
(``unshare --net`` + ``ip link set lo up``, which needs root or CAP_SYS_ADMIN).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

PROC_NET = Path("/proc/self/net")
LOOPBACK = "lo"
_LO_UP = 'ip link set lo up && exec "$@"'


class NotIsolatedError(RuntimeError):
    """The process can reach more than loopback (or loopback is down)."""


def interfaces(dev_table: str) -> list[str]:
    """Interface names in a ``/proc/net/dev`` text."""
    return [line.split(":", 1)[0].strip() for line in dev_table.splitlines() if ":" in line]


def foreign_routes(route_table: str, ipv6_route_table: str) -> list[str]:
    """Routes through any device but ``lo``, as ``"<family> <device> <destination>"`` strings.

    ``route_table`` is ``/proc/net/route`` (IPv4 main table: header line, device first);
    ``ipv6_route_table`` is ``/proc/net/ipv6_route`` (all tables, device last).
    """
    out: list[str] = []
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] != LOOPBACK:
            out.append(f"ipv4 {fields[0]} {fields[1]}")
    for line in ipv6_route_table.splitlines():
        fields = line.split()
        if fields and fields[-1] != LOOPBACK:
            out.append(f"ipv6 {fields[-1]} {fields[0]}/{int(fields[1], 16)}")
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def loopback_only_problem(proc_net: Path = PROC_NET) -> str | None:
    """Why this process's network namespace is not loopback-only, or None when it is.

    Loopback-only means: no interface but ``lo``, no route through another device, and
    127.0.0.1 can be bound (``lo`` is up).
    """
    if not (proc_net / "dev").exists():
        return f"{proc_net}/dev is unreadable: cannot prove the network is loopback-only"
    others = [name for name in interfaces(_read(proc_net / "dev")) if name != LOOPBACK]
    routes = foreign_routes(_read(proc_net / "route"), _read(proc_net / "ipv6_route"))
    if others or routes:
        shown = ", ".join(routes[:5]) or "none"
        return (
            f"not in a loopback-only network namespace: interfaces {others}, routes {shown}; "
            "run inside `unshare --net sh -c 'ip link set lo up && ...'`"
        )
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
    except OSError as exc:
        return f"cannot bind 127.0.0.1 ({exc}): run `ip link set lo up` in the namespace"
    return None


def require_loopback_only(proc_net: Path = PROC_NET) -> None:
    """Raise ``NotIsolatedError`` with the reason unless the namespace is loopback-only."""
    problem = loopback_only_problem(proc_net)
    if problem:
        raise NotIsolatedError(problem)


def unshare_command(argv: list[str]) -> list[str]:
    """``argv`` wrapped to run in a fresh network namespace with only ``lo``, brought up."""
    return ["unshare", "--net", "--", "sh", "-c", _LO_UP, "sh", *argv]


def unshare_problem() -> str | None:
    """Why ``unshare_command`` cannot work here (tool missing, no privilege), or None."""
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (util-linux / iproute2)"
    try:
        result = subprocess.run(
            unshare_command(["true"]), capture_output=True, text=True, timeout=30
        )
    except OSError as exc:
        return f"unshare failed: {exc}"
    if result.returncode != 0:
        return f"unshare --net failed (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}"
    return None
