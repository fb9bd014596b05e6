"""Triton python-backend model serving a scikit-learn digits classifier (written by training).

Inputs: IMAGE FP32 [batch, 64] (8x8 pixel intensities 0..16). Outputs: LABEL INT64 [batch, 1],
PROBABILITIES FP32 [batch, 10]. The estimator is ``model.joblib`` in this version's directory.
"""

import contextlib
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

    def finalize(self):
        """At unload: lowest CPU priority for every thread of this stub process, so tearing the
        interpreter down (~0.3 CPU-s with scikit-learn loaded) yields to the version now
        serving instead of stalling its requests on a busy machine."""
        try:
            threads = [int(tid) for tid in os.listdir("/proc/self/task")]
        except OSError:  # no procfs: the calling thread only
            threads = [0]
        for tid in threads:
            with contextlib.suppress(OSError):  # the thread has exited meanwhile
                os.setpriority(os.PRIO_PROCESS, tid, 19)

    def execute(self, requests):
        """One response per request: predicted label and class probabilities."""
        responses = []
        for request in requests:
            image = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
            probabilities = self.estimator.predict_proba(image.astype(np.float64))
            labels = self.estimator.classes_[probabilities.argmax(axis=1)]
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("LABEL", labels.astype(np.int64).reshape(-1, 1)),
                        pb_utils.Tensor("PROBABILITIES", probabilities.astype(np.float32)),
                    ]
                )
            )
        return responses
