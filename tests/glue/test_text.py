"""glue/text.py: the one rule for control characters in text from elsewhere."""

from glue.text import escape_controls


def test_controls_but_newline_and_tab_are_escaped() -> None:
    assert escape_controls("a\x1b[2J\x07b\x7f\x9b") == "a\\x1b[2J\\x07b\\x7f\\x9b"
    assert escape_controls("line\n\tindented") == "line\n\tindented"
    assert escape_controls(3) == "3"
