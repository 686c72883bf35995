"""CIFAR-10 from the official python-pickle batches (whichever training batches are present).

python -m protocols.cifar10 --data-dir DIR [--epochs 5] [--topology CONV_32_5_2_2_FC_500_FC_10] [...]
"""

from __future__ import annotations

import sys

from protocols.cli import ProtocolDefaults, UsageError, run_protocol
from protocols.datasets.cifar import load_cifar10

# A CPU-sized net: stride 2 keeps the conv layer at 32 x 16 x 16 neurons (the paper does not give its CIFAR topology).
DEFAULTS = ProtocolDefaults(topology="CONV_32_5_2_2_FC_500_FC_10", epochs=5, T=20, lr=1e-4, batch_size=50)


def load(args):
    if args.data_dir is None:
        raise UsageError("--data-dir is required: the folder cifar-10-batches-py (test_batch and data_batch_1..5)")
    return load_cifar10(args.data_dir)


def main(argv=None) -> int:
    return run_protocol("cifar10", load, DEFAULTS, argv)


if __name__ == "__main__":
    sys.exit(main())
