"""Digits: scikit-learn's 8x8 handwritten digits, the embedded default dataset (no download).

python -m protocols.digits [--epochs N] [--topology FC_200_FC_10] [...]
"""

from __future__ import annotations

import sys

from protocols.cli import ProtocolDefaults, UsageError, run_protocol
from protocols.datasets.digits import load_sklearn_digits

DEFAULTS = ProtocolDefaults(
    topology="FC_200_FC_10",
    epochs=30,
    T=20,
    lr=1e-3,
    batch_size=10,
    signal="error",
    homeostasis=0.01,
    target_rate=20.0,
    measured="Defaults measured: 97.5 / 96.9 / 97.8 % test accuracy after 30 epochs (seeds 0 / 1 / 2) at a hidden "
    "rate of 0.11 spikes per step, against 97.2 / 96.4 / 97.2 % at 0.44 without the homeostatic term "
    "(--homeostasis 0) and 96.1 / 95.8 / 95.0 % with the label signal (eq. 4, --signal label, --homeostasis 0).",
)


def load(args):
    if args.data_dir is not None:
        raise UsageError("--data-dir: the digits are embedded (scikit-learn's), this protocol reads no folder")
    return load_sklearn_digits()


def main(argv=None) -> int:
    return run_protocol("digits", load, DEFAULTS, argv)


if __name__ == "__main__":
    sys.exit(main())
