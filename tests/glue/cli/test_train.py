"""``kubeai train submit``: render from the team's params ConfigMap, print or create.

The apiserver is an ``httpx.MockTransport`` standing in for it (the real one admits the rendered
jobs in tests/cluster/test_training_admission.py); the kubeconfig is a real file.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from glue.cli.main import app

runner = CliRunner()
PARAMS = {
    "metadata": {"name": "kubeai-training-limits", "namespace": "cv"},
    "data": {
        "queue": "cv",
        "maxGpusPerNode": "2",
        "gpuTaintKey": "nvidia.com/gpu",
        "gpuTaintValue": "present",
        "gpuTaintEffect": "NoSchedule",
    },
}
SPEC = {
    "model": "digits",
    "image": "registry.example/train:1",
    "command": ["python", "train.py"],
    "workers": 1,
    "gpusPerReplica": 1,
}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """(spec file, kubeconfig with namespace cv)."""
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://kube.test",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "secret-token"}}],
                "contexts": [
                    {"name": "m", "context": {"cluster": "c", "user": "u", "namespace": "cv"}}
                ],
                "current-context": "m",
            }
        )
    )
    return spec, config


def answers(post: httpx.Response | None = None, params: int = 200):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(params, json=PARAMS if params == 200 else {"message": "nf"})
        assert post is not None
        return post

    return handler


def test_dry_run_prints_the_job_and_creates_nothing(files, apiserver) -> None:
    spec, config = files
    seen = apiserver(answers())
    result = runner.invoke(
        app, ["train", "submit", str(spec), "--dry-run", "--kubeconfig", str(config)]
    )
    assert result.exit_code == 0, result.output
    job = yaml.safe_load(result.output)
    assert job["kind"] == "PyTorchJob" and job["metadata"]["namespace"] == "cv"
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {"queue": "cv", "minAvailable": 2}
    assert [r.method for r in seen] == ["GET"]
    assert seen[0].url.path == "/api/v1/namespaces/cv/configmaps/kubeai-training-limits"
    assert seen[0].headers["Authorization"] == "Bearer secret-token"
    assert "secret-token" not in result.output


def test_submit_creates_the_job_and_names_it(files, apiserver) -> None:
    spec, config = files
    created = httpx.Response(201, json={"metadata": {"name": "digits-x7k2q"}})
    seen = apiserver(answers(created))
    result = runner.invoke(
        app, ["train", "submit", str(spec), "--kubeconfig", str(config), "-n", "cv"]
    )
    assert result.exit_code == 0, result.output
    assert "pytorchjob cv/digits-x7k2q created (queue cv, gang of 2)" in result.output
    post = seen[1]
    assert post.url.path == "/apis/kubeflow.org/v1/namespaces/cv/pytorchjobs"
    assert json.loads(post.content)["metadata"]["labels"] == {"kubeai.dev/model": "digits"}


def test_an_admission_refusal_is_printed_as_is_with_exit_1(files, apiserver) -> None:
    spec, config = files
    refusal = "ValidatingAdmissionPolicy 'kubeai-training-cv' denied request: spec.queue: ..."
    apiserver(answers(httpx.Response(422, json={"message": refusal})))
    result = runner.invoke(app, ["train", "submit", str(spec), "--kubeconfig", str(config)])
    assert result.exit_code == 1
    assert refusal in result.output


def test_no_params_configmap_is_exit_1_naming_it(files, apiserver) -> None:
    spec, config = files
    apiserver(answers(params=404))
    result = runner.invoke(
        app, ["train", "submit", str(spec), "--dry-run", "--kubeconfig", str(config), "-n", "x"]
    )
    assert result.exit_code == 1
    assert "namespace 'x' has no ConfigMap kubeai-training-limits" in result.output


def test_unreachable_apiserver_is_exit_3(files, apiserver) -> None:
    spec, config = files

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    apiserver(down)
    result = runner.invoke(app, ["train", "submit", str(spec), "--kubeconfig", str(config)])
    assert result.exit_code == 3
    assert "unreachable" in result.output


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"workers": "two"}, "workers:"),
        ({"gpusPerReplica": 5}, "gpusPerReplica: 5 GPUs per replica"),
        ({"extra": 1}, "extra:"),
    ],
)
def test_a_bad_spec_is_exit_2_naming_the_key(files, apiserver, change, words) -> None:
    spec, config = files
    spec.write_text(yaml.safe_dump({**SPEC, **change}))
    apiserver(answers())
    result = runner.invoke(app, ["train", "submit", str(spec), "--kubeconfig", str(config)])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_not_yaml_and_a_missing_file_are_exit_2(files, tmp_path: Path) -> None:
    _, config = files
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    for path, words in ((bad, "not a YAML spec"), (tmp_path / "absent.yaml", "absent.yaml")):
        result = runner.invoke(app, ["train", "submit", str(path), "--kubeconfig", str(config)])
        assert result.exit_code == 2 and words in result.output, result.output
