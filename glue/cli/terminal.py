"""What the CLI may write to a terminal: server-supplied text with its control characters shown.

A registry answer (a description, an error message, an alias name) is data; written raw, a
``\\x1b[2J`` in it would clear the screen and ``\\x1b]0;...\\x07`` retitle the window. Every such
string goes through ``shown`` before it is printed.
"""

from __future__ import annotations

from glue.text import escape_controls


def shown(value: object) -> str:
    """``str(value)`` with every control character but ``\\n`` and ``\\t`` written as its
    ``\\xNN`` escape (``"\\x1b[2J"`` prints as the six characters ``\\x1b[2J``)."""
    return escape_controls(value)
