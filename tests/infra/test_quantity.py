"""Kubernetes quantities parse to exact amounts."""

from decimal import Decimal

import pytest

from infra.quantity import MAX_QUANTITY, parse_quantity


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("500m", Decimal("0.5")),
        ("4", Decimal(4)),
        ("1.5", Decimal("1.5")),
        ("1Gi", Decimal(2**30)),
        ("256Gi", Decimal(256 * 2**30)),
        ("10G", Decimal(10**10)),
        ("1e3", Decimal(1000)),
        (8, Decimal(8)),
        ("1Ki", Decimal(1024)),
        (".5", Decimal("0.5")),
    ],
)
def test_parse(text, amount) -> None:
    assert parse_quantity(text) == amount


@pytest.mark.parametrize("text", ["", "-1", "1GB", "lots", "1.2.3", "Gi"])
def test_refused(text) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize("value", ["1e400", "9223372036854775808", "8Ei", "1e999999999999"])
def test_amounts_beyond_what_kubernetes_keeps_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="larger than Kubernetes keeps"):
        parse_quantity(value)
    assert parse_quantity("9223372036854775807") == MAX_QUANTITY
