"""DvsGesture (Amir et al., 2017): 11 hand and arm gestures recorded by a 128 x 128 DVS128 camera.

Two layouts are read:

* the official IBM release (``DvsGesture.tar.gz`` extracted): ``user*_*.aedat`` AEDAT 3.1
  recordings, each with ``user*_*_labels.csv`` (``class,startTime_usec,endTime_usec``, one
  row per gesture, classes 1-11) and the split files ``trials_to_train.txt`` /
  ``trials_to_test.txt`` that list the ``.aedat`` files. A listed recording may also be
  an AEDAT 4 file (iniVation's DV software; recognised by its first line), decoded by
  ``aedat`` with the sensor size from its header (a DVXplorer's 320 x 240, a DAVIS346's
  346 x 260), its labels in the recording's timestamps. A listed recording or labels
  file that is missing, a malformed labels row, an AEDAT file with a wrong header or a
  truncated packet raise :class:`DataError`; a gesture without any event between its
  start and end is skipped, counted and reported. AEDAT 3.1 is read here: tonic 1.7's
  ``read_dvs_ibm`` fails on its own header reader's return value and takes every packet
  for polarity events, without their valid bit or timestamp overflow.
* the layout that ``tonic.datasets.DVSGesture`` downloads (already cut into gestures):
  ``DVSGesture/ibmGestureTrain|ibmGestureTest/<user>_<lighting>/<class>.npy``, each an
  (N, 4) array of x, y, p, t with t in milliseconds and classes 0-10. A file with no
  events is skipped and reported; any other malformed file raises :class:`DataError`.

Each gesture is binned into T frames over its duration (official layout: from its
start to its end time in the labels; tonic layout: from its first to its last
event), downsampled from the sensor to size x size, two polarities as two channels: a pixel spikes in
a frame if it had at least one event there (see :func:`protocols.datasets.events.spike_frames`).
Samples are uint8 (N, T, 2 * size * size); each split comes in a fixed shuffled
order (seed 0), so that ``Dataset.limited`` keeps all classes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from protocols.datasets import DataError, Dataset, require_folder
from protocols.datasets.events import AEDAT4_MAGIC, EVENT_DTYPE, read_aedat4, spike_frames

SENSOR = 128  # the DVS128 of IBM's recordings (AEDAT 3.1 files carry no sensor size)
N_CLASSES = 11
AEDAT_VERSION_LINE = b"#!AER-DAT3.1"
AEDAT_END_LINE = b"#!END-HEADER"
PACKET_HEADER = struct.Struct("<hhiiiiii")  # type, source, size, TS offset, TS overflow, capacity, number, valid
POLARITY_EVENT = 1
POLARITY_RECORD = np.dtype([("data", "<u4"), ("t", "<i4")])
LABELS_HEADER = ["class", "startTime_usec", "endTime_usec"]
TRIALS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
TONIC_FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}


def read_aedat31(path) -> np.ndarray:
    """Valid polarity events of an AEDAT 3.1 file: structured array (x, y, p, t in microseconds).

    The text header's lines start with ``#``, the first is ``#!AER-DAT3.1`` and the last
    ``#!END-HEADER``. Then come packets: a 28-byte little-endian header (eventType,
    eventSource, eventSize, eventTSOffset, eventTSOverflow, eventCapacity, eventNumber,
    eventValid) and a body of eventCapacity events of eventSize bytes (in files written
    by cAER, eventCapacity equals eventNumber); the first eventNumber are events.
    Polarity events (type 1) are 8 bytes: uint32 data (bit 0 valid, bit 1 polarity,
    bits 2-16 y, bits 17-31 x) and an int32 timestamp, extended by eventTSOverflow << 31;
    events marked invalid and packets of other types are skipped. A wrong header, a
    malformed or truncated packet raise :class:`DataError` naming the byte offset.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    offset = _skip_aedat_header(path, raw)
    chunks = []
    while offset < len(raw):
        if len(raw) - offset < PACKET_HEADER.size:
            raise DataError(
                f"{path}: truncated packet header at byte {offset} ({len(raw) - offset} of {PACKET_HEADER.size} bytes)"
            )
        kind, _, size, ts_offset, overflow, capacity, number, _ = PACKET_HEADER.unpack_from(raw, offset)
        if size <= 0 or capacity < 0 or not 0 <= number <= capacity or overflow < 0:
            raise DataError(
                f"{path}: malformed packet header at byte {offset} "
                f"(eventSize {size}, eventCapacity {capacity}, eventNumber {number}, eventTSOverflow {overflow})"
            )
        body = offset + PACKET_HEADER.size
        end = body + capacity * size
        if end > len(raw):
            raise DataError(
                f"{path}: truncated packet at byte {offset}: its header announces {capacity} events of {size} bytes "
                f"({capacity * size} bytes), {len(raw) - body} bytes follow"
            )
        if kind == POLARITY_EVENT:
            if size != POLARITY_RECORD.itemsize or ts_offset != 4:
                raise DataError(
                    f"{path}: polarity packet at byte {offset} has {size}-byte events with the timestamp at byte "
                    f"{ts_offset}; expected 8 and 4"
                )
            records = np.frombuffer(raw, dtype=POLARITY_RECORD, count=number, offset=body)
            records = records[(records["data"] & 1) == 1]
            events = np.empty(len(records), dtype=EVENT_DTYPE)
            events["x"] = (records["data"] >> 17) & 0x7FFF
            events["y"] = (records["data"] >> 2) & 0x7FFF
            events["p"] = (records["data"] >> 1) & 1
            events["t"] = records["t"].astype(np.int64) + (np.int64(overflow) << 31)
            chunks.append(events)
        offset = end
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)


