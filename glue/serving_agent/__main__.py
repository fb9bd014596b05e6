"""``python -m glue.serving_agent``: run the serving agent until SIGTERM or SIGINT.

Configuration comes from ``KUBEAI_AGENT_*`` environment variables (see ``AgentSettings``); an
invalid value exits with status 2 and a message naming the variable. Logs are JSON lines on
stderr (``--log-level``, ``--console`` for readable text).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

import structlog
from pydantic import ValidationError

from glue.observability import configure_logging
from glue.serving_agent.agent import ServingAgent
from glue.serving_agent.settings import AgentSettings


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, read settings, run the agent; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m glue.serving_agent", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--console", action="store_true", help="human-readable logs, not JSON")
    parser.add_argument("--once", action="store_true", help="reconcile once and exit")
    args = parser.parse_args(argv)
    configure_logging(args.log_level, json=not args.console)
    log = structlog.get_logger("kubeai.serving_agent")
    try:
        settings = AgentSettings()  # required fields come from the environment
    except ValidationError as exc:
        for error in exc.errors():
            where = "__".join(str(p) for p in error["loc"]).upper()
            name = f"KUBEAI_AGENT_{where}" if where else "KUBEAI_AGENT_*"
            print(f"invalid setting {name}: {error['msg']}", file=sys.stderr)
        return 2
    agent = ServingAgent(settings)
    if args.once:
        try:
            result = agent.reconcile_once()
        finally:
            agent.close()
        return 0 if result.registry_ok and result.triton_ok and not result.failed else 1
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal_received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        agent.run(stop)
    finally:
        agent.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
