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

Every argument is checked before any data is read or uploaded. Exit status (``ExitCode``, the
table every command shares): 0 registered (or already registered by an earlier attempt), 2 bad
input (an invalid argument or ``--param``, or a dataset the registry does not record; nothing
uploaded), 3 registry or artifact storage unreachable (worth a retry), 1 any other failure.
Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from pydantic import TypeAdapter, ValidationError

from glue.artifacts.errors import InvalidArtifactURI, StorageUnavailable
from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.cli.exit_codes import ExitCode
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient, RegistryError, RegistryUnavailable
from glue.model_registry.publish import publish_model
from glue.training.datasets import DigitsSplit, read_digits_dataset

ALGORITHMS = ("logistic_regression", "svc", "random_forest", "mlp")
#: Longest ``--param`` value the registry records.
MAX_PARAM_CHARS = 1024

#: The model's Triton config. ``model_warmup``: Triton sends these requests (blank images, the
#: load's batch size) to each new instance before it marks the version READY, so after a hot
#: swap live traffic reaches only a warm instance (a cold python-backend instance answered its
#: first requests several times slower than p99). Not ``random_data``: random FP32 bytes hold
#: NaNs, which scikit-learn refuses, and tritonserver 2.51 crashed on that failed warmup.
#: ``dynamic_batching``: requests queued while the instance is busy reach ``execute`` together
#: and are scored in one call (the template's ``execute``).
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
dynamic_batching {{ }}
model_warmup [
  {{
    name: "first_requests"
    batch_size: 8
    count: 4
    inputs {{ key: "IMAGE" value: {{ data_type: TYPE_FP32 dims: [ 64 ] zero_data: true }} }}
  }}
]
"""


class BadInput(ValueError):  # noqa: N818 - reads as a state in `except` clauses
    """An argument, or the dataset it names, is invalid (exit status 2); the message names it."""


#: Hyperparameters each algorithm gets unless ``--param`` sets them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 2000},
    "svc": {},
    "random_forest": {"random_state": 0},
    "mlp": {"random_state": 0, "max_iter": 500},
}
#: Parameters refused per algorithm: svc probabilities come from ``CalibratedClassifierCV``
#: (``SVC(probability=True)`` is deprecated in scikit-learn 1.9, removed in 1.11).
REFUSED: dict[str, dict[str, str]] = {
    "svc": {"probability": "svc probabilities always come from CalibratedClassifierCV"}
}
_WORDS: dict[str, bool | None] = {"true": True, "false": False, "none": None}


def _number(value: str) -> int | float | str | bool | None:
    """``"10"`` -> 10, ``"0.5"`` -> 0.5, ``"true"``/``"false"``/``"none"`` -> True/False/None."""
    if value.lower() in _WORDS:
        return _WORDS[value.lower()]
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def build_estimator(algorithm: str, params: dict[str, str]) -> Any:
    """A scikit-learn classifier with probability output for ``algorithm`` and ``params``.

    ``params`` values are strings (as registered); numbers and true/false/none are parsed, and
    they override the algorithm's ``DEFAULTS``. Parameter values are checked here (scikit-learn's
    own constraints), before any data is touched. Raises ``BadInput`` (a ``ValueError``) naming
    the algorithm or parameter when either is unknown or a value is invalid.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    factories: dict[str, Any] = {
        "logistic_regression": LogisticRegression,
        "svc": SVC,
        "random_forest": RandomForestClassifier,
        "mlp": MLPClassifier,
    }
    if algorithm not in factories:
        raise BadInput(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    factory = factories[algorithm]
    refused = REFUSED.get(algorithm, {})
    clash = sorted(set(params) & set(refused))
    if clash:
        raise BadInput(f"--param {clash[0]}: not accepted for {algorithm} ({refused[clash[0]]})")
    valid = set(factory().get_params()) - set(refused)
    unknown = sorted(set(params) - valid)
    if unknown:
        raise BadInput(
            f"--param {unknown[0]}: not a parameter of {algorithm} "
            f"(valid: {', '.join(sorted(valid))})"
        )
    kwargs = {**DEFAULTS.get(algorithm, {}), **{k: _number(v) for k, v in params.items()}}
    estimator = factory(**kwargs)
    check = getattr(estimator, "_validate_params", None)  # scikit-learn's constraint check
    if callable(check):
        try:
            check()
        except (ValueError, TypeError) as exc:
            raise BadInput(f"--param: {_one_line(exc)}") from exc
    if algorithm == "svc":
        # Platt scaling on cross-validated decision values, one SVC fitted on all the data:
        # what SVC(probability=True) did, as scikit-learn recommends from 1.9 on.
        return CalibratedClassifierCV(estimator, ensemble=False)
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
    try:
        estimator.fit(split.x_train.astype(np.float64), split.y_train)
    except ValueError as exc:  # a combination of parameters the estimator refuses
        raise BadInput(f"--param: {algorithm} refused the parameters: {_one_line(exc)}") from exc
    elapsed = time.perf_counter() - start
    predicted = estimator.predict(split.x_test.astype(np.float64))
    return estimator, {
        "accuracy": float(accuracy_score(split.y_test, predicted)),
        "f1_macro": float(f1_score(split.y_test, predicted, average="macro")),
        "train_seconds": round(elapsed, 4),
        "train_rows": float(len(split.y_train)),
        "test_rows": float(len(split.y_test)),
    }


def write_model_directory(out: Path, *, model: str, estimator: Any) -> Path:
    """Write a Triton python-backend model directory for ``model`` at ``out``; returns ``out``.

    Layout: ``config.pbtxt`` + ``1/model.py`` + ``1/model.joblib``. ``publish_model`` reads the
    signature back from the written config.pbtxt, so registration states what Triton will see.
    """
    (out / "1").mkdir(parents=True)
    (out / "config.pbtxt").write_text(CONFIG_TEMPLATE.format(name=model))
    template = resources.files("glue.training").joinpath("templates/digits_model.py")
    (out / "1" / "model.py").write_text(template.read_text())
    joblib.dump(estimator, out / "1" / "model.joblib")
    return out


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["C=10"]`` -> ``{"C": "10"}``; raises ``BadInput`` if a pair is malformed."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"--param {pair!r} must look like NAME=VALUE")
        if len(value) > MAX_PARAM_CHARS or "\x00" in value:
            raise BadInput(
                f"--param {key}: the value must be at most {MAX_PARAM_CHARS} characters, no NUL"
            )
        params[key] = value
    return params


#: What each argument checked against the registry's schemas must look like.
_DNS_LABEL = (
    "a DNS-1123 label: 1-63 lowercase letters, digits or '-', starting and ending with a letter "
    "or digit"
)
_HINTS = {
    "--model": _DNS_LABEL,
    "--team": _DNS_LABEL,
    "--dataset": _DNS_LABEL,
    "--source-namespace": _DNS_LABEL,
    "--source-name": (
        "a DNS-1123 subdomain: 1-253 lowercase letters, digits, '-' or '.', starting and ending "
        "with a letter or digit"
    ),
    "--source-kind": (
        "1-63 letters or digits starting with a letter (a Kubernetes kind, e.g. PyTorchJob)"
    ),
    "--source-uid": "1-128 letters, digits, '.', '_', ':' or '-'",
}
_STRING_ERRORS = ("string_pattern_mismatch", "string_too_long", "string_too_short", "string_type")


def _refused(exc: ValidationError, flags: dict[str, str]) -> BadInput:
    """One readable line for the first error of ``exc``; ``flags`` maps field -> argument."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    flag = flags.get(field, field or "argument")
    value = error.get("input")
    if error["type"] in _STRING_ERRORS and flag in _HINTS:
        return BadInput(f"{flag} {value!r} is invalid: it must be {_HINTS[flag]}")
    return BadInput(f"{flag} {value!r} is invalid: {_one_line(error['msg'])}")


@dataclass(frozen=True)
class TrainingRequest:
    """The validated arguments of one training run."""

    algorithm: str
    params: dict[str, str]
    model: schemas.ModelCreate
    dataset: str
    source: schemas.SourceRef
    output_uri: str | None


def _default_source_name(uid: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", uid[:8].lower()).strip("-")
    return f"train-{slug}" if slug else "train"


def validate(args: argparse.Namespace, store: ArtifactStore) -> TrainingRequest:
    """Check every argument before any data is read, trained or uploaded.

    Names are checked with the registry's schemas (``ModelCreate``, ``SourceRef``), params by
    building the estimator. Raises ``BadInput`` naming the first invalid argument.
    """
    params = parse_params(args.param)
    build_estimator(args.algorithm, params)
    try:
        model = schemas.ModelCreate(
            name=args.model,
            team=args.team,
            task="image-classification",
            framework="scikit-learn",
            description="Handwritten digit classifier (8x8 images)",
        )
    except ValidationError as exc:
        raise _refused(exc, {"name": "--model", "team": "--team"}) from exc
    uid = args.source_uid or str(uuid.uuid4())
    try:
        source = schemas.SourceRef(
            kind=args.source_kind,
            namespace=args.source_namespace,
            name=args.source_name or _default_source_name(uid),
            uid=uid,
        )
    except ValidationError as exc:
        flags = {f: f"--source-{f}" for f in ("kind", "namespace", "name", "uid")}
        raise _refused(exc, flags) from exc
    try:
        dataset = TypeAdapter(schemas.Name).validate_python(args.dataset)
    except ValidationError as exc:
        raise _refused(exc, {"": "--dataset"}) from exc
    output_uri = None
    if args.output_uri:
        try:
            output_uri = store.check_uri(args.output_uri)
        except InvalidArtifactURI as exc:
            raise BadInput(f"--output-uri {args.output_uri!r} is invalid: {exc}") from exc
    return TrainingRequest(
        algorithm=args.algorithm,
        params=params,
        model=model,
        dataset=dataset,
        source=source,
        output_uri=output_uri,
    )


def _artifact_store() -> ArtifactStore:
    try:
        return ArtifactStore(ArtifactSettings())
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "__".join(str(p) for p in error["loc"]).upper()
        raise BadInput(
            f"invalid setting KUBEAI_ARTIFACTS_{where or '*'}: {_one_line(error['msg'])}"
        ) from exc


def run(args: argparse.Namespace) -> schemas.VersionRead:
    """Validate, train, upload and register one version; returns the registered version.

    Raises ``BadInput`` for an invalid argument or a dataset the registry does not know (before
    anything is uploaded), ``RegistryUnavailable``/``StorageUnavailable`` when the registry or
    the artifact storage cannot be reached, other errors as they come.
    """
    store = _artifact_store()
    request = validate(args, store)
    uid = request.source.uid
    name = request.model.name
    with RegistryClient.from_environment(
        args.registry_url, team=request.model.team, timeout=60
    ) as registry:
        done = registry.find_version_by_source(name, uid)
        if done is not None:  # a retried job: its version is already registered
            return done
        try:
            dataset = registry.get_dataset(request.dataset)
        except RegistryError as exc:
            if exc.status != 404:
                raise
            raise BadInput(
                f"--dataset: dataset {request.dataset!r} is not recorded in the registry "
                f"{args.registry_url} (register it first)"
            ) from exc
        if dataset.manifest is None:
            raise BadInput(
                f"--dataset: dataset {request.dataset!r} mirrors a Fluid Dataset (no file "
                "manifest); the digits trainer reads a file dataset (kubeai datasets add)"
            )
        split = read_digits_dataset(store, dataset.uri, dataset.manifest)
        estimator, metrics = train_and_evaluate(split, request.algorithm, request.params)
        # A fresh attempt directory: a retry after a crash between upload and registration
        # never collides with the earlier attempt's (immutable) files.
        attempt = f"{uid}-{uuid.uuid4().hex[:8]}"
        team = request.model.team or "default"
        base = request.output_uri or store.local_uri("teams", team, "models", name, "runs", attempt)
        with tempfile.TemporaryDirectory(prefix="kubeai-train-") as tmp:
            model_dir = Path(tmp) / name
            write_model_directory(model_dir, model=name, estimator=estimator)
            metrics_file = Path(tmp) / "metrics" / "metrics.json"
            metrics_file.parent.mkdir()
            metrics_file.write_text(json.dumps(metrics, indent=2, sort_keys=True))
            store.upload_dir(metrics_file.parent, store.join_uri(base, "metrics"))
            published = publish_model(
                store=store,
                registry=registry,
                model=request.model,
                model_dir=model_dir,
                uri=store.join_uri(base, "model"),
                source=request.source,
                metrics=metrics,
                params={"algorithm": request.algorithm, **request.params},
                dataset=request.dataset,
            )
        return published.record


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
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status (``ExitCode``); errors are one line."""
    args = parser().parse_args(argv)
    try:
        version = run(args)
    except ValidationError as exc:  # a check this module missed: still one line, no dump
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "argument"
        print(f"error: {where}: {_one_line(error['msg'])}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except ValueError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except (RegistryUnavailable, StorageUnavailable) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return ExitCode.FAILED
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
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
