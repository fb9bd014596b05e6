"""Running a coroutine in a synchronous test without touching the thread's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_isolated(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh event loop that never becomes the thread's current one.

    ``asyncio.run`` ends with ``set_event_loop(None)``, which leaves the main thread without a
    loop; later tests that call ``asyncio.get_event_loop()`` (Pulumi's mocks do) then fail with
    "There is no current event loop".
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
