"""Datasets the platform ships for demos and tests, written to the artifact store and recorded.

``digits``: scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes; UCI ML
hand-written digits test set), split once into train/test with a fixed seed so every training
run and every evaluation sees the same held-out split.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glue.artifacts.manifest import Manifest
from glue.artifacts.store import ArtifactStore
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import Published, publish_dataset
from glue.model_registry.schemas import DatasetRead

SPLIT_FILE = "split.npz"
INFO_FILE = "dataset.json"


@dataclass(frozen=True)
class DigitsSplit:
    """Train/test arrays: ``x_*`` float32 [n, 64] (pixel intensities 0..16), ``y_*`` int64 [n]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def rows(self) -> int:
        """Total rows (train + test)."""
        return int(len(self.y_train) + len(self.y_test))


def make_digits_split(*, test_fraction: float = 0.25, seed: int = 0) -> DigitsSplit:
    """Load the bundled digits and split them, stratified by class.

    Raises ``ValueError`` unless 0 < ``test_fraction`` < 1.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    data = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data.astype(np.float32),
        data.target.astype(np.int64),
        test_size=test_fraction,
        random_state=seed,
        stratify=data.target,
    )
    return DigitsSplit(x_train, y_train, x_test, y_test)


def publish_digits_dataset(
    *,
    store: ArtifactStore,
    registry: RegistryClient,
    uri: str,
    team: str,
    name: str = "digits",
    test_fraction: float = 0.25,
    seed: int = 0,
) -> tuple[DigitsSplit, Published[DatasetRead]]:
    """Write the digits split (``split.npz``, ``dataset.json``) to ``uri`` and record it as
    ``name``: (split, published record with its manifest).

    Idempotent: the same split to the same URI again returns the recorded dataset
    (``created=False``). Errors are ``publish_dataset``'s.
    """
    split = make_digits_split(test_fraction=test_fraction, seed=seed)
    info: dict[str, Any] = {
        "name": name,
        "source": "sklearn.datasets.load_digits (UCI ML hand-written digits)",
        "features": 64,
        "classes": 10,
        "rows": split.rows,
        "train_rows": len(split.y_train),
        "test_rows": len(split.y_test),
        "test_fraction": test_fraction,
        "seed": seed,
    }
    with tempfile.TemporaryDirectory(prefix="kubeai-dataset-") as tmp:
        root = Path(tmp)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            x_train=split.x_train,
            y_train=split.y_train,
            x_test=split.x_test,
            y_test=split.y_test,
        )
        (root / SPLIT_FILE).write_bytes(buffer.getvalue())
        (root / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True))
        published = publish_dataset(
            store=store,
            registry=registry,
            source_dir=root,
            uri=uri,
            name=name,
            team=team,
            rows=split.rows,
            description=(
                f"scikit-learn digits, stratified {100 - round(test_fraction * 100)}/"
                f"{round(test_fraction * 100)} split, seed {seed}"
            ),
        )
    return split, published


def read_digits_dataset(store: ArtifactStore, uri: str, manifest: Manifest) -> DigitsSplit:
    """Download and verify (sha256) the dataset at ``uri``; raises ``ChecksumMismatch`` etc."""
    with tempfile.TemporaryDirectory(prefix="kubeai-dataset-") as tmp:
        dest = Path(tmp) / "data"
        store.download_dir(uri, dest, manifest)
        with np.load(dest / SPLIT_FILE) as arrays:
            return DigitsSplit(
                arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
            )
