"""Text from elsewhere (servers, Triton, users) made safe to store and to show.

The registry refuses control characters in text inputs except newline and tab (glue.model_registry
schemas); a terminal must never receive them raw from data. ``escape_controls`` is the one rule
both sides use: every control character but ``\\n`` and ``\\t`` becomes its ``\\xNN`` escape.
"""

from __future__ import annotations

import re

#: C0 controls but newline and tab, DEL, and C1 controls (U+0080..U+009F).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(value: object) -> str:
    """``str(value)`` with every control character but ``\\n`` and ``\\t`` written as its
    ``\\xNN`` escape (``"\\x1b[2J"`` becomes the six characters ``\\x1b[2J``)."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
