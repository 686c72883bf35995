"""MNIST from the four official IDX files (gzipped or not).

python -m protocols.mnist --data-dir DIR [--epochs 5] [--topology FC_500_FC_10] [...]
"""

from __future__ import annotations

import sys

from protocols.cli import ProtocolDefaults, UsageError, run_protocol
from protocols.datasets.idx import load_mnist

# Per rule, measured over 3 epochs (seed 0, docs/stdp-baselines.md): rstdp's per-sample steps need a smaller,
# faster decaying step on 60,000 samples than on digits' 1,437, and its fixed features are local receptive fields
# of 8 x 8 pixels (88.6 % against 86.6 % with the whole image, at twice the speed); brp-stdp reaches 90.4 % with
# lr 5e-4, 89.3 % with 1e-3. The paper form's sparse label code (--form paper --active-fraction q) targets 0.65 spikes
# per step in the driven neurons and -0.35 in the others: 91.80 % over seeds 0-4 (q 0.11, T 8, alpha 2.4), 0.40
# below the zero-mean B; the targets 1 and -q / (1 - q) were 1.0 below (README, "Sparse activity").
DEFAULTS = ProtocolDefaults(
    topology="FC_500_FC_10",
    epochs=5,
    T=20,
    lr=1e-3,
    batch_size=50,
    rule_defaults=(("rstdp", {"lr": 0.05, "lr_decay": 0.5, "receptive_field": 8}), ("brp-stdp", {"lr": 5e-4})),
    signal="error",
    active_rate=0.65,
    paper=(("topology", "CONV_32_5_1_2_FC_1000_FC_10"),),  # the paper's MNIST net
    measured="Defaults measured: 97.65 % test accuracy after 5 epochs (seed 0; 96.1 % after 1), against 94.85 % "
    "with the label signal (eq. 4, --signal label; 92.5 % after 1).",
)


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
