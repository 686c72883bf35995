"""DvsGesture: AEDAT 3.1 packets and the official and tonic layouts written, read back and binned."""

import struct

import numpy as np
import pytest

from protocols.datasets import DataError
from protocols.datasets.dvsgesture import (
    load_dvsgesture,
    load_dvsgesture_tonic,
    read_aedat31,
    read_labels,
    read_tonic_sample,
)
from protocols.datasets.events import spike_frames

HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-04-01 10:00:00\r\n#!END-HEADER\r\n"


def packet(events, kind=1, overflow=0, valid=None) -> bytes:
    """One AEDAT 3.1 packet of (x, y, p, t) polarity events (t: the low 31 bits)."""
    valid = [1] * len(events) if valid is None else valid
    body = b"".join(
        struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | v, t) for (x, y, p, t), v in zip(events, valid)
    )
    head = struct.pack("<hhiiiiii", kind, 1, 8, 4, overflow, len(events), len(events), sum(valid))
    return head + body


def aedat(*packets) -> bytes:
    return HEADER + b"".join(packets)


def test_aedat31_packets_decode(tmp_path):
    raw = aedat(
        packet([(0, 0, 0, 5), (127, 64, 1, 10), (3, 4, 1, 11)], valid=[1, 1, 0]),
        packet([(9, 9, 0, 77)], kind=0),  # a special event: skipped
        packet([(100, 2, 1, 2**31 - 1), (1, 127, 0, 3)], overflow=1),
    )
    (tmp_path / "a.aedat").write_bytes(raw)
    e = read_aedat31(tmp_path / "a.aedat")
    assert e.dtype.names == ("x", "y", "t", "p")
    assert [tuple(int(row[name]) for name in ("x", "y", "p", "t")) for row in e] == [
        (0, 0, 0, 5),
        (127, 64, 1, 10),
        (100, 2, 1, 2**31 - 1 + 2**31),
        (1, 127, 0, 3 + 2**31),
    ]
    (tmp_path / "empty.aedat").write_bytes(HEADER)
    assert len(read_aedat31(tmp_path / "empty.aedat")) == 0


def test_aedat31_bad_files(tmp_path):
    (tmp_path / "v2.aedat").write_bytes(b"#!AER-DAT2.0\r\n#!END-HEADER\r\n" + packet([(1, 1, 1, 1)]))
    with pytest.raises(DataError, match=r"not an AEDAT 3.1 file: its first line \(byte 0\)"):
        read_aedat31(tmp_path / "v2.aedat")
    good = packet([(1, 1, 1, 1), (2, 2, 0, 2)])
    (tmp_path / "cut.aedat").write_bytes(aedat(good, good)[:-3])
    at = len(HEADER) + len(good)
    with pytest.raises(DataError, match=f"truncated packet at byte {at}: .* 2 events of 8 bytes .* 13 bytes follow"):
        read_aedat31(tmp_path / "cut.aedat")
    (tmp_path / "head.aedat").write_bytes(aedat(good) + good[:10])
    with pytest.raises(DataError, match=f"truncated packet header at byte {at} \\(10 of 28 bytes\\)"):
        read_aedat31(tmp_path / "head.aedat")
    (tmp_path / "noend.aedat").write_bytes(b"#!AER-DAT3.1\r\n#Format: RAW\r\n" + good)
    with pytest.raises(DataError, match="without a #!END-HEADER line"):
        read_aedat31(tmp_path / "noend.aedat")
    bad_size = struct.pack("<hhiiiiii", 1, 1, 0, 4, 0, 1, 1, 1)
    (tmp_path / "size.aedat").write_bytes(aedat(bad_size))
    with pytest.raises(DataError, match=f"malformed packet header at byte {len(HEADER)}"):
        read_aedat31(tmp_path / "size.aedat")


