"""Option parsers shared by ``kubeai`` commands."""

from __future__ import annotations

import math
from collections.abc import Callable

import typer


def finite(
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> Callable[[str], float]:
    """An option parser: a finite number within ``low``..``high`` (``open_*``: bound excluded),
    else ``typer.BadParameter`` saying so. Unlike ``min``/``max`` (click's ``FloatRange``) it
    refuses NaN and infinities: a NaN passes every range comparison, and a NaN threshold every
    gate."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise typer.BadParameter(f"{value!r} is not a finite number")
        too_low = low is not None and (number <= low if open_low else number < low)
        too_high = high is not None and (number >= high if open_high else number > high)
        if too_low or too_high:
            left = "" if low is None else f"{low:g} {'<' if open_low else '<='} "
            right = "" if high is None else f" {'<' if open_high else '<='} {high:g}"
            raise typer.BadParameter(f"{value!r} is not in the range {left}x{right}")
        return number

    return parse
