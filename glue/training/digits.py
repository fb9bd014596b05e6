"""Training entrypoint for the digits classifier: the script a training job container runs.

``python -m glue.training.digits --dataset digits --model digits --algorithm svc --param C=10``

Steps: fetch the dataset record from the registry, download and verify the data, train a
scikit-learn estimator on the train split, evaluate it on the held-out test split, write a Triton
python-backend model directory (``config.pbtxt``, ``1/model.py``, ``1/model.joblib``) plus
``metrics.json``, upload both to the artifact store and register the version with its lineage
(dataset, source object and uid, params, metrics). Prints the registered version as one JSON line.

Inside a Kubeflow job the source reference comes from the environment (``KUBEAI_SOURCE_KIND``,
``KUBEAI_SOURCE_NAMESPACE``, ``KUBEAI_SOURCE_NAME``, ``KUBEAI_SOURCE_UID``, set through the
downward API); a retried job has the same uid, so it never registers a second version.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.training.datasets import DigitsSplit, read_digits_dataset
from glue.triton.config import parse_model_config, signature_of

ALGORITHMS = ("logistic_regression", "svc", "random_forest", "mlp")

CONFIG_TEMPLATE = """name: "{name}"
backend: "python"
max_batch_size: 256
input [
  {{ name: "IMAGE" data_type: TYPE_FP32 dims: [ 64 ] }}
]
output [
  {{ name: "LABEL" data_type: TYPE_INT64 dims: [ 1 ] }},
  {{ name: "PROBABILITIES" data_type: TYPE_FP32 dims: [ 10 ] }}
]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""


