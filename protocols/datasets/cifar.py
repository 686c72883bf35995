"""CIFAR-10 in the official python-pickle batch format (Krizhevsky, 2009).

A folder ``cifar-10-batches-py`` holds ``data_batch_1`` ... ``data_batch_5`` and
``test_batch``; each is a pickled dict with ``b"data"`` (N x 3072 uint8, channel-major:
1024 red, 1024 green, 1024 blue values of a 32x32 image, row-major) and
``b"labels"`` (N ints in 0-9). The loader takes whichever training batches are
present and says which. The batches are pickles: load only copies you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from protocols.datasets import DataError, Dataset, require_folder

TRAIN_BATCHES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_BATCH = "test_batch"
IMAGE_SHAPE = (3, 32, 32)
N_VALUES = int(np.prod(IMAGE_SHAPE))


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 3072 uint8, labels N) of one batch file; :class:`DataError` if malformed."""
    try:
        with path.open("rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as error:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {error}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path} is not a CIFAR-10 batch: expected a dict with keys b'data' and b'labels'")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.ndim != 2 or data.shape[1] != N_VALUES or data.dtype != np.uint8:
        raise DataError(f"{path}: data has shape {data.shape} and type {data.dtype}, expected N x {N_VALUES} uint8")
    if labels.shape != (len(data),) or labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: expected {len(data)} labels in 0-9, got shape {labels.shape}")
    return data, labels.astype(int)


def load_cifar10(directory, log=print) -> Dataset:
    """The batches present in ``directory`` (or its ``cifar-10-batches-py`` subfolder), intensities in [0, 1]."""
    directory = Path(directory)
    if (directory / "cifar-10-batches-py").is_dir():
        directory = directory / "cifar-10-batches-py"
    require_folder(directory, "CIFAR-10 folder", "pass --data-dir with the python batches")
    present = [name for name in TRAIN_BATCHES if (directory / name).is_file()]
    if not present or not (directory / TEST_BATCH).is_file():
        raise DataError(
            f"{directory} needs {TEST_BATCH} and at least one of data_batch_1 ... data_batch_5 "
            f"(the official python version, cifar-10-python.tar.gz, extracted)"
        )
    train = [read_batch(directory / name) for name in present]
    test_x, test_y = read_batch(directory / TEST_BATCH)
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    log(f"CIFAR-10: training batches {', '.join(present)} ({len(train_x)} images), {TEST_BATCH} ({len(test_x)})")
    return Dataset("cifar10", train_x / 255.0, train_y, test_x / 255.0, test_y, n_classes=10, input_shape=IMAGE_SHAPE)
