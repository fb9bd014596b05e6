"""The manifest's JSON Schema states exactly the keys ``check_relative_path`` accepts: the
pattern and the validator agree on every string of up to 5 characters over an alphabet of the
characters that matter (segment text, '.', '/', backslash, NUL, non-ASCII)."""

from __future__ import annotations

import itertools
import re

from glue.artifacts.manifest import RELATIVE_PATH_PATTERN, Manifest, check_relative_path


def _accepted(path: str) -> bool:
    try:
        check_relative_path(path)
    except ValueError:
        return False
    return True


def test_pattern_and_validator_agree() -> None:
    pattern = re.compile(RELATIVE_PATH_PATTERN)
    disagreements = [
        path
        for length in range(6)
        for path in map(
            "".join, itertools.product(["a", ".", "/", "\\", "\x00", "é"], repeat=length)
        )
        if (pattern.match(path) is not None) != _accepted(path)
    ]
    assert disagreements == []


def test_the_document_carries_the_pattern() -> None:
    names = Manifest.model_json_schema()["properties"]["files"]["propertyNames"]
    assert names == {"minLength": 1, "maxLength": 1024, "pattern": RELATIVE_PATH_PATTERN}
