"""glue/signals.py: stop signals as KeyboardInterrupts with the exit statuses of the one table."""

import signal

import pytest

from glue.cli.exit_codes import ExitCode
from glue.signals import STOP_SIGNALS, HungUp, Terminated, raise_stop


def test_exit_codes_are_the_tables() -> None:
    assert Terminated.exit_code == ExitCode.TERMINATED == 143
    assert HungUp.exit_code == ExitCode.HUNG_UP == 129


def test_each_stop_signal_raises_a_keyboard_interrupt() -> None:
    assert set(STOP_SIGNALS) == {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    for signum, kind in STOP_SIGNALS.items():
        with pytest.raises(KeyboardInterrupt) as caught:
            raise_stop(signum)
        assert type(caught.value) is kind
