"""Spoken digits: TIDIGITS as LDC distributes it (NIST SPHERE) and the Free Spoken Digit Dataset (WAV).

Each utterance becomes a static (n_bands, n_frames) spectrogram image with values in
[0, 1] (flattened band-major: index = band * n_frames + frame), which the network
rate-encodes by eq. 3 over T steps, as the paper did for TIDigits (30 log-mel bands x
30 frames). Features (:func:`audio_features`):

* resampled to one rate (8 kHz by default: FSDD's rate, and TIDIGITS' 20 kHz is
  downsampled to it);
* leading and trailing silence trimmed (frames more than 40 dB below the loudest);
* the frames spread evenly over the trimmed utterance: the hop is the utterance
  length divided by n_frames, so every utterance gives exactly n_frames frames
  whatever its duration (no padding or cutting); the window is twice the hop, and at
  least 32 ms;
* ``logmel``: power mel filterbank in dB, floored ``floor_db`` (40 dB by default, the
  range the trim keeps) below the utterance's peak, then min-max scaled per utterance
  to [0, 1]. The floor sets how much of the image is background: with 80 dB, silence
  and noise sat near 0.45 and the rate-coded layers fired near saturation; 40 dB maps
  them to 0 (FSDD, FC_200_FC_10, 10 epochs: 89.7% test with 80 dB, 94.3% with 50 dB,
  95.7% with 40 dB);
* ``mfcc``: the first n_bands cepstral coefficients of a log-mel filterbank of
  max(40, n_bands) bands; each coefficient is min-max scaled over the utterance (its
  trajectory spans [0, 1]; cepstral coefficients have very different ranges, so one
  scale for all would leave most of them near a constant).

Unreadable, empty or silent recordings are skipped, counted and reported through
``log``; a folder with no usable recording raises :class:`DataError`.
"""

from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path

import librosa
import numpy as np
import soundfile

from protocols.datasets import DataError, Dataset, require_folder

KINDS = ("logmel", "mfcc")
TRIM_DB = 40.0
FLOOR_DB = 40.0  # dynamic range of the features below each utterance's peak (dB)
MIN_WINDOW_S = 0.032
FSDD_NAME = re.compile(r"(\d)_([^_]+)_(\d+)\.wav", re.IGNORECASE)
FSDD_TEST_INDICES = range(5)
TIDIGITS_NAME = re.compile(r"[1-9oz]+[ab]")
TIDIGITS_LABELS = {
    "eleven": {"z": 0, **{str(d): d for d in range(1, 10)}, "o": 10},
    "ten": {"z": 0, **{str(d): d for d in range(1, 10)}, "o": 0},
}


