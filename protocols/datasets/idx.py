"""MNIST in the official IDX format (LeCun et al.), gzipped or not."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from protocols.datasets import DataError, Dataset, require_folder

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"missing MNIST file {stem}[.gz] in {directory}; put the four official IDX files "
        f"({', '.join(f'{s}.gz' for s in MNIST_FILES.values())}) there, gzipped or not"
    )


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file; raise :class:`DataError` on a wrong magic number or a truncated file."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    if len(raw) < 8:
        raise DataError(f"{path} is truncated: {len(raw)} bytes, shorter than an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path} is not an IDX file of the expected kind: magic number {found}, expected {magic}")
    n_dims = raw[3]
    header = 4 + 4 * n_dims
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(n_dims))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or corrupt: {len(raw)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(directory) -> Dataset:
    """Images as intensities in [0, 1], flattened to 784 inputs; labels 0-9."""
    directory = Path(directory)
    require_folder(directory, "MNIST data folder", "pass --data-dir with the four IDX files")
    arrays = {}
    for key, stem in MNIST_FILES.items():
        arrays[key] = read_idx(_find(directory, stem), IMAGE_MAGIC if "images" in key else LABEL_MAGIC)
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise DataError(
                f"MNIST {split}: {len(arrays[f'{split}_images'])} images but {len(arrays[f'{split}_labels'])} labels"
            )
    return Dataset(
        name="mnist",
        train_x=arrays["train_images"].reshape(len(arrays["train_images"]), -1) / 255.0,
        train_y=arrays["train_labels"].astype(int),
        test_x=arrays["test_images"].reshape(len(arrays["test_images"]), -1) / 255.0,
        test_y=arrays["test_labels"].astype(int),
        n_classes=10,
        input_shape=(1,) + arrays["train_images"].shape[1:],
    )
