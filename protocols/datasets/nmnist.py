"""N-MNIST (Orchard et al., 2015) in its official binary format: ``Train|Test/<label>/*.bin``.

Each event is 40 bits, big-endian: x (8 bits), y (8 bits), polarity (1 bit) and a
23-bit timestamp in microseconds; tonic's ``read_mnist_file`` decodes them (and the
timestamp-overflow markers, y = 240). The sensor is 34 x 34 pixels. Events are
binned into T frames with the two polarities as two input channels; a pixel
spikes in a frame if it has at least one event there (spikes are fed directly,
without the rate encoder of eq. 3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tonic.io import read_mnist_file

from protocols.datasets import DataError, Dataset, require_folder
from protocols.datasets.events import EVENT_DTYPE, spike_frames

SENSOR = 34


def read_events(path) -> np.ndarray:
    """Events of one ``.bin`` file, read by tonic: structured array (x, y, t in microseconds, p)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size % 5:
            raise DataError(f"{path} is truncated: {size} bytes is not a whole number of 5-byte events")
        events = read_mnist_file(str(path), dtype=EVENT_DTYPE)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    if len(events) and (events["x"].max() >= SENSOR or events["y"].max() >= SENSOR):
        raise DataError(f"{path} has events outside the {SENSOR} x {SENSOR} N-MNIST sensor")
    return events


def write_events(path, events: np.ndarray) -> None:
    """Write events in the official format (no library writes it; the tests make small files with it)."""
    t = events["t"].astype(np.uint32)
    raw = np.stack(
        [events["x"], events["y"], (events["p"].astype(np.uint32) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF],
        axis=1,
    ).astype(np.uint8)
    Path(path).write_bytes(raw.tobytes())


def list_split(directory, split: str) -> tuple[list[Path], np.ndarray]:
    """Files and labels of ``Train`` or ``Test``: one folder per digit, named by the digit."""
    root = Path(directory) / split
    require_folder(root, "N-MNIST folder", f"expected {directory}/{{Train,Test}}/<digit>/*.bin")
    files, labels = [], []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if not label_dir.name.isdigit():
            raise DataError(f"unexpected folder {label_dir}: N-MNIST label folders are named 0 to 9")
        for f in sorted(label_dir.glob("*.bin")):
            files.append(f)
            labels.append(int(label_dir.name))
    if not files:
        raise DataError(f"no .bin files under {root}/<digit>/")
    return files, np.array(labels)


def bin_events(events: np.ndarray, T: int, duration_us: int | None = None) -> np.ndarray:
    """Spike frames (T, 2 * 34 * 34): 1 where a pixel of a polarity has an event in the frame.

    Frames split ``[0, duration_us)`` evenly (default: up to the last event); the
    input index is ``p * 34 * 34 + y * 34 + x``.
    """
    if len(events) == 0:
        return np.zeros((T, 2 * SENSOR * SENSOR), dtype=np.uint8)
    span = int(duration_us if duration_us is not None else int(events["t"].max()) + 1)
    return spike_frames(events, T, (SENSOR, SENSOR), (SENSOR, SENSOR), 0, span)


def load_nmnist(directory, T: int = 30, size: int = SENSOR, log=print) -> Dataset:
    """N-MNIST from ``Train|Test/<label>/*.bin`` as spike frames (N, T, 2 * size * size) uint8, 10 classes.

    Each recording is binned into T frames from time 0 to its last event (as
    :func:`bin_events`); ``size`` below 34 downsamples the sensor (pixel x -> x * size // 34).
    ``input_shape`` is (2, size, size). Recordings without events are skipped and
    reported; a malformed file raises :class:`DataError`. Each split comes in a fixed
    shuffled order (seed 0), so that ``Dataset.limited`` keeps all classes. Memory:
    N * T * 2 * size**2 bytes (the full 70,000 digits at T = 30, size = 34: 4.9 GB).
    """
    arrays = []
    for split in ("Train", "Test"):
        files, labels = list_split(directory, split)
        frames = np.zeros((len(files), T, 2 * size * size), dtype=np.uint8)
        kept = []
        for i in np.random.default_rng(0).permutation(len(files)):
            events = read_events(files[i])
            if len(events) == 0:
                log(f"N-MNIST: skipped {files[i]}: no events")
                continue
            span = int(events["t"].max()) + 1
            frames[len(kept)] = spike_frames(events, T, (SENSOR, SENSOR), (size, size), 0, span)
            kept.append(i)
        arrays += [frames[: len(kept)], labels[kept]]
        log(f"N-MNIST {split}: {len(kept)} recordings from {Path(directory) / split}, {len(files) - len(kept)} skipped")
    return Dataset("nmnist", *arrays, n_classes=10, input_shape=(2, size, size))
