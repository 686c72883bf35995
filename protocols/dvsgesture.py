"""DvsGesture (Amir et al., 2017): 11 hand gestures recorded by a DVS128, events binned into T frames.

python -m protocols.dvsgesture --data-dir DIR [--T 30] [--size 32] [...]

``DIR`` holds IBM's release (``user*_*.aedat`` in AEDAT 3.1 with ``user*_*_labels.csv``
and ``trials_to_train.txt`` / ``trials_to_test.txt``; a listed recording may be AEDAT 4,
from iniVation's DV software) or the ``.npy`` event arrays that the tonic package
writes (``ibmGestureTrain|ibmGestureTest``); the layout is recognised from the files.
Each gesture is downsampled from the sensor (128 x 128, or an AEDAT 4 header's size)
to ``--size`` (32 in the paper) and binned into T frames (the paper: T = 30 to 90);
polarities are two input channels and spikes drive the input group directly.
"""

from __future__ import annotations

import sys

from protocols.cli import ProtocolDefaults, UsageError, positive, run_protocol
from protocols.datasets.dvsgesture import load_dvsgesture

DEFAULTS = ProtocolDefaults(
    topology="CONV_16_5_2_2_FC_200_FC_11",
    epochs=20,
    T=30,
    lr=1e-3,
    batch_size=50,
    options=((("--size",), {"type": positive(int), "default": 32, "help": "frame side after downsampling (32)"}),),
    paper=(("T", 30), ("size", 32)),
    measured="Defaults not measured here (no DvsGesture data at hand): T and the frame size are the paper's.",
)


def load(args):
    if args.data_dir is None:
        raise UsageError("--data-dir is required: the DvsGesture folder (IBM's aedat release, or tonic's layout)")
    return load_dvsgesture(args.data_dir, T=args.T, size=args.size)


def main(argv=None) -> int:
    return run_protocol("dvsgesture", load, DEFAULTS, argv)


if __name__ == "__main__":
    sys.exit(main())
