"""DVS events: tonic's ToFrame binning against a numpy reference; AEDAT 4 written by dv-processing, read by aedat."""

import numpy as np
import pytest

from protocols.datasets import DataError
from protocols.datasets.dvsgesture import load_dvsgesture, read_recording
from protocols.datasets.events import EVENT_DTYPE, read_aedat4, spike_frames, write_aedat4


def reference_frames(events, T, sensor, size, start, duration):
    """Frame k holds the events with start + k * duration / T <= t < start + (k + 1) * duration / T, in integers."""
    (H, W), (h, w) = sensor, size
    frames = np.zeros((T, 2, h, w), dtype=np.uint8)
    for x, y, t, p in zip(events["x"], events["y"], events["t"], events["p"]):
        k = ((int(t) - start) * T) // duration
        if 0 <= int(t) - start < duration:
            frames[k, p, int(y) * h // H, int(x) * w // W] = 1
    return frames.reshape(T, 2 * h * w)


def random_events(rng, n, sensor, t_max):
    e = np.zeros(n, dtype=EVENT_DTYPE)
    e["x"], e["y"] = rng.integers(0, sensor[1], n), rng.integers(0, sensor[0], n)
    e["t"], e["p"] = rng.integers(0, t_max, n), rng.integers(0, 2, n)
    return e


@pytest.mark.parametrize(
    "sensor, size", [((128, 128), (32, 32)), ((34, 34), (34, 34)), ((260, 346), (48, 48)), ((240, 320), (84, 84))]
)
def test_tonic_binning_equals_the_integer_reference(sensor, size):
    rng = np.random.default_rng(sum(sensor))
    for T in (1, 7, 30):
        events = random_events(rng, 3000, sensor, 10_000)  # not in time order; some outside the window
        start, duration = int(rng.integers(0, 2000)), int(rng.integers(T, 9000))
        frames = spike_frames(events, T, sensor, size, start, duration)
        assert frames.dtype == np.uint8 and frames.shape == (T, 2 * size[0] * size[1])
        np.testing.assert_array_equal(frames, reference_frames(events, T, sensor, size, start, duration))
        assert frames.any()
    empty = spike_frames(events, 5, sensor, size, 20_000, 100)
    assert empty.shape == (5, 2 * size[0] * size[1]) and not empty.any()


@pytest.mark.parametrize("sensor, camera", [((240, 320), "DVXplorer"), ((260, 346), "DAVIS346")])
def test_aedat4_round_trip_with_the_sensor_from_the_header(tmp_path, sensor, camera):
    events = random_events(np.random.default_rng(1), 500, sensor, 1_000_000)
    events = events[np.argsort(events["t"], kind="stable")]
    events["t"] += 1_700_000_000_000_000  # DV records absolute times in microseconds
    write_aedat4(tmp_path / "r.aedat4", events, sensor, camera)
    read, read_sensor = read_aedat4(tmp_path / "r.aedat4")
    assert read_sensor == sensor and read.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(read, events)
    assert read_recording(tmp_path / "r.aedat4")[1] == sensor


def test_truncated_and_foreign_aedat4_files(tmp_path):
    events = random_events(np.random.default_rng(2), 2000, (240, 320), 100_000)
    events = events[np.argsort(events["t"], kind="stable")]
    write_aedat4(tmp_path / "r.aedat4", events, (240, 320))
    raw = (tmp_path / "r.aedat4").read_bytes()
    (tmp_path / "cut.aedat4").write_bytes(raw[: len(raw) // 2])  # inside the event packet
    with pytest.raises(DataError, match=r"cut.aedat4: cannot decode it as AEDAT 4 .*truncated"):
        read_aedat4(tmp_path / "cut.aedat4")
    (tmp_path / "v3.aedat").write_bytes(b"#!AER-DAT3.1\r\n#!END-HEADER\r\n")
    with pytest.raises(DataError, match="wrong magic number"):
        read_aedat4(tmp_path / "v3.aedat")
    (tmp_path / "no.aedat4").write_bytes(b"")
    with pytest.raises(DataError, match="not an AEDAT 3.1 file"):
        read_recording(tmp_path / "no.aedat4")


def test_dvsgesture_layout_with_aedat4_recordings_of_a_davis346(tmp_path):
    """IBM's layout (labels, split lists) holding AEDAT 4 recordings: frames from the 346 x 260 sensor."""
    rng = np.random.default_rng(3)
    gestures = {}
    for name, label in (("user01_led.aedat4", 3), ("user24_led.aedat4", 7)):
        events = random_events(rng, 4000, (260, 346), 2_000_000)
        events = events[np.argsort(events["t"], kind="stable")]
        write_aedat4(tmp_path / name, events, (260, 346), "DAVIS346")
        (tmp_path / name.replace(".aedat4", "_labels.csv")).write_text(
            f"class,startTime_usec,endTime_usec\n{label},100000,900000\n"
        )
        gestures[name] = (events, label - 1)
    (tmp_path / "trials_to_train.txt").write_text("user01_led.aedat4\n")
    (tmp_path / "trials_to_test.txt").write_text("user24_led.aedat4\n")
    d = load_dvsgesture(tmp_path, T=6, size=16, log=lambda _: None)
    for x, y, name in ((d.train_x, d.train_y, "user01_led.aedat4"), (d.test_x, d.test_y, "user24_led.aedat4")):
        events, label = gestures[name]
        assert list(y) == [label]
        np.testing.assert_array_equal(x[0], reference_frames(events, 6, (260, 346), (16, 16), 100000, 800000))
