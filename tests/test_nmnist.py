"""N-MNIST official binary format: written, read back, binned; bad files give clear errors."""

from pathlib import Path

import numpy as np
import pytest

from protocols.datasets import DataError
from protocols.datasets.nmnist import (
    EVENT_DTYPE,
    SENSOR,
    bin_events,
    list_split,
    load_nmnist,
    read_events,
    write_events,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "nmnist-small"


def events(rows):
    """Events from (x, y, p, t) rows."""
    e = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for name, column in zip(("x", "y", "p", "t"), np.array(rows, dtype=np.int64).reshape(-1, 4).T):
        e[name] = column
    return e


def test_round_trip_of_40_bit_events(tmp_path):
    written = events([(0, 0, 0, 0), (33, 5, 1, 8_388_607), (12, 33, 1, 65_536), (7, 9, 0, 255)])
    write_events(tmp_path / "a.bin", written)
    assert (tmp_path / "a.bin").stat().st_size == 20
    np.testing.assert_array_equal(read_events(tmp_path / "a.bin"), written)


def test_known_bytes_decode(tmp_path):
    raw = bytes([0x0A, 0x1E, 0x80 | 0x01, 0x02, 0x03])  # x=10, y=30, on, t=0x010203
    (tmp_path / "k.bin").write_bytes(raw)
    (e,) = read_events(tmp_path / "k.bin")
    assert (e["x"], e["y"], e["p"], e["t"]) == (10, 30, 1, 0x010203)


def test_timestamp_overflow_markers_are_dropped_and_shift_later_times(tmp_path):
    """An event with y = 240 marks a 2**13 us timestamp overflow (tonic's reader, after Orchard's)."""
    raw = bytes([1, 2, 0, 0, 9]) + bytes([0, 240, 0, 0, 0]) + bytes([3, 4, 0x80, 0, 7])
    (tmp_path / "m.bin").write_bytes(raw)
    e = read_events(tmp_path / "m.bin")
    assert [(int(r["x"]), int(r["y"]), int(r["p"]), int(r["t"])) for r in e] == [(1, 2, 0, 9), (3, 4, 1, 7 + 2**13)]


def test_binning_into_frames():
    e = events([(1, 2, 0, 0), (1, 2, 0, 10), (3, 4, 1, 55), (5, 6, 1, 99)])
    frames = bin_events(e, T=4, duration_us=100)
    assert frames.shape == (4, 2 * SENSOR * SENSOR)
    assert frames[0, 2 * SENSOR + 1] == 1 and frames[0].sum() == 1  # two events, one pixel, one spike
    assert frames[2, SENSOR * SENSOR + 4 * SENSOR + 3] == 1
    assert frames[3, SENSOR * SENSOR + 6 * SENSOR + 5] == 1
    assert frames.sum() == 3
    assert bin_events(events([]), T=3).sum() == 0


def test_bad_files_and_folders(tmp_path):
    (tmp_path / "t.bin").write_bytes(b"\x00" * 7)
    with pytest.raises(DataError, match="truncated"):
        read_events(tmp_path / "t.bin")
    (tmp_path / "o.bin").write_bytes(bytes([40, 0, 0, 0, 0]))
    with pytest.raises(DataError, match="outside the 34 x 34"):
        read_events(tmp_path / "o.bin")
    with pytest.raises(DataError, match="does not exist"):
        list_split(tmp_path, "Train")
    (tmp_path / "Train" / "x").mkdir(parents=True)
    with pytest.raises(DataError, match="named 0 to 9"):
        list_split(tmp_path, "Train")


@pytest.mark.skipif(not REAL.is_dir(), reason="the N-MNIST part is not beside the project")
def test_reads_the_real_files():
    files, labels = list_split(REAL, "Test")
    assert len(files) == 100 and set(labels) == set(range(10))
    e = read_events(files[0])
    assert len(e) > 1000 and np.all(np.diff(e["t"].astype(np.int64)) >= 0), "events are in time order"
    assert e["t"].max() < 400_000, "an N-MNIST recording lasts about 300 ms"
    frames = bin_events(e, T=30)
    assert 0 < frames.mean() < 0.5


def test_load_nmnist_frames_labels_and_downsampling(tmp_path):
    for split, label, name, rows in [
        ("Train", 0, "a", [(1, 2, 0, 0), (33, 5, 1, 99)]),
        ("Train", 3, "b", [(20, 30, 1, 50), (0, 0, 0, 199)]),
        ("Train", 5, "empty", []),
        ("Test", 7, "c", [(4, 4, 1, 0), (6, 8, 0, 9)]),
    ]:
        (tmp_path / split / str(label)).mkdir(parents=True, exist_ok=True)
        write_events(tmp_path / split / str(label) / f"{name}.bin", events(rows))
    messages = []
    d = load_nmnist(tmp_path, T=4, log=messages.append)
    assert d.name == "nmnist" and d.n_classes == 10 and d.input_shape == (2, SENSOR, SENSOR)
    assert d.train_x.shape == (2, 4, 2 * SENSOR * SENSOR) and d.train_x.dtype == np.uint8
    assert sorted(d.train_y) == [0, 3] and list(d.test_y) == [7]
    three = d.train_x[list(d.train_y).index(3)]
    np.testing.assert_array_equal(three, bin_events(read_events(tmp_path / "Train" / "3" / "b.bin"), T=4))
    assert any("empty.bin: no events" in m for m in messages)
    small = load_nmnist(tmp_path, T=4, size=17, log=lambda _: None)
    assert small.input_shape == (2, 17, 17) and small.train_x.shape == (2, 4, 2 * 17 * 17)
    zero = small.train_x[list(small.train_y).index(0)]
    assert zero[0, 1 * 17 + 0] == 1 and zero[3, 17 * 17 + 2 * 17 + 16] == 1 and zero.sum() == 2  # x 33 -> 16, y 5 -> 2


@pytest.mark.skipif(not REAL.is_dir(), reason="the N-MNIST part is not beside the project")
def test_load_the_real_part():
    d = load_nmnist(REAL, T=30, size=17, log=lambda _: None)
    assert d.train_x.shape == (1000, 30, 2 * 17 * 17) and d.test_x.shape == (100, 30, 2 * 17 * 17)
    assert set(d.train_y) == set(range(10)) and set(d.limited(50, None).train_y) == set(range(10))
    assert 0 < d.train_x.mean() < 0.5
