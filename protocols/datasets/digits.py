"""scikit-learn's 8x8 handwritten digits (UCI), shipped inside scikit-learn: the embedded default."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from protocols.datasets import Dataset


def load_sklearn_digits(test_fraction: float = 0.2) -> Dataset:
    """1,797 digits, 64 inputs in [0, 1]; a fixed stratified split (1,437 train, 360 test)."""
    digits = load_digits()
    x = digits.data / 16.0
    y = digits.target.astype(int)
    train_x, test_x, train_y, test_y = train_test_split(x, y, test_size=test_fraction, random_state=0, stratify=y)
    n_classes = int(np.max(y)) + 1
    return Dataset("digits", train_x, train_y, test_x, test_y, n_classes, input_shape=(1, 8, 8))