def test_binning_downsamples_and_cuts_in_time():
    e = np.array(
        [(127, 64, 1, 1500), (0, 0, 0, 1999), (5, 5, 1, 2000), (5, 5, 1, 999)],
        dtype=[("x", np.uint16), ("y", np.uint16), ("p", np.uint8), ("t", np.int64)],
    )
    frames = spike_frames(e, T=4, sensor=(128, 128), size=(32, 32), start=1000, duration=1000)
    assert frames.shape == (4, 2048) and frames.dtype == np.uint8
    assert frames[2, 1024 + 16 * 32 + 31] == 1  # x 127 -> 31, y 64 -> 16, on channel, (1500 - 1000) * 4 // 1000 = 2
    assert frames[3, 0] == 1 and frames.sum() == 2  # the events at 999 and 2000 lie outside [1000, 2000)


def write_official(root, recordings, labels, train=("user01_fluorescent.aedat",), test=("user24_led.aedat",)):
    root.mkdir(parents=True, exist_ok=True)
    for name, raw in recordings.items():
        (root / name).write_bytes(raw)
    for name, rows in labels.items():
        text = "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{s},{e}\n" for c, s, e in rows)
        (root / name).write_text(text)
    (root / "trials_to_train.txt").write_text("\n".join(train) + "\n\n")
    (root / "trials_to_test.txt").write_text("\n".join(test) + "\n")


def test_official_layout(tmp_path):
    root = tmp_path / "DvsGesture"
    write_official(
        root,
        {
            "user01_fluorescent.aedat": aedat(packet([(127, 64, 1, 1500), (5, 5, 1, 2000), (0, 0, 0, 3999)])),
            "user24_led.aedat": aedat(packet([(64, 127, 0, 20)])),
        },
        {
            "user01_fluorescent_labels.csv": [(1, 1000, 2000), (5, 3000, 4000), (11, 5000, 6000)],
            "user24_led_labels.csv": [(2, 0, 40)],
        },
    )
    messages = []
    d = load_dvsgesture(tmp_path, T=4, size=32, log=messages.append)
    assert d.name == "dvsgesture" and d.n_classes == 11 and d.input_shape == (2, 32, 32)
    assert d.train_x.shape == (2, 4, 2048) and d.train_x.dtype == np.uint8 and d.test_x.shape == (1, 4, 2048)
    assert sorted(d.train_y) == [0, 4] and list(d.test_y) == [1]
    first = d.train_x[list(d.train_y).index(0)]
    assert first[2, 1024 + 16 * 32 + 31] == 1 and first.sum() == 1  # the event at 2000 us belongs to no gesture
    fifth = d.train_x[list(d.train_y).index(4)]
    assert fifth[3, 0] == 1 and fifth.sum() == 1
    assert d.test_x[0, 2, 31 * 32 + 16] == 1 and d.test_x.sum() == 1
    assert any("skipped gesture 3 (class 11) of user01_fluorescent.aedat" in m for m in messages)
    assert "1 empty gestures skipped" in messages[-1]


def test_labels_of_missing_recordings_and_malformed_labels(tmp_path):
    write_official(
        tmp_path,
        {"user24_led.aedat": aedat(packet([(1, 1, 0, 20)]))},
        {"user01_fluorescent_labels.csv": [(1, 0, 40)], "user24_led_labels.csv": [(2, 0, 40)]},
    )
    with pytest.raises(DataError, match="lists user01_fluorescent.aedat, which is missing"):
        load_dvsgesture(tmp_path)
    (tmp_path / "user01_fluorescent.aedat").write_bytes(aedat(packet([(1, 1, 0, 20)])))
    (tmp_path / "user24_led_labels.csv").unlink()
    with pytest.raises(DataError, match="user24_led_labels.csv, the labels of user24_led.aedat, is missing"):
        load_dvsgesture(tmp_path)
    (tmp_path / "bad.csv").write_text("class,startTime_usec,endTime_usec\n12,0,10\n")
    with pytest.raises(DataError, match="line 2: class must be 1-11"):
        read_labels(tmp_path / "bad.csv")
    (tmp_path / "bad.csv").write_text("label,start,end\n1,0,10\n")
    with pytest.raises(DataError, match="first line must be"):
        read_labels(tmp_path / "bad.csv")
    np.testing.assert_array_equal(read_labels(tmp_path / "user01_fluorescent_labels.csv"), [[0, 0, 40]])
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(DataError, match="neither the official DvsGesture layout"):
        load_dvsgesture(tmp_path / "elsewhere")


