"""Digits: scikit-learn's 8x8 handwritten digits, the embedded default dataset (no download).

python -m protocols.digits [--epochs N] [--topology FC_200_FC_10] [...]
"""

from __future__ import annotations

import sys

from protocols.cli import ProtocolDefaults, run_protocol
from protocols.datasets.digits import load_sklearn_digits

DEFAULTS = ProtocolDefaults(topology="FC_200_FC_10", epochs=30, T=20, lr=1e-3, batch_size=10)


def main(argv=None) -> int:
    return run_protocol("digits", lambda args: load_sklearn_digits(), DEFAULTS, argv)


if __name__ == "__main__":
    sys.exit(main())
