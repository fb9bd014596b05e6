"""infra/config/network.py: ``kubeai:network`` of platform and team stacks, and its export."""

from __future__ import annotations

import pytest

from infra.config import NetworkOutput, PlatformOutputs, platform_outputs
from infra.config.network import check_cidr
from tests.infra import factories


@pytest.mark.parametrize(
    ("value", "normalised"),
    [("10.0.0.0/8", "10.0.0.0/8"), ("192.168.1.0/24", "192.168.1.0/24"), ("FD00::/8", "fd00::/8")],
)
def test_cidrs_are_normalised(value: str, normalised: str) -> None:
    assert check_cidr(value) == normalised


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.0.0.1/8", "host bits set"),
        ("10.0.0.0", "not in CIDR notation"),
        ("10.0.0.0/33", "not a network"),
        ("ingress", "not in CIDR notation"),
    ],
)
def test_bad_cidrs_are_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_cidr(value)


def test_platform_network_errors_name_the_key_path() -> None:
    problems = factories.config_problems(
        factories.platform_values(
            "eks",
            network={
                "ingressCidrs": ["10.0.0.1/8"],
                "nodeCidrs": ["x"],
                "ingressNamespaces": ["Ingress_Nginx"],
                "monitoringNamespace": "",
                "egress": True,
            },
        )
    )
    keys = {key for key, _ in problems}
    assert keys == {
        "kubeai:network.ingressCidrs[0]",
        "kubeai:network.nodeCidrs[0]",
        "kubeai:network.ingressNamespaces[0]",
        "kubeai:network.monitoringNamespace",
        "kubeai:network.egress",
    }


def test_team_network_errors_name_the_key_path() -> None:
    problems = factories.config_problems(
        factories.team_values(
            network={"servingClientNamespaces": ["a_b"], "servingClientCidrs": ["10.1.1.1/16"]}
        )
    )
    assert {key for key, _ in problems} == {
        "kubeai:network.servingClientNamespaces[0]",
        "kubeai:network.servingClientCidrs[0]",
    }


def test_defaults() -> None:
    platform = factories.platform_config("eks")
    assert platform.network.ingress_namespaces == [] and platform.network.ingress_cidrs == []
    assert platform.network.monitoring_namespace == "monitoring"
    team = factories.team_config()
    assert team.network.serving_client_namespaces == []


def test_exported_to_team_stacks_and_older_exports_still_parse() -> None:
    config = factories.platform_config(
        "eks", network={"ingressNamespaces": ["ingress-nginx"], "nodeCidrs": ["10.0.0.0/16"]}
    )
    exported = platform_outputs(config).model_dump(by_alias=True)
    assert exported["network"] == {
        "ingressNamespaces": ["ingress-nginx"],
        "ingressCidrs": [],
        "monitoringNamespace": "monitoring",
        "nodeCidrs": ["10.0.0.0/16"],
    }
    read = PlatformOutputs.model_validate(exported)
    assert read.network.node_cidrs == ["10.0.0.0/16"]
    # a newer platform stack's extra key is ignored; an older one without the key gives defaults
    exported["network"]["egressNamespaces"] = ["x"]
    assert PlatformOutputs.model_validate(exported).network.ingress_namespaces == ["ingress-nginx"]
    del exported["network"]
    assert PlatformOutputs.model_validate(exported).network == NetworkOutput()


@pytest.mark.parametrize(
    ("network", "key"),
    [
        ({"ingressCidrs": ["10.0.0.0/8", "0.0.0.0/0"]}, "kubeai:network.ingressCidrs[1]"),
        ({"ingressCidrs": ["::/0"]}, "kubeai:network.ingressCidrs[0]"),
        ({"nodeCidrs": ["0.0.0.0/0"]}, "kubeai:network.nodeCidrs[0]"),
    ],
)
def test_a_platform_network_admitting_every_address_is_refused(
    network: dict[str, object], key: str
) -> None:
    [(path, message)] = factories.config_problems(factories.platform_values("eks", network=network))
    assert path == key and "admits every address" in message and "list the networks" in message


def test_ingress_cidrs_admitting_everyone_name_the_registry() -> None:
    [(_, message)] = factories.config_problems(
        factories.platform_values("eks", network={"ingressCidrs": ["0.0.0.0/0"]})
    )
    assert "the registry would accept any network" in message


def test_a_team_network_admitting_every_address_is_refused() -> None:
    [(path, message)] = factories.config_problems(
        factories.team_values(network={"servingClientCidrs": ["0.0.0.0/0"]})
    )
    assert path == "kubeai:network.servingClientCidrs[0]" and "admits every address" in message


@pytest.mark.parametrize("cidr", ["0.0.0.0/1", "128.0.0.0/7", "2000::/3", "::/1"])
def test_networks_wider_than_the_widest_private_block_are_refused(cidr: str) -> None:
    [(path, message)] = factories.config_problems(
        factories.team_values(network={"servingClientCidrs": [cidr]})
    )
    assert path == "kubeai:network.servingClientCidrs[0]" and "much of the internet" in message


def test_the_widest_private_blocks_are_accepted() -> None:
    wide = ["10.0.0.0/8", "fc00::/7"]
    config = factories.platform_config("eks", network={"ingressCidrs": wide, "nodeCidrs": wide})
    assert config.network.ingress_cidrs == wide and config.network.node_cidrs == wide
    team = factories.team_config(network={"servingClientCidrs": wide})
    assert team.network.serving_client_cidrs == wide
