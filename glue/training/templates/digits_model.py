"""Triton python-backend model serving a scikit-learn digits classifier (written by training).

Inputs: IMAGE FP32 [batch, 64] (8x8 pixel intensities 0..16). Outputs: LABEL INT64 [batch, 1],
PROBABILITIES FP32 [batch, 10]. The estimator is ``model.joblib`` in this version's directory.
"""

import os

import joblib
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Loads the estimator once per model instance and answers batched requests."""

    def initialize(self, args):
        """Load ``<model_repository>/<model_version>/model.joblib``."""
        path = os.path.join(args["model_repository"], args["model_version"], "model.joblib")
        self.estimator = joblib.load(path)

    def execute(self, requests):
        """One response per request: predicted label and class probabilities.

        Triton's dynamic batcher hands over every request queued meanwhile: their rows are
        scored in one call (scikit-learn's per-call input checks cost more than the rows).
        """
        images = [pb_utils.get_input_tensor_by_name(r, "IMAGE").as_numpy() for r in requests]
        probabilities = self.estimator.predict_proba(np.concatenate(images).astype(np.float64))
        labels = self.estimator.classes_[probabilities.argmax(axis=1)].astype(np.int64)
        responses, first = [], 0
        for image in images:
            last = first + len(image)
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("LABEL", labels[first:last].reshape(-1, 1)),
                        pb_utils.Tensor(
                            "PROBABILITIES", probabilities[first:last].astype(np.float32)
                        ),
                    ]
                )
            )
            first = last
        return responses
