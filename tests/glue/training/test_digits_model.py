"""The python-backend model template (``glue/training/templates/digits_model.py``) outside Triton.

``triton_python_backend_utils`` exists only inside Triton's stub; a stand-in module lets the
template be imported.
"""

from __future__ import annotations

import itertools
import sys
import types
from importlib import resources
from typing import Any

import numpy as np
import pytest

from glue.training.datasets import make_digits_split
from glue.training.digits import parse_params, train_and_evaluate


class _Tensor:
    def __init__(self, name: str, array: np.ndarray) -> None:
        self.name, self.array = name, array

    def as_numpy(self) -> np.ndarray:
        return self.array


def _stand_in_utils() -> types.ModuleType:
    utils = types.ModuleType("triton_python_backend_utils")
    utils.Tensor = _Tensor  # type: ignore[attr-defined]
    utils.InferenceResponse = lambda output_tensors: {t.name: t.array for t in output_tensors}  # type: ignore[attr-defined]
    utils.get_input_tensor_by_name = lambda request, name: request[name]  # type: ignore[attr-defined]
    return utils


def test_requests_batched_by_triton_get_one_response_each_with_their_own_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _stand_in_utils())
    template = resources.files("glue.training").joinpath("templates/digits_model.py")
    namespace: dict[str, Any] = {}
    exec(compile(template.read_text(), "digits_model.py", "exec"), namespace)
    split = make_digits_split()
    estimator, _ = train_and_evaluate(split, "logistic_regression", parse_params([]))
    model = namespace["TritonPythonModel"]()
    model.estimator = estimator
    sizes = [3, 1, 5]
    starts = np.cumsum([0, *sizes])
    rows = [split.x_test[a:b].astype(np.float32) for a, b in itertools.pairwise(starts)]
    responses = model.execute([{"IMAGE": _Tensor("IMAGE", r)} for r in rows])
    assert len(responses) == len(sizes)
    for response, image in zip(responses, rows, strict=True):
        expected = estimator.predict(image.astype(np.float64))
        assert response["LABEL"].shape == (len(image), 1) and response["LABEL"].dtype == np.int64
        assert list(response["LABEL"].reshape(-1)) == list(expected)
        assert response["PROBABILITIES"].shape == (len(image), 10)
        assert response["PROBABILITIES"].dtype == np.float32
