"""Spoken digits: SPHERE and WAV files written, read back and turned into features; FSDD and TIDIGITS layouts."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from protocols.datasets import DataError
from protocols.datasets.audio import audio_features, load_fsdd, load_tidigits, read_sphere

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
PCM = np.array([0, 16384, -32768, 32767, -1, 100], dtype=np.int16)


def sphere_bytes(samples, rate=20000, byte_format="01", coding="pcm", count=None) -> bytes:
    """A NIST SPHERE file as LDC writes TIDIGITS: a 1024-byte text header, then 16-bit samples."""
    fields = [
        "database_id -s7 TIDIGIT",
        f"sample_count -i {len(samples) if count is None else count}",
        f"sample_rate -i {rate}",
        "channel_count -i 1",
        "sample_n_bytes -i 2",
        f"sample_byte_format -s2 {byte_format}",
        f"sample_coding -s{len(coding)} {coding}",
        "sample_sig_bits -i 16",
        "end_head",
    ]
    header = ("NIST_1A\n   1024\n" + "\n".join(fields) + "\n").encode().ljust(1024, b" ")
    dtype = "<i2" if byte_format == "01" else ">i2"
    return header + np.asarray(samples).astype(dtype).tobytes()


def tone(freqs, seconds=0.5, rate=8000, silence=0.0) -> np.ndarray:
    """Consecutive pure tones of equal length, with optional silence before and after."""
    pieces = []
    for f in freqs:
        t = np.arange(int(seconds * rate / len(freqs))) / rate
        pieces.append(0.5 * np.sin(2 * np.pi * f * t))
    pad = np.zeros(int(silence * rate))
    return np.concatenate([pad, *pieces, pad]).astype(np.float32)


def write_sphere_tone(path: Path, freqs, rate=20000):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sphere_bytes(np.round(tone(freqs, rate=rate) * 32767), rate=rate))


@pytest.mark.parametrize("byte_format", ["01", "10"])
def test_sphere_16_bit_pcm_in_both_byte_orders(tmp_path, byte_format):
    (tmp_path / "1a.wav").write_bytes(sphere_bytes(PCM, byte_format=byte_format))
    signal, rate = read_sphere(tmp_path / "1a.wav")
    assert rate == 20000 and signal.dtype == np.float32
    np.testing.assert_array_equal(signal, PCM / 32768.0)
    assert signal.min() == -1.0 and signal.max() < 1.0


def test_sphere_bad_files(tmp_path):
    (tmp_path / "s.wav").write_bytes(sphere_bytes(PCM, coding="pcm,embedded-shorten-v2.00"))
    with pytest.raises(DataError, match="sph2pipe"):
        read_sphere(tmp_path / "s.wav")
    (tmp_path / "t.wav").write_bytes(sphere_bytes(PCM, count=len(PCM) + 10))
    with pytest.raises(DataError, match="truncated: the header announces 16 samples, 6 follow"):
        read_sphere(tmp_path / "t.wav")
    (tmp_path / "u.wav").write_bytes(b"NIST_1A\n   1024\nsample_rate -i 8000\n")
    with pytest.raises(DataError, match="does not fit"):
        read_sphere(tmp_path / "u.wav")
    (tmp_path / "v.wav").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="neither a NIST SPHERE"):
        read_sphere(tmp_path / "v.wav")
    with pytest.raises(DataError, match="cannot read"):
        read_sphere(tmp_path / "missing.wav")


def test_wav_files_are_read_with_soundfile(tmp_path):
    soundfile.write(tmp_path / "a.wav", PCM, 8000, subtype="PCM_16")
    signal, rate = read_sphere(tmp_path / "a.wav")
    assert rate == 8000
    np.testing.assert_array_equal(signal, PCM / 32768.0)
    (tmp_path / "b.wav").write_bytes(b"RIFF" + b"\x00" * 40)
    with pytest.raises(DataError, match="cannot read WAV"):
        read_sphere(tmp_path / "b.wav")


def test_log_mel_follows_the_spectrum_over_the_utterance():
    low_then_high = tone([300, 3000])
    f = audio_features(low_then_high, 8000)
    assert f.shape == (30, 30) and f.min() == 0.0 and f.max() == 1.0
    loudest = f.argmax(axis=0)
    assert np.all(loudest[:13] < 12) and np.all(loudest[17:] > 24), "low band first, high band last"
    # the frames spread over the utterance: twice as long, or with silence around it, or at
    # another rate, the image is nearly the same
    variants = [(tone([300, 3000], seconds=1.0), 8000), (tone([300, 3000], silence=0.3), 8000)]
    for other, rate in variants + [(tone([300, 3000], rate=16000), 16000)]:
        assert np.abs(audio_features(other, rate) - f).mean() < 0.05
    assert audio_features(low_then_high, 8000, n_bands=20, n_frames=40).shape == (20, 40)


def test_log_mel_floor_sets_the_range_below_the_peak():
    """A tone 30 dB quieter in the second half sits at 1 - 30 / floor_db in its band; under a 20 dB floor, at 0."""
    t = np.arange(4000) / 8000
    loud_then_quiet = np.sin(2 * np.pi * 1000 * t) * np.where(t < 0.25, 0.5, 0.5 * 10 ** (-30 / 20))
    for floor_db in (40.0, 80.0):
        f = audio_features(loud_then_quiet, 8000, floor_db=floor_db)
        band = f[:, 5].argmax()
        assert f[band, 5] == 1.0
        np.testing.assert_allclose(f[band, 20:28], 1 - 30 / floor_db, atol=0.02)  # the last frames reach the end
        assert f[:, 20:].max() == f[band, 20:].max(), "the tone's band is the loudest of the quiet half"
    assert audio_features(loud_then_quiet, 8000, floor_db=20.0)[:, 20:].max() == 0.0


def test_mfcc_coefficients_each_span_0_to_1():
    f = audio_features(tone([300, 3000]), 8000, kind="mfcc", n_bands=13)
    assert f.shape == (13, 30)
    np.testing.assert_allclose(f.min(axis=1), 0.0)
    np.testing.assert_allclose(f.max(axis=1), 1.0)
    with pytest.raises(ValueError, match="unknown audio feature kind"):
        audio_features(tone([300]), 8000, kind="spectrum")


def test_silent_or_empty_audio_is_an_error():
    with pytest.raises(DataError, match="empty or silent"):
        audio_features(np.zeros(4000, dtype=np.float32), 8000)
    with pytest.raises(DataError, match="empty or silent"):
        audio_features(np.zeros(0, dtype=np.float32), 8000)


def test_fsdd_names_split_and_skips(tmp_path):
    freqs = {0: [200, 400], 3: [1500, 500], 5: [2500, 3500]}
    for name, digit in [("3_alice_0", 3), ("3_alice_7", 3), ("5_bob_12", 5), ("5_bob_2", 5), ("0_bob_30", 0)]:
        soundfile.write(tmp_path / f"{name}.wav", tone(freqs[digit]), 8000, subtype="PCM_16")
    soundfile.write(tmp_path / "notes.wav", tone([440]), 8000)
    soundfile.write(tmp_path / "7_bob_9.wav", np.zeros(2000), 8000)
    (tmp_path / "1_bob_20.wav").write_bytes(b"RIFF" + b"\x07" * 60)
    messages = []
    d = load_fsdd(tmp_path, log=messages.append)
    assert d.name == "fsdd" and d.n_classes == 10 and d.input_shape == (30, 30)
    assert sorted(d.train_y) == [0, 3, 5] and sorted(d.test_y) == [3, 5]
    assert d.train_x.shape == (3, 900) and d.test_x.shape == (2, 900)
    expected = audio_features(soundfile.read(tmp_path / "3_alice_7.wav", dtype="float32")[0], 8000)
    np.testing.assert_allclose(d.train_x[list(d.train_y).index(3)], expected.reshape(-1))  # band-major
    skips = [m for m in messages if m.startswith("FSDD: skipped")]
    assert len(skips) == 3 and any("notes.wav" in m for m in skips)
    assert any("7_bob_9.wav: empty or silent" in m for m in skips) and any("1_bob_20.wav" in m for m in skips)
    assert "3 files skipped" in messages[-1]


def test_fsdd_without_usable_recordings(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_fsdd(tmp_path / "none")
    with pytest.raises(DataError, match="no FSDD recordings"):
        load_fsdd(tmp_path)
    soundfile.write(tmp_path / "4_carl_1.wav", np.zeros(100), 8000)
    with pytest.raises(DataError, match="no usable training or no usable test"):
        load_fsdd(tmp_path, log=lambda _: None)


def test_tidigits_layout_labels_and_connected_digits(tmp_path):
    write_sphere_tone(tmp_path / "train" / "man" / "ae" / "1a.wav", [300, 600])
    write_sphere_tone(tmp_path / "train" / "woman" / "bc" / "oa.wav", [800, 400])
    write_sphere_tone(tmp_path / "train" / "woman" / "bc" / "za.wav", [2000, 1000])
    write_sphere_tone(tmp_path / "train" / "man" / "ae" / "o31a.wav", [500, 900, 300])
    (tmp_path / "train" / "man" / "ae" / "2b.wav").write_bytes(sphere_bytes(PCM, coding="shorten"))
    write_sphere_tone(tmp_path / "TEST" / "BOY" / "CD" / "ZB.WAV", [2000, 1000])
    write_sphere_tone(tmp_path / "TEST" / "GIRL" / "DE" / "9B.WAV", [3000, 300])
    messages = []
    d = load_tidigits(tmp_path, log=messages.append)
    assert d.name == "tidigits" and d.n_classes == 11 and d.input_shape == (30, 30)
    assert sorted(d.train_y) == [0, 1, 10] and sorted(d.test_y) == [0, 9]
    assert d.train_x.shape == (3, 900) and 0 <= d.train_x.min() and d.train_x.max() <= 1
    signal, rate = read_sphere(tmp_path / "train" / "woman" / "bc" / "za.wav")
    np.testing.assert_allclose(d.train_x[list(d.train_y).index(0)], audio_features(signal, rate).reshape(-1))
    assert any("2b.wav" in m and "sph2pipe" in m for m in messages)
    assert "1 connected-digit utterances left out, 1 files skipped" in messages[-1]
    ten = load_tidigits(tmp_path, labels="ten", log=lambda _: None)
    assert ten.n_classes == 10 and sorted(ten.train_y) == [0, 0, 1]


def test_tidigits_bad_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_tidigits(tmp_path / "none")
    write_sphere_tone(tmp_path / "tidigits" / "train" / "man" / "ae" / "1a.wav", [300])
    with pytest.raises(DataError, match="no test/ folder"):
        load_tidigits(tmp_path)
    write_sphere_tone(tmp_path / "tidigits" / "test" / "man" / "af" / "12a.wav", [300])
    with pytest.raises(DataError, match="no usable isolated-digit"):
        load_tidigits(tmp_path, log=lambda _: None)
    with pytest.raises(ValueError, match="label set"):
        load_tidigits(tmp_path, labels="twelve")


@pytest.mark.skipif(not REAL.is_dir(), reason="FSDD is not beside the project")
def test_real_fsdd_recordings():
    for name in ("0_george_0.wav", "7_jackson_33.wav"):
        signal, rate = read_sphere(REAL / name)
        assert rate == 8000 and 1000 < len(signal) < 20000 and np.abs(signal).max() > 0.05
        f = audio_features(signal, rate)
        assert f.shape == (30, 30) and 0.05 < f.mean() < 0.5  # the background (40 dB below the peak) is 0
