"""DVS events: AEDAT 4 recordings decoded by ``aedat``, binned into binary spike frames by tonic's ``ToFrame``.

Events are structured arrays with the fields x, y, t (microseconds) and p (0 or 1), in
tonic's field order.
"""

from __future__ import annotations

from pathlib import Path

import aedat
import numpy as np
from tonic.transforms import ToFrame

from protocols.datasets import DataError

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.uint8)])
AEDAT4_MAGIC = b"#!AER-DAT4.0"


def spike_frames(
    events: np.ndarray,
    T: int,
    sensor: tuple[int, int],
    size: tuple[int, int],
    start: int,
    duration: int,
) -> np.ndarray:
    """Spike frames (T, 2 * h * w) uint8 of the events in ``[start, start + duration)``.

    ``sensor`` is (H, W) of the camera and ``size`` (h, w) of the frames: an event at
    (x, y) lands on pixel (x * w // W, y * h // H), in integers (tonic's ``Downsample``
    multiplies by a float factor and truncates, which moves some pixels one lower, e.g.
    346 -> 48). Frame k covers ``[start + k * duration / T, start + (k + 1) * duration / T)``:
    tonic's ``ToFrame`` cuts windows of ``duration`` on the time axis scaled by T, so that
    the bounds are exact integers. A pixel of a polarity spikes (1) in a frame if it has
    at least one event there; the input index is ``p * h * w + y * w + x`` (polarity
    channels first, as ``ToFrame``'s (T, P, H, W)).
    """
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    (H, W), (h, w) = sensor, size
    t = (events["t"].astype(np.int64) - start) * T
    keep = (t >= 0) & (t < duration * T)
    if not keep.any():
        return np.zeros((T, 2 * h * w), dtype=np.uint8)
    order = np.argsort(t[keep], kind="stable")
    scaled = np.empty(len(order), dtype=EVENT_DTYPE)
    scaled["t"] = t[keep][order]
    scaled["x"] = (events["x"][keep][order].astype(np.int64) * w) // W
    scaled["y"] = (events["y"][keep][order].astype(np.int64) * h) // H
    scaled["p"] = events["p"][keep][order]
    to_frame = ToFrame(sensor_size=(w, h, 2), time_window=duration, start_time=0, end_time=duration * T)
    counts = to_frame(scaled)
    return (counts > 0).astype(np.uint8).reshape(T, 2 * h * w)


def read_aedat4(path) -> tuple[np.ndarray, tuple[int, int]]:
    """Polarity events of an AEDAT 4 recording (iniVation's DV software) and its sensor (H, W) from the header.

    Decoded by ``aedat`` (a Rust decoder; LZ4 and Zstandard packets). Of several event
    streams the first (lowest id) is read, as tonic's ``read_aedat4`` does. A file that is
    not AEDAT 4, a truncated or corrupt one, or one without an event stream raise
    :class:`DataError`.
    """
    path = Path(path)
    try:
        decoder = aedat.Decoder(path)
        streams = {i: s for i, s in decoder.id_to_stream().items() if s["type"] == "events"}
        if not streams:
            raise DataError(f"{path}: the AEDAT 4 recording has no event stream")
        stream = min(streams)
        packets = [packet["events"] for packet in decoder if packet["stream_id"] == stream]
    except RuntimeError as error:
        raise DataError(f"{path}: cannot decode it as AEDAT 4 ({error}); is it truncated?") from None
    decoded = np.concatenate(packets) if packets else []
    events = np.empty(len(decoded), dtype=EVENT_DTYPE)
    if len(decoded):
        events["x"], events["y"], events["t"], events["p"] = decoded["x"], decoded["y"], decoded["t"], decoded["on"]
    sensor = (int(streams[stream]["height"]), int(streams[stream]["width"]))
    return events, sensor


def write_aedat4(path, events: np.ndarray, sensor: tuple[int, int], camera: str = "DVXplorer") -> None:
    """Write events (x, y, t, p; t increasing) as an AEDAT 4 recording of a (H, W) sensor, with dv-processing.

    dv-processing is iniVation's own library (``requirements-dev.txt``); the tests and
    ``benchmarks/nmnist_aedat4.py`` make recordings with it.
    """
    import dv_processing as dv

    (H, W) = sensor
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig(camera, (W, H)))
    store = dv.EventStore()
    for x, y, t, p in zip(events["x"].tolist(), events["y"].tolist(), events["t"].tolist(), events["p"].tolist()):
        store.push_back(t, x, y, bool(p))
    if len(events):
        writer.writeEvents(store)
    del writer  # closes the file
