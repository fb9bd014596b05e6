"""The digits training entrypoint against a real registry (uvicorn + SQLite) and a real local
artifact store: dataset -> trained, uploaded, registered version with lineage."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from glue.artifacts.store import ArtifactStore
from glue.training import digits
from glue.training.datasets import (
    make_digits_split,
    publish_digits_dataset,
    read_digits_dataset,
)
from glue.triton.server import free_ports
from tests.support.registry import RegistryServer


@pytest.fixture
def dataset(registry: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> str:
    root = registry.settings.artifacts.local_root
    monkeypatch.setenv("KUBEAI_ARTIFACTS_LOCAL_ROOT", str(root))
    store = ArtifactStore(registry.settings.artifacts)
    uri = store.local_uri("datasets", "digits")
    with registry.client() as client:
        split, published = publish_digits_dataset(store=store, registry=client, uri=uri, team="cv")
        assert published.created and published.record.rows == split.rows
        # Publishing the same split again is idempotent.
        _, again = publish_digits_dataset(store=store, registry=client, uri=uri, team="cv")
        assert not again.created and again.record.manifest == published.record.manifest
    assert split.rows == 1797 and len(split.y_test) == 450
    read = read_digits_dataset(store, uri, published.record.manifest)
    assert (read.y_test == split.y_test).all()
    return uri


def test_train_register_with_lineage_and_retry_is_idempotent(
    registry: RegistryServer, dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--registry-url",
        registry.url,
        "--team",
        "cv",
        "--algorithm",
        "logistic_regression",
        "--param",
        "C=0.5",
        "--source-kind",
        "PyTorchJob",
        "--source-namespace",
        "team-cv",
        "--source-name",
        "digits-train-1",
        "--source-uid",
        "uid-123",
    ]
    assert digits.main(argv) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["version"] == 1 and printed["metrics"]["accuracy"] >= 0.9
    with registry.client() as client:
        version = client.get_version("digits", 1)
        assert version.dataset == "digits"
        assert version.source.kind == "PyTorchJob" and version.source.uid == "uid-123"
        assert version.params == {"algorithm": "logistic_regression", "C": "0.5"}
        assert set(version.manifest.files) == {"config.pbtxt", "1/model.py", "1/model.joblib"}
        assert [t.name for t in version.signature.outputs] == ["LABEL", "PROBABILITIES"]
        # written below the team's prefix, where a scoped registry and the controller expect it
        assert "/artifacts/teams/cv/models/digits/runs/uid-123-" in version.artifact_uri
    # A retried job (same uid) does not create a second version.
    assert digits.main(argv) == 0
    with registry.client() as client:
        assert client.get_model("digits").latest_version == 1


def test_bad_params_exit_2(registry: RegistryServer, dataset: str, capsys) -> None:
    argv = ["--registry-url", registry.url, "--algorithm", "svc", "--param", "bogus=1"]
    assert digits.main(argv) == 2
    assert "--param" in capsys.readouterr().err
    assert digits.main(["--registry-url", registry.url, "--param", "novalue"]) == 2


# -- arguments are checked before anything is trained or uploaded --------------------------------


def _uploaded(registry: RegistryServer) -> list[str]:
    root = registry.settings.artifacts.local_root / "models"
    return sorted(str(p) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--model", "Digits"], "--model 'Digits' is invalid: it must be a DNS-1123 label"),
        (["--team", "Team_CV"], "--team 'Team_CV' is invalid: it must be a DNS-1123 label"),
        (["--source-kind", "1job"], "--source-kind '1job' is invalid"),
        (["--source-namespace", "Team"], "--source-namespace 'Team' is invalid"),
        (["--source-name", "Bad_Name"], "--source-name 'Bad_Name' is invalid"),
        (["--source-uid", "a/b"], "--source-uid 'a/b' is invalid"),
        (["--dataset", "Digits!"], "--dataset 'Digits!' is invalid"),
        (["--output-uri", "http://host/x"], "--output-uri 'http://host/x' is invalid"),
        (["--param", "C=-1"], "--param: The 'C' parameter of LogisticRegression"),
        (["--param", "bogus=1"], "--param bogus: not a parameter of logistic_regression"),
        (["--algorithm", "svc", "--param", "probability=true"], "--param probability"),
        (["--param", "novalue"], "--param 'novalue' must look like NAME=VALUE"),
    ],
)
def test_invalid_argument_exits_2_with_one_line_and_uploads_nothing(
    registry: RegistryServer,
    dataset: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    named: str,
) -> None:
    argv = ["--registry-url", registry.url, "--team", "cv", "--source-uid", "uid-bad", *args]
    assert digits.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert named in err, err
    assert "validation error" not in err and "pydantic" not in err
    assert _uploaded(registry) == []
    with registry.client() as client:
        assert client.list_models().total == 0


def test_missing_dataset_exits_2_and_unreachable_registry_exits_3(
    registry: RegistryServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEAI_ARTIFACTS_LOCAL_ROOT", str(registry.settings.artifacts.local_root))
    assert digits.main(["--registry-url", registry.url, "--dataset", "nope", "--team", "cv"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "dataset 'nope' is not recorded in the registry" in err
    assert _uploaded(registry) == []

    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    assert digits.main(["--registry-url", dead]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"registry {dead} unreachable" in err, err


def test_defaults_are_overridable_by_params() -> None:
    lr = digits.build_estimator("logistic_regression", {"max_iter": "300", "C": "0.5"})
    assert lr[-1].max_iter == 300 and lr[-1].C == 0.5
    forest = digits.build_estimator("random_forest", {"random_state": "7"})
    assert forest.random_state == 7
    mlp = digits.build_estimator("mlp", {"max_iter": "50", "random_state": "1"})
    assert (mlp[-1].max_iter, mlp[-1].random_state) == (50, 1)
    # Defaults still apply when not given; true/false/none are parsed.
    assert digits.build_estimator("logistic_regression", {})[-1].max_iter == 2000
    assert digits.build_estimator("random_forest", {"max_depth": "none"}).max_depth is None
    assert digits.build_estimator("random_forest", {"bootstrap": "false"}).bootstrap is False


def test_param_overriding_a_default_trains_and_registers(
    registry: RegistryServer, dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--registry-url", registry.url, "--team", "cv", "--param", "max_iter=300"]
    assert digits.main(argv) == 0, capsys.readouterr().err
    with registry.client() as client:
        assert client.get_version("digits", 1).params["max_iter"] == "300"


def test_default_source_name_is_valid_for_any_uid(
    registry: RegistryServer, dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--registry-url", registry.url, "--team", "cv", "--source-uid", "ABC_DEF:1"]
    assert digits.main(argv) == 0, capsys.readouterr().err
    with registry.client() as client:
        source = client.get_version("digits", 1).source
    assert (source.name, source.uid) == ("train-abc-def", "ABC_DEF:1")


def test_svc_gives_probabilities_without_warnings_and_keeps_accuracy() -> None:
    """SVC(probability=True) warns from scikit-learn 1.9 on: the svc algorithm must not use it,
    and the demo's v2 (C=10, gamma=0.001) must stay at least 0.98 accurate on the test split."""
    split = make_digits_split()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimator, metrics = digits.train_and_evaluate(split, "svc", {"C": "10", "gamma": "0.001"})
        probabilities = estimator.predict_proba(split.x_test.astype(np.float64))
    assert metrics["accuracy"] >= 0.98
    assert probabilities.shape == (len(split.y_test), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    # What the Triton model answers (argmax of the probabilities) is as accurate.
    labels = estimator.classes_[probabilities.argmax(axis=1)]
    assert (labels == split.y_test).mean() >= 0.98


@pytest.mark.parametrize(
    ("algorithm", "params"),
    [("logistic_regression", {"C": "0.05"}), ("random_forest", {}), ("mlp", {})],
)
def test_other_algorithms_train_without_warnings(algorithm: str, params: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, metrics = digits.train_and_evaluate(make_digits_split(), algorithm, params)
    assert metrics["accuracy"] >= 0.9


def test_written_config_warms_the_model_up_before_it_is_ready() -> None:
    """Triton runs ``model_warmup`` before a version is READY: a swapped-in version gets live
    traffic only once warm. The warmup matches the model's input and batch limit."""
    from glue.triton.config import parse_model_config

    config = parse_model_config(digits.CONFIG_TEMPLATE.format(name="digits"))
    (warmup,) = config.model_warmup
    assert warmup.count >= 1 and 1 <= warmup.batch_size <= config.max_batch_size
    (image,) = config.input
    assert set(warmup.inputs) == {image.name}
    sample = warmup.inputs[image.name]
    assert sample.data_type == image.data_type and list(sample.dims) == list(image.dims)
    assert config.HasField("dynamic_batching")  # queued requests are scored in one call
    assert sample.zero_data  # random_data gives NaN floats: the SVC refuses them, Triton crashed