def write_tonic(root, samples):
    for relative, rows in samples.items():
        path = root / "DVSGesture" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.array(rows, dtype=np.float64).reshape(-1, 4))


def test_tonic_layout(tmp_path):
    write_tonic(
        tmp_path,
        {
            "ibmGestureTrain/user01_fluorescent/0.npy": [(10, 20, 1, 0.5), (127, 127, 0, 10.5)],
            "ibmGestureTrain/user01_fluorescent/10.npy": [(64, 0, 0, 3.0)],
            "ibmGestureTrain/user02_led/4.npy": [],
            "ibmGestureTest/user24_led/3.npy": [(0, 127, 1, 7.25), (0, 127, 1, 8.0)],
        },
    )
    e = read_tonic_sample(tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent" / "0.npy")
    assert [tuple(int(v) for v in row) for row in e] == [(10, 20, 500, 1), (127, 127, 10500, 0)]  # x, y, t, p
    messages = []
    d = load_dvsgesture(tmp_path, T=2, size=32, log=messages.append)  # the layout is recognised
    assert d.input_shape == (2, 32, 32) and d.n_classes == 11
    assert sorted(d.train_y) == [0, 10] and list(d.test_y) == [3] and d.train_x.shape == (2, 2, 2048)
    zero = d.train_x[list(d.train_y).index(0)]
    assert zero[0, 1024 + 5 * 32 + 2] == 1 and zero[1, 31 * 32 + 31] == 1 and zero.sum() == 2
    assert d.test_x[0, 0, 1024 + 31 * 32] == 1 and d.test_x[0, 1, 1024 + 31 * 32] == 1  # first to last event
    assert d.test_x.sum() == 2
    assert any("4.npy: no events" in m for m in messages)
    direct = load_dvsgesture_tonic(tmp_path / "DVSGesture", T=2, size=32, log=lambda _: None)
    np.testing.assert_array_equal(np.sort(direct.train_y), np.sort(d.train_y))


def test_tonic_bad_files(tmp_path):
    write_tonic(tmp_path, {"ibmGestureTrain/u/x.npy": [(1, 1, 1, 1.0)], "ibmGestureTest/u/1.npy": [(1, 1, 1, 1.0)]})
    with pytest.raises(DataError, match="by its class, 0 to 10"):
        load_dvsgesture_tonic(tmp_path)
    (tmp_path / "DVSGesture" / "ibmGestureTrain" / "u" / "x.npy").unlink()
    write_tonic(tmp_path, {"ibmGestureTrain/u/2.npy": [(128, 1, 1, 1.0)]})
    with pytest.raises(DataError, match="outside the 128 x 128 sensor"):
        load_dvsgesture_tonic(tmp_path)
    np.save(tmp_path / "DVSGesture" / "ibmGestureTrain" / "u" / "2.npy", np.zeros((3, 3)))
    with pytest.raises(DataError, match=r"expected an \(N, 4\) array"):
        load_dvsgesture_tonic(tmp_path)
    with pytest.raises(DataError, match="no ibmGestureTrain and ibmGestureTest"):
        load_dvsgesture_tonic(tmp_path / "DVSGesture" / "ibmGestureTrain")


def test_a_data_path_that_is_no_folder(tmp_path):
    (tmp_path / "recording.aedat").write_bytes(b"#!AER-DAT3.1\r\n")
    with pytest.raises(DataError, match="recording.aedat is a file, not a folder"):
        load_dvsgesture(tmp_path / "recording.aedat")
    with pytest.raises(DataError, match="nowhere does not exist"):
        load_dvsgesture(tmp_path / "nowhere")
