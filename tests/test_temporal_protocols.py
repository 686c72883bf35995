"""Temporal protocols end to end, compiled: N-MNIST event frames and FSDD spoken digits."""

import csv

import numpy as np
import pytest
import soundfile

from protocols import nmnist, tidigits
from protocols.datasets.nmnist import EVENT_DTYPE, load_nmnist, write_events

pytestmark = pytest.mark.standalone


def write_class_events(folder, n_per_class, rng):
    """N-MNIST files whose class (0-3) sets the sensor quadrant of its ON events."""
    for split, n in (("Train", n_per_class), ("Test", n_per_class // 2)):
        for label in range(4):
            (folder / split / str(label)).mkdir(parents=True)
            for k in range(n):
                count = 2000
                x = rng.integers(0, 17, count) + 17 * (label % 2)
                y = rng.integers(0, 17, count) + 17 * (label // 2)
                t = np.sort(rng.integers(0, 100_000, count))
                events = np.zeros(count, dtype=EVENT_DTYPE)
                events["x"], events["y"], events["p"], events["t"] = x, y, 1, t
                write_events(folder / split / str(label) / f"{k:05d}.bin", events)


def test_nmnist_frames_reach_the_network_exactly_and_it_learns(tmp_path, build_cache):
    data = tmp_path / "nmnist"
    write_class_events(data, 30, np.random.default_rng(0))
    args = ["--data-dir", str(data), "--results-dir", str(tmp_path / "r"), "--cache-dir", str(build_cache), "--quiet"]
    topology = [
        "--topology",
        "CONV_4_5_2_2_FC_10",
        "--T",
        "10",
        "--size",
        "17",
        "--epochs",
        "4",
        "--batch-size",
        "10",
        "--lr",
        "1e-2",
    ]
    assert nmnist.main([*args, *topology]) == 0
    (run,) = (tmp_path / "r" / "nmnist").iterdir()
    with (run / "metrics.csv").open() as f:
        test = [float(r["accuracy"]) for r in csv.DictReader(f) if r["split"] == "test"]
    assert test[-1] >= 0.8, f"event net test accuracy {test[-1]} (chance 0.25)"
    # every test sample's input spikes in the compiled run equal the spikes of its frames
    frames = load_nmnist(data, T=10, size=17, log=lambda message: None).test_x
    with (run / "firing.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["epoch"] == "4" and r["split"] == "test" and r["layer"] == "input"]
    recorded = np.array([int(r["spikes"]) for r in sorted(rows, key=lambda r: int(r["sample"]))])
    np.testing.assert_array_equal(recorded, frames.reshape(len(frames), -1).sum(axis=1))


def test_fsdd_with_1d_kernels_runs(tmp_path, build_cache):
    rng = np.random.default_rng(1)
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    times = np.arange(4000) / 8000
    for digit in range(10):
        for index in range(7):  # 0-4 test, 5-6 train
            tone = np.sin(2 * np.pi * (300 + 150 * digit) * times) * 0.5 + 0.01 * rng.normal(size=len(times))
            soundfile.write(recordings / f"{digit}_spk_{index}.wav", tone.astype(np.float32), 8000)
    args = ["--data-dir", str(recordings), "--results-dir", str(tmp_path / "r"), "--cache-dir", str(build_cache)]
    options = ["--corpus", "fsdd", "--kernels", "1d", "--bands", "8", "--frames", "8", "--epochs", "1", "--quiet"]
    assert tidigits.main([*args, *options]) == 0
    (run,) = (tmp_path / "r" / "tidigits").iterdir()
    layers = (run / "layers.csv").read_text().splitlines()
    assert layers[1].startswith("input,input,64,") and layers[2].startswith("conv1,conv,256,")  # 32 x 1 x 8


def test_missing_event_folder_is_a_usage_error(capsys, tmp_path):
    assert nmnist.main(["--data-dir", str(tmp_path / "nowhere"), "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]
