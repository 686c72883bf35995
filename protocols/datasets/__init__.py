"""Loaders from official dataset formats to numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DataError(Exception):
    """Data that are missing, unreadable or malformed (reported to the user, exit status 2)."""


def require_folder(directory, what: str, expected: str = "") -> None:
    """A :class:`DataError` unless ``directory`` is a folder: '<what> <directory> does not exist' (or 'is a
    file, not a folder'), followed by ``expected``."""
    problem = "is a file, not a folder" if directory.exists() else "does not exist"
    if not directory.is_dir():
        raise DataError(f"{what} {directory} {problem}" + (f"; {expected}" if expected else ""))


@dataclass
class Dataset:
    """Intensities in [0, 1] of shape (N, n_inputs) and integer labels.

    ``input_shape`` is how the n_inputs are laid out, row-major: (channels, height,
    width) for images, (channels, length) for sequences; () when they have no layout.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    n_classes: int
    input_shape: tuple[int, ...] = ()

    def limited(self, n_train: int | None, n_test: int | None) -> Dataset:
        """The first ``n_train`` training and ``n_test`` test samples (all when None)."""
        return Dataset(
            self.name,
            self.train_x[:n_train],
            self.train_y[:n_train],
            self.test_x[:n_test],
            self.test_y[:n_test],
            self.n_classes,
            self.input_shape,
        )