def read_sphere(path) -> tuple[np.ndarray, int]:
    """(mono samples as float32 in [-1, 1], sample rate) of a NIST SPHERE or RIFF WAV file.

    SPHERE (``NIST_1A`` header, as LDC distributes TIDIGITS even when the files are
    named ``.wav``): 16-bit PCM in either byte order (``sample_byte_format`` 01 or
    10) is read directly; shorten-compressed or any other coding raises
    :class:`DataError` (convert such files with LDC's sph2pipe). WAV is read with
    soundfile. Several channels are averaged.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    if raw.startswith(b"RIFF"):
        try:
            signal, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise DataError(f"cannot read WAV file {path}: {error}") from None
        return signal.mean(axis=1), int(rate)
    if not raw.startswith(b"NIST_1A"):
        raise DataError(f"{path} is neither a NIST SPHERE (NIST_1A) nor a RIFF WAV file")
    fields, header_size = _sphere_header(path, raw)
    coding = str(fields.get("sample_coding", "pcm"))
    if coding != "pcm":
        raise DataError(
            f"{path}: SPHERE sample_coding is {coding!r}; only uncompressed PCM is read here. "
            f"Convert the files first, e.g. with LDC's sph2pipe: sph2pipe -f wav in.wav out.wav"
        )
    n_bytes = fields.get("sample_n_bytes")
    if n_bytes != 2:
        raise DataError(f"{path}: SPHERE sample_n_bytes is {n_bytes}; only 16-bit PCM is read")
    order = {"01": "<", "10": ">"}.get(str(fields.get("sample_byte_format")))
    if order is None:
        raise DataError(f"{path}: SPHERE sample_byte_format is {fields.get('sample_byte_format')!r}, expected 01 or 10")
    rate = fields.get("sample_rate")
    if not isinstance(rate, int) or rate <= 0:
        raise DataError(f"{path}: SPHERE header has no valid sample_rate")
    channels = fields.get("channel_count", 1)
    available = (len(raw) - header_size) // (2 * channels)
    count = fields.get("sample_count", available)
    if count > available:
        raise DataError(f"{path} is truncated: the header announces {count} samples, {available} follow")
    pcm = np.frombuffer(raw, dtype=f"{order}i2", count=count * channels, offset=header_size)
    signal = pcm.reshape(count, channels).mean(axis=1) / 32768.0
    return signal.astype(np.float32), rate


def _sphere_header(path: Path, raw: bytes) -> tuple[dict, int]:
    """The fields of a SPHERE header (ints for -i, floats for -r, strings for -sN) and its size in bytes."""
    lines = raw[:1024].split(b"\n")
    try:
        header_size = int(lines[1])
    except (IndexError, ValueError):
        raise DataError(f"{path}: the second SPHERE header line is not the header size") from None
    if header_size < 16 or header_size > len(raw):
        raise DataError(f"{path}: SPHERE header size {header_size} does not fit the file ({len(raw)} bytes)")
    fields = {}
    for line in raw[:header_size].decode("ascii", errors="replace").split("\n")[2:]:
        parts = line.strip().split(maxsplit=2)
        if parts[:1] == ["end_head"]:
            return fields, header_size
        if len(parts) != 3:
            continue
        name, kind, value = parts
        try:
            fields[name] = int(value) if kind == "-i" else float(value) if kind == "-r" else value
        except ValueError:
            raise DataError(f"{path}: SPHERE field {name} {kind} has value {value!r}") from None
    raise DataError(f"{path}: SPHERE header has no end_head line within its {header_size} bytes")


def audio_features(
    signal: np.ndarray,
    sample_rate: int,
    kind: str = "logmel",
    n_bands: int = 30,
    n_frames: int = 30,
    target_rate: int = 8000,
    floor_db: float = FLOOR_DB,
) -> np.ndarray:
    """(n_bands, n_frames) features in [0, 1] of one mono utterance (see the module docstring).

    Raises :class:`DataError` for empty or silent audio.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown audio feature kind {kind!r}; choose one of {', '.join(KINDS)}")
    y = np.asarray(signal, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal (1-D), got shape {y.shape}")
    if len(y) == 0 or not np.any(y):
        raise DataError("empty or silent audio")
    if sample_rate != target_rate:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=target_rate)
    min_window = 2 ** math.ceil(math.log2(MIN_WINDOW_S * target_rate))
    y, _ = librosa.effects.trim(y, top_db=TRIM_DB, frame_length=min_window, hop_length=min_window // 4)
    hop = max(1, math.ceil(len(y) / n_frames))
    n_fft = max(min_window, 2 ** math.ceil(math.log2(2 * hop)))
    # frame k covers [k * hop - (n_fft - hop) / 2, k * hop + (n_fft + hop) / 2): centred on the k-th of
    # n_frames equal slices of the utterance; zeros outside it
    left = (n_fft - hop) // 2
    y = np.pad(y, (left, (n_frames - 1) * hop + n_fft - left - len(y)))
    n_mels = n_bands if kind == "logmel" else max(40, n_bands)
    mel = librosa.feature.melspectrogram(
        y=y, sr=target_rate, n_fft=n_fft, hop_length=hop, center=False, n_mels=n_mels, power=2.0
    )
    db = librosa.power_to_db(mel, ref=np.max, top_db=floor_db)
    if kind == "logmel":
        return _min_max(db, axis=None)
    return _min_max(librosa.feature.mfcc(S=db, n_mfcc=n_bands), axis=1)


def _min_max(values: np.ndarray, axis) -> np.ndarray:
    low = values.min(axis=axis, keepdims=True)
    span = values.max(axis=axis, keepdims=True) - low
    return np.where(span > 0, (values - low) / np.where(span > 0, span, 1.0), 0.0)


def _features_of(files, features_of, name, log) -> tuple[list[np.ndarray], list[int], int]:
    """Features of ``(path, label)`` pairs; unreadable, empty and silent files are skipped and reported.

    ``features_of(signal, rate)`` computes one utterance's features (:func:`audio_features` with the options).
    """
    features, labels, skipped = [], [], 0
    for path, label in files:
        try:
            signal, rate = read_sphere(path)
            features.append(features_of(signal, rate).reshape(-1))
        except DataError as error:
            skipped += 1
            log(f"{name}: skipped {path}: {error}")
            continue
        labels.append(label)
    return features, labels, skipped


def _static_dataset(name, train, test, n_classes, n_bands, n_frames) -> Dataset:
    """A Dataset of flattened features, each split in a fixed shuffled order (so that ``limited`` keeps all classes)."""
    arrays = []
    for features, labels in (train, test):
        order = np.random.default_rng(0).permutation(len(labels))
        arrays += [np.array(features, dtype=np.float64)[order], np.array(labels, dtype=int)[order]]
    return Dataset(name, *arrays, n_classes=n_classes, input_shape=(n_bands, n_frames))


def load_fsdd(
    directory, kind: str = "logmel", n_bands: int = 30, n_frames: int = 30, floor_db: float = FLOOR_DB, log=print
) -> Dataset:
    """Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` (index 0-4 test, the rest train), 10 classes.

    ``directory`` is the ``recordings`` folder or the folder holding it. Files with other
    names are skipped and reported, like unreadable, empty and silent recordings.
    """
    directory = Path(directory)
    if (directory / "recordings").is_dir():
        directory = directory / "recordings"
    require_folder(directory, "FSDD folder", "expected the recordings/ folder of *.wav files")
    splits = {"train": [], "test": []}
    skipped = 0
    for path in sorted(p for p in directory.iterdir() if p.suffix.lower() == ".wav"):
        match = FSDD_NAME.fullmatch(path.name)
        if match is None:
            skipped += 1
            log(f"FSDD: skipped {path}: not named {{digit}}_{{speaker}}_{{index}}.wav")
            continue
        split = "test" if int(match[3]) in FSDD_TEST_INDICES else "train"
        splits[split].append((path, int(match[1])))
    if not splits["train"] and not splits["test"]:
        raise DataError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {directory}")
    features_of = partial(audio_features, kind=kind, n_bands=n_bands, n_frames=n_frames, floor_db=floor_db)
    train = _features_of(splits["train"], features_of, "FSDD", log)
    test = _features_of(splits["test"], features_of, "FSDD", log)
    skipped += train[2] + test[2]
    if not train[1] or not test[1]:
        raise DataError(f"FSDD in {directory}: no usable training or no usable test recording")
    log(
        f"FSDD: {len(train[1])} train, {len(test[1])} test recordings from {directory} "
        f"({kind}, {n_bands} bands x {n_frames} frames); {skipped} files skipped"
    )
    return _static_dataset("fsdd", train[:2], test[:2], 10, n_bands, n_frames)


def load_tidigits(
    directory,
    kind: str = "logmel",
    n_bands: int = 30,
    n_frames: int = 30,
    labels: str = "eleven",
    floor_db: float = FLOOR_DB,
    log=print,
) -> Dataset:
    """TIDIGITS isolated digits in LDC's layout: ``train|test/<group>/<speaker>/<utterance>.wav``.

    ``directory`` holds ``train`` and ``test`` (or a ``tidigits`` folder holding them);
    folder and file names are matched case-insensitively. Isolated-digit utterances
    are named ``<digit><a|b>.wav`` with digit 1-9, ``o`` (oh) or ``z`` (zero).
    Connected-digit utterances (longer names such as ``o31a.wav``) are skipped and
    counted; other names, unreadable, empty and silent files are skipped and reported.

    ``labels``: ``"eleven"`` classes (z = 0, 1-9, o = 10: "oh" and "zero" kept apart, as
    spoken) or ``"ten"`` (oh merged with zero as the digit 0).
    """
    if labels not in TIDIGITS_LABELS:
        raise ValueError(f"unknown TIDIGITS label set {labels!r}; choose eleven or ten")
    mapping = TIDIGITS_LABELS[labels]
    directory = Path(directory)
    require_folder(directory, "TIDIGITS folder")
    nested = _child(directory, "tidigits")
    if nested is not None and _child(directory, "train") is None:
        directory = nested
    splits = {}
    connected = skipped = 0
    for split in ("train", "test"):
        root = _child(directory, split)
        if root is None:
            raise DataError(f"no {split}/ folder in {directory}; expected train|test/<group>/<speaker>/<utterance>.wav")
        splits[split] = []
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wav" and p.is_file()):
            stem = path.stem.lower()
            if TIDIGITS_NAME.fullmatch(stem) is None:
                skipped += 1
                log(f"TIDIGITS: skipped {path}: not a TIDIGITS utterance name")
            elif len(stem) > 2:
                connected += 1
            else:
                splits[split].append((path, mapping[stem[0]]))
    features_of = partial(audio_features, kind=kind, n_bands=n_bands, n_frames=n_frames, floor_db=floor_db)
    train = _features_of(splits["train"], features_of, "TIDIGITS", log)
    test = _features_of(splits["test"], features_of, "TIDIGITS", log)
    skipped += train[2] + test[2]
    if not train[1] or not test[1]:
        raise DataError(f"TIDIGITS in {directory}: no usable isolated-digit utterance in train or in test")
    log(
        f"TIDIGITS: {len(train[1])} train, {len(test[1])} test isolated digits from {directory} "
        f"({labels} classes, {kind}, {n_bands} bands x {n_frames} frames); "
        f"{connected} connected-digit utterances left out, {skipped} files skipped"
    )
    return _static_dataset("tidigits", train[:2], test[:2], len(set(mapping.values())), n_bands, n_frames)


def _child(directory: Path, name: str) -> Path | None:
    """The sub-folder of ``directory`` called ``name``, in any letter case."""
    for child in sorted(directory.iterdir()):
        if child.is_dir() and child.name.lower() == name:
            return child
    return None
