"""Kubernetes resource quantities (``500m``, ``64``, ``256Gi``) as exact decimals.

The format is Kubernetes' ``resource.Quantity`` (k8s.io/apimachinery/pkg/api/resource,
``quantity.go``): a decimal number with an optional binary (Ki..Ei) or decimal (m, k, M..E) suffix
or exponent (``1e3``). Only parsing and comparison are needed here, so a few lines over ``Decimal``
replace a dependency on the whole Kubernetes client.
"""

from __future__ import annotations

import re
from decimal import Decimal

_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_PATTERN = re.compile(
    r"^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:([eE][-+]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$"
)
QUANTITY_PATTERN = _PATTERN.pattern
#: The largest amount a Kubernetes quantity holds as is (``maxAllowed`` = max int64 in
#: k8s.io/apimachinery/pkg/api/resource/math.go); larger binary amounts are silently clamped to
#: it and larger decimal ones (``1e400``) are nothing any node offers, so both are refused.
MAX_QUANTITY = Decimal(2**63 - 1)


def parse_quantity(value: str | int | float) -> Decimal:
    """The amount a quantity stands for (cores, bytes, counts) as a ``Decimal``.

    ``parse_quantity("500m") == Decimal("0.5")``, ``parse_quantity("1Gi") == 1073741824``.
    Raises ``ValueError`` naming the value and the accepted forms for anything else
    (negative values are refused: resource amounts here are never negative), and for amounts
    above ``MAX_QUANTITY``.
    """
    text = str(value).strip()
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity (e.g. 500m, 4, 1.5, 256Gi, 10G, 1e3)"
        )
    number, exponent, suffix = match.groups()
    if exponent and int(exponent[1:]) > 1000:  # far beyond MAX_QUANTITY for any mantissa here
        raise ValueError(f"{value!r} is larger than Kubernetes keeps ({MAX_QUANTITY})")
    amount = Decimal(number)
    amount *= Decimal(10) ** int(exponent[1:]) if exponent else _SUFFIXES[suffix or ""]
    if amount > MAX_QUANTITY:
        raise ValueError(f"{value!r} is larger than Kubernetes keeps ({MAX_QUANTITY})")
    return amount
