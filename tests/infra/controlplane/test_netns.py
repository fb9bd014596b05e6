"""The loopback-only check reads the process's own network namespace and refuses anything but
``lo``; ``unshare_command`` puts a command into a fresh such namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.controlplane import netns

ROUTE_HEADER = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
)
HOST_ROUTES = ROUTE_HEADER + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
LO_V6 = (
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
)
HOST_V6 = (
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
)
DEV_HEADER = "Inter-|   Receive\n face |bytes    packets\n"
LO_DEV = DEV_HEADER + "    lo:       0       0    0    0\n"


def fake_proc_net(tmp_path: Path, *, dev: str, route: str, ipv6: str) -> Path:
    """A folder shaped like ``/proc/self/net`` with the given tables."""
    (tmp_path / "dev").write_text(dev)
    (tmp_path / "route").write_text(route)
    (tmp_path / "ipv6_route").write_text(ipv6)
    return tmp_path


def test_interfaces_parses_proc_net_dev() -> None:
    assert netns.interfaces(LO_DEV + "  eth0: 1 2 3\n") == ["lo", "eth0"]


def test_foreign_routes_names_every_non_loopback_route() -> None:
    assert netns.foreign_routes(HOST_ROUTES, LO_V6 + HOST_V6) == [
        "ipv4 eth0 00000000",
        "ipv6 eth0 fd000000000000000000000000000000/64",
    ]
    assert netns.foreign_routes(ROUTE_HEADER, LO_V6) == []


def test_loopback_only_namespace_passes(tmp_path: Path) -> None:
    proc_net = fake_proc_net(tmp_path, dev=LO_DEV, route=ROUTE_HEADER, ipv6=LO_V6)
    assert netns.loopback_only_problem(proc_net) is None
    netns.require_loopback_only(proc_net)


@pytest.mark.parametrize(
    ("dev", "route", "ipv6"),
    [
        (LO_DEV + "  eth0: 0 0\n", ROUTE_HEADER, LO_V6),
        (LO_DEV, HOST_ROUTES, LO_V6),
        (LO_DEV, ROUTE_HEADER, LO_V6 + HOST_V6),
    ],
    ids=["interface", "ipv4-route", "ipv6-route"],
)
def test_anything_beyond_loopback_is_refused(
    tmp_path: Path, dev: str, route: str, ipv6: str
) -> None:
    proc_net = fake_proc_net(tmp_path, dev=dev, route=route, ipv6=ipv6)
    with pytest.raises(netns.NotIsolatedError, match="not in a loopback-only network namespace"):
        netns.require_loopback_only(proc_net)


def test_unreadable_namespace_is_refused(tmp_path: Path) -> None:
    assert "cannot prove" in (netns.loopback_only_problem(tmp_path / "missing") or "")


def test_unshare_command_brings_lo_up_then_execs_the_command() -> None:
    argv = netns.unshare_command(["python", "-m", "pytest", "a b"])
    assert argv[:3] == ["unshare", "--net", "--"]
    assert argv[3:6] == ["sh", "-c", 'ip link set lo up && exec "$@"']
    assert argv[6:] == ["sh", "python", "-m", "pytest", "a b"]
