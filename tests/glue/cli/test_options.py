"""``glue.cli.options.finite``: the number parser that refuses what click's ranges let through."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from glue.cli.main import app
from glue.cli.options import finite


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e400", "x", ""])
def test_non_finite_or_non_numbers_are_refused(value: str) -> None:
    with pytest.raises(typer.BadParameter):
        finite(0)(value)


def test_bounds_open_and_closed() -> None:
    assert finite(0, 1)("0") == 0 and finite(0, 1)("1") == 1
    with pytest.raises(typer.BadParameter, match="0 < x < 1"):
        finite(0, 1, open_low=True, open_high=True)("1")
    with pytest.raises(typer.BadParameter, match="20 <= x"):
        finite(20)("19.5")


def test_demo_refuses_a_nan_swap_time_before_starting_anything(tmp_path: object) -> None:
    """Seen: ``kubeai demo --swap-seconds nan`` passed click's ``min=20`` (NaN < 20 is false)."""
    result = CliRunner().invoke(app, ["demo", "--swap-seconds", "nan"])
    assert result.exit_code == 2
    assert "not a finite number" in result.output
