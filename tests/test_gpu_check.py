"""The GPU check of issue 19 (benchmarks/gpu_check.sh) and the benchmarks' --device cuda, checked here:
no GPU, no compile, no network."""

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks import conv, throughput

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [ROOT / "benchmarks" / "gpu_check.sh", ROOT / "benchmarks" / "prepare_gpu_check.sh"]
HAVE_BRIAN2CUDA = importlib.util.find_spec("brian2cuda") is not None
BENCHMARKS = {"throughput": throughput, "conv": conv}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_parse(script):
    subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmarks_take_the_device_options(name, capsys):
    with pytest.raises(SystemExit) as stop:
        BENCHMARKS[name].main(["--help"])
    assert stop.value.code == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "--device {cpp_standalone,cuda}" in usage and "--compiled-only" in usage and "--build-only" in usage


@pytest.mark.parametrize("name", BENCHMARKS)
def test_cuda_without_nvcc_is_a_clear_error(name, monkeypatch, capsys, tmp_path):
    if not HAVE_BRIAN2CUDA:
        pytest.skip("brian2cuda not installed: the error names it instead (the test below)")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvcc on the PATH
    cache = tmp_path / "cache"
    assert BENCHMARKS[name].main(["--device", "cuda", "--data-dir", str(tmp_path), "--cache-dir", str(cache)]) == 2
    err = capsys.readouterr().err
    assert "needs the CUDA compiler nvcc" in err and len(err.strip().splitlines()) == 1
    assert not cache.exists(), "nothing is built"


@pytest.mark.parametrize("name", BENCHMARKS)
def test_cuda_without_brian2cuda_is_a_clear_error(name, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "brian2cuda", None)  # import fails as if not installed
    assert BENCHMARKS[name].main(["--device", "cuda", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs brian2cuda: pip install -r requirements-gpu.txt" in err and len(err.strip().splitlines()) == 1


SPEEDS = {
    "throughput": {"cuda_standalone": 3000.0, "cpp_standalone": 1000.0},
    "conv": {"cuda_standalone": 100.0, "cpp_standalone": 50.0},
}


def benchmark_output(name, device, build_only, monkeypatch, capsys, tmp_path) -> str:
    """What the benchmark prints with --compiled-only, its training replaced by fixed figures (no build)."""
    trainer = SimpleNamespace(build_seconds=42.0 if build_only else 3.5, build_directory=tmp_path / "build")
    module = BENCHMARKS[name]
    monkeypatch.setattr(throughput, "check_device", lambda device: None)  # both benchmarks check through it
    if name == "throughput":

        def fake(spec, x, y, n_test, cache, profile, device="cpp_standalone", build_only=False):
            return trainer if build_only else (SPEEDS[name][device], 0.25, trainer, None)

        monkeypatch.setattr(module, "compiled", fake)
        options = ["--samples", "20"]
    else:

        def fake(spec, x, y, state, feedback, profile, cache, device="cpp_standalone", build_only=False):
            spikes = np.ones((len(spec.stages), 1))
            result = SimpleNamespace(rates={"train": {s.name: 0.1 for s in spec.stages}}, activity={"spikes": spikes})
            return trainer if build_only else (SPEEDS[name][device], result, [], trainer.build_seconds)

        monkeypatch.setattr(module, "train_once", fake)
        options = ["--samples", "20", "--topology", "CONV_4_5_1_2_FC_20_FC_10"]
    argv = [*options, "--device", device, "--compiled-only", "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path)]
    assert module.main(argv + (["--build-only"] if build_only else [])) == 0
    return capsys.readouterr().out


def test_summary_reads_what_the_steps_print(monkeypatch, capsys, tmp_path):
    """gpu_check.sh's summary, from step logs made of what the benchmarks print (their training faked)."""
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "logs").mkdir(parents=True)
    for name in BENCHMARKS:
        for device in ("cuda", "cpp_standalone"):
            built = benchmark_output(name, device, True, monkeypatch, capsys, tmp_path)
            timed = benchmark_output(name, device, False, monkeypatch, capsys, tmp_path)
            (work / "logs" / f"build_{name}_{device}.log").write_text(built)
            (work / "logs" / f"{name}_{device}.log").write_text(timed)
    for folder, accuracy in (("gpu", 0.95), ("cpu", 0.96)):
        (work / "runs" / "digits" / folder).mkdir(parents=True)
        with (work / "runs" / "digits" / folder / "metrics.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", "split", "accuracy", "n_samples", "seconds", "samples_per_s"])
            for epoch in (1, 2):
                writer.writerow([epoch, "train", 0.97, 1437, 1.0, 1797.0])
                writer.writerow([epoch, "test", accuracy, 360, 0.2, 1797.0])
        (work / "logs" / f"digits_{folder}.log").write_text("program ready in 61.0 s (/x)\nepoch 1/2: ...\n")
    env = os.environ | {
        "OUT": str(out),
        "PYTHON": sys.executable,
        "GPU_CHECK_WORK": str(work),
        "GPU_CHECK_SITE": str(tmp_path / "site"),
        "GPU_CHECK_SUMMARY_ONLY": "1",
        "GPU_CHECK_DRY": "0",
        "GPU_CHECK_EPOCHS": "2",
    }
    done = subprocess.run(["bash", str(SCRIPTS[0])], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (out / "summary.md").read_text()
    assert "| digits_gpu | not run | 2/2 | 0.9500 | 0.9700 | 1797 | 61.0 |" in summary
    assert "GPU - CPU test accuracy after epoch 2: 0.9500 - 0.9600 = -0.0100 (within 3 standard errors" in summary
    assert "| FC_500_FC_10 (784-500-10) | cuda | 3000 | 42.0 | 3.5 |" in summary
    assert "| CONV_32_5_1_2_FC_1000_FC_10 | cpp_standalone | 50.0 | 42.0 | 3.5 |" in summary
    assert "- throughput: GPU/CPU samples/s ratio 3.00" in summary and "- conv: GPU/CPU samples/s ratio 2.00" in summary
    assert "start-up overhead of one run (throughput): cuda 0.25 s, cpp_standalone 0.25 s" in summary
    assert {path.name for path in out.iterdir()} == {"summary.md", "steps.log", "details.tar.gz"}