def _skip_aedat_header(path: Path, raw: bytes) -> int:
    """The byte offset of the first packet, after checking the AEDAT 3.1 text header."""
    offset = 0
    while True:
        end = raw.find(b"\n", offset)
        line = raw[offset : len(raw) if end < 0 else end].rstrip(b"\r")
        if offset == 0 and line != AEDAT_VERSION_LINE:
            raise DataError(f"{path} is not an AEDAT 3.1 file: its first line (byte 0) is {line[:40]!r}")
        if not line.startswith(b"#") or end < 0:
            raise DataError(f"{path}: the AEDAT header ends at byte {offset} without a {AEDAT_END_LINE.decode()} line")
        offset = end + 1
        if line == AEDAT_END_LINE:
            return offset


def read_labels(path) -> np.ndarray:
    """Gestures of a ``*_labels.csv`` file: int64 array (n, 3) of class (0-10), start and end (microseconds).

    The file has the header ``class,startTime_usec,endTime_usec`` and one row per
    gesture with the class 1-11; a malformed row raises :class:`DataError`.
    """
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read labels file {path}: {error}") from None
    if not lines or [cell.strip() for cell in lines[0].split(",")] != LABELS_HEADER:
        raise DataError(f"{path}: the first line must be {','.join(LABELS_HEADER)}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            label, start, end = (int(cell) for cell in line.split(","))
        except ValueError:
            raise DataError(f"{path}, line {number}: expected three integers, got {line!r}") from None
        if not 1 <= label <= N_CLASSES or end <= start:
            raise DataError(f"{path}, line {number}: class must be 1-{N_CLASSES} and end after start, got {line!r}")
        rows.append((label - 1, start, end))
    if not rows:
        raise DataError(f"{path} lists no gesture")
    return np.array(rows, dtype=np.int64)


def read_recording(path) -> tuple[np.ndarray, tuple[int, int]]:
    """Events of an AEDAT 3.1 (DVS128) or AEDAT 4 recording and the sensor (H, W) they come from."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            first = file.read(len(AEDAT4_MAGIC))
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    events, sensor = read_aedat4(path) if first == AEDAT4_MAGIC else (read_aedat31(path), (SENSOR, SENSOR))
    (H, W) = sensor
    if len(events) and (events["x"].max() >= W or events["y"].max() >= H or events["p"].max() > 1):
        raise DataError(f"{path} has events outside its {W} x {H} sensor or polarities other than 0/1")
    return events, sensor


def _dataset(splits: dict, T: int, size: int) -> Dataset:
    """A Dataset from per-split lists of (frames, label), each split in a fixed shuffled order."""
    arrays = []
    for split in ("train", "test"):
        samples = splits[split]
        order = np.random.default_rng(0).permutation(len(samples))
        frames = np.zeros((len(samples), T, 2 * size * size), dtype=np.uint8)
        for row, i in enumerate(order):
            frames[row] = samples[i][0]
        arrays += [frames, np.array([samples[i][1] for i in order], dtype=int)]
    return Dataset("dvsgesture", *arrays, n_classes=N_CLASSES, input_shape=(2, size, size))


def load_dvsgesture(directory, T: int = 30, size: int = 32, log=print) -> Dataset:
    """DvsGesture in the official IBM layout; a folder in tonic's layout goes to :func:`load_dvsgesture_tonic`.

    ``directory`` holds ``trials_to_train.txt`` (or a ``DvsGesture`` folder holding it).
    Samples: uint8 (N, T, 2 * size * size) spike frames, ``input_shape`` (2, size, size).
    """
    directory = Path(directory)
    require_folder(directory, "DvsGesture folder", "pass --data-dir with IBM's release or tonic's layout")
    root = next((d for d in (directory, directory / "DvsGesture") if (d / TRIALS["train"]).is_file()), None)
    if root is None:
        if _tonic_root(directory) is not None:
            return load_dvsgesture_tonic(directory, T, size, log)
        raise DataError(
            f"{directory} holds neither the official DvsGesture layout (trials_to_train.txt, trials_to_test.txt, "
            f"user*_*.aedat, user*_*_labels.csv) nor tonic's (DVSGesture/ibmGestureTrain|ibmGestureTest/*/<class>.npy)"
        )
    splits = {}
    skipped = 0
    for split, listing in TRIALS.items():
        try:
            names = [line.strip() for line in (root / listing).read_text().splitlines() if line.strip()]
        except OSError as error:
            raise DataError(f"cannot read {root / listing}: {error.strerror}") from None
        if not names:
            raise DataError(f"{root / listing} lists no recording")
        splits[split] = []
        for name in names:
            recording = root / name
            labels_path = recording.with_name(f"{recording.stem}_labels.csv")
            if not recording.is_file():
                raise DataError(f"{root / listing} lists {name}, which is missing from {root}")
            if not labels_path.is_file():
                raise DataError(f"{labels_path.name}, the labels of {name}, is missing from {root}")
            gestures = read_labels(labels_path)
            events, sensor = read_recording(recording)
            for number, (label, start, end) in enumerate(gestures, start=1):
                frames = spike_frames(events, T, sensor, (size, size), int(start), int(end - start))
                if not frames.any():
                    skipped += 1
                    log(f"DvsGesture: skipped gesture {number} (class {label + 1}) of {name}: no events in it")
                    continue
                splits[split].append((frames, int(label)))
        if not splits[split]:
            raise DataError(f"DvsGesture in {root}: no gesture with events in the {split} recordings")
    log(
        f"DvsGesture: {len(splits['train'])} train, {len(splits['test'])} test gestures from {root} "
        f"(T={T}, {size}x{size}); {skipped} empty gestures skipped"
    )
    return _dataset(splits, T, size)


def _tonic_root(directory: Path) -> Path | None:
    """The folder holding ``ibmGestureTrain`` and ``ibmGestureTest``: ``directory`` or its ``DVSGesture``."""
    for root in (directory, directory / "DVSGesture"):
        if all((root / folder).is_dir() for folder in TONIC_FOLDERS.values()):
            return root
    return None


def read_tonic_sample(path) -> np.ndarray:
    """Events of one tonic DVSGesture ``.npy`` file ((N, 4): x, y, p, t in ms) as a structured array, t in us.

    Read with numpy as tonic's ``DVSGesture`` reads it (that class needs the downloaded
    archives beside the files, and downloads them otherwise).
    """
    path = Path(path)
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    if a.ndim != 2 or a.shape[1] != 4 or a.dtype.names is not None:
        raise DataError(f"{path}: expected an (N, 4) array of x, y, p, t, got shape {a.shape} and type {a.dtype}")
    if len(a) and not (
        0 <= a[:, :3].min() and a[:, :2].max() < SENSOR and a[:, 2].max() <= 1 and np.all(np.isfinite(a[:, 3]))
    ):
        raise DataError(
            f"{path} has events outside the {SENSOR} x {SENSOR} sensor, polarities other than 0/1 or bad times"
        )
    events = np.empty(len(a), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["p"] = a[:, 0], a[:, 1], a[:, 2]
    events["t"] = np.rint(a[:, 3].astype(np.float64) * 1000.0)
    return events


def load_dvsgesture_tonic(directory, T: int = 30, size: int = 32, log=print) -> Dataset:
    """DvsGesture as ``tonic.datasets.DVSGesture`` stores it: ``ibmGestureTrain|ibmGestureTest/*/<class>.npy``.

    ``directory`` is tonic's ``save_to`` folder or its ``DVSGesture`` sub-folder; the class
    (0-10) is the file name. Samples: uint8 (N, T, 2 * size * size) spike frames over
    each gesture's first to last event, ``input_shape`` (2, size, size).
    """
    directory = Path(directory)
    root = _tonic_root(directory)
    if root is None:
        raise DataError(f"no ibmGestureTrain and ibmGestureTest folders in {directory} or {directory / 'DVSGesture'}")
    splits = {}
    skipped = 0
    for split, folder in TONIC_FOLDERS.items():
        splits[split] = []
        for path in sorted((root / folder).rglob("*.npy")):
            if not path.stem.isdigit() or int(path.stem) >= N_CLASSES:
                raise DataError(f"{path}: tonic names each gesture file by its class, 0 to {N_CLASSES - 1}")
            events = read_tonic_sample(path)
            if len(events) == 0:
                skipped += 1
                log(f"DvsGesture: skipped {path}: no events")
                continue
            start = int(events["t"].min())
            duration = int(events["t"].max()) - start + 1
            splits[split].append(
                (spike_frames(events, T, (SENSOR, SENSOR), (size, size), start, duration), int(path.stem))
            )
        if not splits[split]:
            raise DataError(f"no gesture with events under {root / folder}")
    log(
        f"DvsGesture (tonic layout): {len(splits['train'])} train, {len(splits['test'])} test gestures from {root} "
        f"(T={T}, {size}x{size}); {skipped} empty files skipped"
    )
    return _dataset(splits, T, size)