def _number(value: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def build_estimator(algorithm: str, params: dict[str, str]) -> Any:
    """A scikit-learn classifier with probability output for ``algorithm`` and ``params``.

    ``params`` values are strings (as registered); numbers are parsed. Raises ``ValueError``
    naming the algorithm or parameter when either is unknown.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    kwargs = {key: _number(value) for key, value in params.items()}
    factories: dict[str, Any] = {
        "logistic_regression": lambda: LogisticRegression(max_iter=2000, **kwargs),
        "svc": lambda: SVC(probability=True, random_state=0, **kwargs),
        "random_forest": lambda: RandomForestClassifier(random_state=0, **kwargs),
        "mlp": lambda: MLPClassifier(random_state=0, max_iter=500, **kwargs),
    }
    if algorithm not in factories:
        raise ValueError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    try:
        estimator = factories[algorithm]()
    except TypeError as exc:
        raise ValueError(f"--param: {exc}") from exc
    if algorithm in ("logistic_regression", "mlp"):
        return make_pipeline(StandardScaler(), estimator)
    return estimator


def train_and_evaluate(
    split: DigitsSplit, algorithm: str, params: dict[str, str]
) -> tuple[Any, dict[str, float]]:
    """Fit on the train split, score on the test split: (estimator, metrics).

    Metrics: ``accuracy`` and ``f1_macro`` on the test split (0..1), ``train_seconds``.
    """
    from sklearn.metrics import accuracy_score, f1_score

    estimator = build_estimator(algorithm, params)
    start = time.perf_counter()
    estimator.fit(split.x_train.astype(np.float64), split.y_train)
    elapsed = time.perf_counter() - start
    predicted = estimator.predict(split.x_test.astype(np.float64))
    return estimator, {
        "accuracy": float(accuracy_score(split.y_test, predicted)),
        "f1_macro": float(f1_score(split.y_test, predicted, average="macro")),
        "train_seconds": round(elapsed, 4),
        "train_rows": float(len(split.y_train)),
        "test_rows": float(len(split.y_test)),
    }


def write_model_directory(out: Path, *, model: str, estimator: Any) -> schemas.Signature:
    """Write a Triton python-backend model directory for ``model`` at ``out``.

    Layout: ``config.pbtxt`` + ``1/model.py`` + ``1/model.joblib``. Returns the signature read
    back from the written config.pbtxt (so registration states exactly what Triton will see).
    """
    (out / "1").mkdir(parents=True)
    config_text = CONFIG_TEMPLATE.format(name=model)
    (out / "config.pbtxt").write_text(config_text)
    template = resources.files("glue.training").joinpath("templates/digits_model.py")
    (out / "1" / "model.py").write_text(template.read_text())
    joblib.dump(estimator, out / "1" / "model.joblib")
    return signature_of(parse_model_config(config_text))


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["C=10"]`` -> ``{"C": "10"}``; raises ``ValueError`` if a pair is malformed."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {pair!r} must look like NAME=VALUE")
        params[key] = value
    return params


def run(args: argparse.Namespace) -> schemas.VersionRead:
    """Train, upload and register one version; returns the registered version."""
    store = ArtifactStore(ArtifactSettings())
    params = parse_params(args.param)
    uid = args.source_uid or str(uuid.uuid4())
    with RegistryClient(args.registry_url, timeout=60) as registry:
        done = registry.find_version_by_source(args.model, uid)
        if done is not None:  # a retried job: its version is already registered
            return done
        dataset = registry.get_dataset(args.dataset)
        split = read_digits_dataset(store, dataset.uri, dataset.manifest)
        estimator, metrics = train_and_evaluate(split, args.algorithm, params)
        # A fresh attempt directory: a retry after a crash between upload and registration
        # never collides with the earlier attempt's (immutable) files.
        attempt = f"{uid}-{uuid.uuid4().hex[:8]}"
        base = args.output_uri or store.local_uri("models", args.model, "runs", attempt)
        with tempfile.TemporaryDirectory(prefix="kubeai-train-") as tmp:
            model_dir = Path(tmp) / args.model
            signature = write_model_directory(model_dir, model=args.model, estimator=estimator)
            metrics_file = Path(tmp) / "metrics" / "metrics.json"
            metrics_file.parent.mkdir()
            metrics_file.write_text(json.dumps(metrics, indent=2, sort_keys=True))
            manifest = store.upload_dir(model_dir, store.join_uri(base, "model"))
            store.upload_dir(metrics_file.parent, store.join_uri(base, "metrics"))
            shutil.rmtree(model_dir)
        registry.ensure_model(
            schemas.ModelCreate(
                name=args.model,
                team=args.team,
                task="image-classification",
                framework="scikit-learn",
                description="Handwritten digit classifier (8x8 images)",
            )
        )
        return registry.register_version(
            args.model,
            schemas.VersionCreate(
                artifact_uri=store.join_uri(base, "model"),
                manifest=manifest,
                format="triton-python",
                signature=signature,
                metrics=metrics,
                params={"algorithm": args.algorithm, **params},
                dataset=args.dataset,
                source=schemas.SourceRef(
                    kind=args.source_kind,
                    namespace=args.source_namespace,
                    name=args.source_name or f"train-{uid[:8]}",
                    uid=uid,
                ),
                created_by=args.created_by,
            ),
        )


def parser() -> argparse.ArgumentParser:
    """Command-line arguments; each defaults from a ``KUBEAI_*`` environment variable."""
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m glue.training.digits", description=__doc__.split("\n")[0]
    )
    p.add_argument("--registry-url", default=env("KUBEAI_REGISTRY_URL", "http://127.0.0.1:8080"))
    p.add_argument("--dataset", default=env("KUBEAI_DATASET", "digits"))
    p.add_argument("--model", default=env("KUBEAI_MODEL", "digits"))
    p.add_argument("--team", default=env("KUBEAI_TEAM", "default"))
    p.add_argument("--algorithm", choices=ALGORITHMS, default="logistic_regression")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--output-uri", default=env("KUBEAI_OUTPUT_URI"))
    p.add_argument("--source-kind", default=env("KUBEAI_SOURCE_KIND", "LocalRun"))
    p.add_argument("--source-namespace", default=env("KUBEAI_SOURCE_NAMESPACE", "local"))
    p.add_argument("--source-name", default=env("KUBEAI_SOURCE_NAME"))
    p.add_argument("--source-uid", default=env("KUBEAI_SOURCE_UID"))
    p.add_argument("--created-by", default=env("KUBEAI_CREATED_BY", env("USER", "")))
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 on bad input, 1 on other failures)."""
    args = parser().parse_args(argv)
    try:
        version = run(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "model": version.model,
                "version": version.version,
                "artifact_uri": version.artifact_uri,
                "metrics": version.metrics,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
