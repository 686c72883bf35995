"""MNIST from the four official IDX files (gzipped or not).

python -m protocols.mnist --data-dir DIR [--epochs 5] [--topology FC_500_FC_10] [...]
"""

from __future__ import annotations

import sys

from protocols.cli import ProtocolDefaults, UsageError, run_protocol
from protocols.datasets.idx import load_mnist

DEFAULTS = ProtocolDefaults(topology="FC_500_FC_10", epochs=5, T=20, lr=1e-3, batch_size=50)


def load(args):
    if args.data_dir is None:
        raise UsageError(
            "--data-dir is required: a folder with train-images-idx3-ubyte[.gz], "
            "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
        )
    return load_mnist(args.data_dir)


def main(argv=None) -> int:
    return run_protocol("mnist", load, DEFAULTS, argv)


if __name__ == "__main__":
    sys.exit(main())
