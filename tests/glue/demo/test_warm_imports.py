"""``warm_imports``: the dataset step's imports run in a thread while the registry starts."""

from __future__ import annotations

import sys
from pathlib import Path

from glue.demo.runner import WARM_IMPORTS, warm_imports
from glue.training import datasets


def test_imports_the_modules_in_a_thread() -> None:
    sys.modules.pop("tomllib", None)
    thread = warm_imports(("tomllib",))
    assert thread.daemon
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "tomllib" in sys.modules


def test_an_import_error_is_left_to_the_step() -> None:
    thread = warm_imports(("glue.no_such_module", "json"))
    thread.join(timeout=30)
    assert not thread.is_alive()  # finished the list, raised nothing
    assert "glue.no_such_module" not in sys.modules


def test_warms_what_the_dataset_step_imports() -> None:
    text = Path(datasets.__file__).read_text()
    for name in WARM_IMPORTS:
        assert f"from {name} import" in text, name
