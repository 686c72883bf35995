"""N-MNIST recordings packed as AEDAT 4 files in DvsGesture's layout: real events through the AEDAT 4 path.

    python -m benchmarks.nmnist_aedat4 --data-dir NMNIST --out DIR [--per-recording 50]
    python -m protocols.dvsgesture --data-dir DIR --size 34 --T 10 --topology FC_500_FC_11 --signal error

Each AEDAT 4 recording (written by dv-processing, iniVation's library, with a 34 x 34
sensor in its header) holds ``--per-recording`` N-MNIST digits one after another, 400 ms
apart from an absolute start time as DV records; ``<name>_labels.csv`` gives each digit's
class (digit + 1, since DvsGesture's classes count from 1) and its first to last event,
and ``trials_to_train.txt`` / ``trials_to_test.txt`` list the recordings. The DvsGesture
loader then reads them with ``aedat``, takes the sensor from the header and bins each
digit as the N-MNIST loader does (over its span), so the two protocols see the same
frames of a digit when ``--size`` is 34.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from protocols.datasets.events import write_aedat4
from protocols.datasets.nmnist import SENSOR, list_split, read_events

START_US = 1_700_000_000_000_000
GAP_US = 400_000


def write_split(files, labels, out: Path, split: str, per_recording: int) -> list[str]:
    """AEDAT 4 recordings and labels of one split; returns the recording names."""
    names = []
    for first in range(0, len(files), per_recording):
        name = f"user{len(names) + 1:02d}_{split}.aedat4"
        chunks, rows = [], ["class,startTime_usec,endTime_usec"]
        for k, (path, label) in enumerate(
            zip(files[first : first + per_recording], labels[first : first + per_recording])
        ):
            events = read_events(path)
            if len(events) == 0:
                continue
            events["t"] += START_US + k * GAP_US
            chunks.append(events)
            rows.append(f"{label + 1},{START_US + k * GAP_US},{int(events['t'].max()) + 1}")
        write_aedat4(out / name, np.concatenate(chunks), (SENSOR, SENSOR), camera="ATIS_NMNIST")
        (out / name.replace(".aedat4", "_labels.csv")).write_text("\n".join(rows) + "\n")
        names.append(name)
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="N-MNIST: Train|Test/<digit>/*.bin")
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the AEDAT 4 layout")
    parser.add_argument("--per-recording", type=int, default=50, help="digits per AEDAT 4 recording (50)")
    args = parser.parse_args(argv)
    if args.per_recording < 1:
        parser.error(f"--per-recording must be at least 1, got {args.per_recording}")
    if args.out.exists():
        parser.error(f"--out {args.out} exists; give a new folder")
    args.out.mkdir(parents=True)
    for split, listing in (("Train", "trials_to_train.txt"), ("Test", "trials_to_test.txt")):
        files, labels = list_split(args.data_dir, split)
        names = write_split(files, labels, args.out, split.lower(), args.per_recording)
        (args.out / listing).write_text("\n".join(names) + "\n")
        print(f"{split}: {len(files)} digits in {len(names)} AEDAT 4 recordings under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
