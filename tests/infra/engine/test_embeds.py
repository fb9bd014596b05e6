"""The provider's embedded files are copied out of the pinned module, or refused clearly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from infra.engine import components
from infra.engine.embeds import EMBED_DIR, EmbedFiles, copy_embeds, module_dir
from infra.gobuild import Binary, BuildError

FILES = components.KUBERNETES_PROVIDER_EMBEDS
WRAPPER = components.MODULES_DIR / "kubernetes-provider"


def test_copy_embeds_copies_each_file_into_the_target(tmp_path: Path) -> None:
    source = tmp_path / "module" / "cmd"
    source.mkdir(parents=True)
    for name in FILES:
        (source / name).write_text(f"{name} from the module")
        (source / name).chmod(0o444)  # the module cache is read-only
    target = tmp_path / "wrapper" / EMBED_DIR
    assert copy_embeds(source, target, FILES) == [target / name for name in FILES]
    assert copy_embeds(source, target, FILES) == [target / name for name in FILES]  # again
    assert {p.name: p.read_text() for p in target.iterdir()} == {
        name: f"{name} from the module" for name in FILES
    }


def test_copy_embeds_refuses_a_module_folder_without_them(tmp_path: Path) -> None:
    source = tmp_path / "module" / "cmd"
    source.mkdir(parents=True)
    (source / "schema.json").write_text("{}")
    target = tmp_path / "wrapper" / EMBED_DIR
    message = f"cannot embed terraform-mapping.json: not in {source} "
    with pytest.raises(BuildError, match=re.escape(message)):
        copy_embeds(source, target, FILES)
    assert not target.exists()  # nothing copied


@pytest.fixture
def offline_wrapper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the provider's wrapper module; go may read only the local module cache."""
    if shutil.which("go") is None:
        pytest.skip("go is not installed")
    monkeypatch.setenv("GOPROXY", "off")
    wrapper = tmp_path / "kubernetes-provider"
    wrapper.mkdir()
    for name in ("go.mod", "go.sum", "main.go"):
        shutil.copy(WRAPPER / name, wrapper / name)
    return wrapper


def test_the_prepare_step_copies_the_files_of_the_pinned_module(offline_wrapper: Path) -> None:
    try:
        folder = module_dir(components.KUBERNETES_PROVIDER_MODULE, offline_wrapper)
    except BuildError as exc:
        pytest.skip(f"the pinned provider module is not in the local module cache: {exc}")
    assert folder.name == f"v4@{components.KUBERNETES_PROVIDER_MODULE_VERSION}"
    binary = Binary("pulumi-resource-kubernetes", offline_wrapper, "unused")
    EmbedFiles(components.KUBERNETES_PROVIDER_MODULE, components.KUBERNETES_PROVIDER_CMD, FILES)(
        binary
    )
    source = folder / components.KUBERNETES_PROVIDER_CMD
    for name in FILES:
        assert (offline_wrapper / EMBED_DIR / name).read_bytes() == (source / name).read_bytes()


def test_module_dir_refuses_a_module_the_wrapper_does_not_require(offline_wrapper: Path) -> None:
    with pytest.raises(BuildError, match=r"go mod download example\.com/absent in .* failed: ."):
        module_dir("example.com/absent", offline_wrapper)


def test_copy_embeds_reports_a_target_it_cannot_write(tmp_path: Path) -> None:
    source = tmp_path / "module"
    source.mkdir()
    for name in FILES:
        (source / name).write_text("{}")
    blocker = tmp_path / "wrapper"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(BuildError, match=r"cannot copy the embedded files from .* to .*embed: "):
        copy_embeds(source, blocker / EMBED_DIR, FILES)
