"""Binning of DVS events (structured arrays with fields x, y, p, t) into binary spike frames."""

from __future__ import annotations

import numpy as np


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
    (x, y) lands on pixel (x * w // W, y * h // H). Frame k covers
    ``[start + k * duration / T, start + (k + 1) * duration / T)``. A pixel of a polarity
    spikes (1) in a frame if it has at least one event there; the input index is
    ``p * h * w + y * w + x`` (polarity channels first).
    """
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    (H, W), (h, w) = sensor, size
    frames = np.zeros((T, 2 * h * w), dtype=np.uint8)
    t = events["t"].astype(np.int64) - start
    keep = (t >= 0) & (t < duration)
    e = events[keep]
    frame = (t[keep] * T) // duration
    x = e["x"].astype(np.int64) * w // W
    y = e["y"].astype(np.int64) * h // H
    frames[frame, e["p"].astype(np.int64) * h * w + y * w + x] = 1
    return frames
