"""brian2cuda: the CUDA program generated and its kernels compiled here (nvcc, no GPU); run where a GPU is present."""

import importlib.util
import shutil
import subprocess

import numpy as np
import pytest

from models import devices
from models.network import NetworkSpec
from models.training import Trainer, feedback_matrices, initial_state
from protocols import digits
from protocols.datasets.digits import load_sklearn_digits

HAVE_BRIAN2CUDA = importlib.util.find_spec("brian2cuda") is not None
HAVE_NVCC = shutil.which("nvcc") is not None
HAVE_GPU = shutil.which("nvidia-smi") is not None

needs_nvcc = pytest.mark.skipif(
    not (HAVE_BRIAN2CUDA and HAVE_NVCC),
    reason="the CUDA program cannot be compiled here: needs brian2cuda (requirements-gpu.txt) and nvcc on the PATH",
)


def small_problem(n_slots=120):
    data = load_sklearn_digits()
    x = np.concatenate([data.train_x, data.test_x])[:n_slots]
    y = np.concatenate([data.train_y, data.test_y])[:n_slots]
    spec = NetworkSpec(n_inputs=64, sizes=(20, 10), n_rows=len(x), n_slots=len(x), T=10, batch_size=10)
    return spec, x, y


# The project's own code in the CUDA program: synaptic propagation, the neurons' state update, the sample-end
# weight update. Compiling all of brian2cuda's ~85 files takes 16-23 min on 2 cores; the GPU test below builds
# and links the whole program where a GPU is present.
KERNELS = ("input_hidden1_pre_codeobject", "hidden1_stateupdater_codeobject", "input_hidden1_sample_end_codeobject")


@pytest.mark.cuda
@needs_nvcc
def test_cuda_code_generates_and_compiles_kernel_by_kernel(tmp_path):
    spec, x, y = small_problem()
    feedback = feedback_matrices(spec, np.random.default_rng(0))
    trainer = Trainer(spec, x, y, feedback, device="cuda_standalone", cache_dir=tmp_path, compile=False)
    folder = trainer.build_directory
    assert (folder / "main.cu").is_file() and (folder / "makefile").is_file()
    assert not (folder / "main").exists(), "compile=False generates the code only"
    generated = {path.stem for path in (folder / "code_objects").glob("*.cu")}
    assert set(KERNELS) <= generated, sorted(generated)
    objects = [f"code_objects/{kernel}.o" for kernel in KERNELS]
    make = subprocess.run(["make", "-j2", *objects], cwd=folder, capture_output=True, text=True)
    assert make.returncode == 0, make.stderr[-3000:]
    assert all((folder / o).stat().st_size > 0 for o in objects)


@pytest.mark.cuda
@pytest.mark.skipif(not (HAVE_GPU and HAVE_BRIAN2CUDA and HAVE_NVCC), reason="no NVIDIA GPU (nvidia-smi) here")
def test_gpu_learns_like_the_cpu_build(tmp_path):
    """Summed variables use atomics on the GPU: compare accuracies statistically, not bit by bit."""
    spec, x, y = small_problem(n_slots=1797)
    accuracies = {}
    for device in ("cpp_standalone", "cuda_standalone"):
        rng = np.random.default_rng(0)
        trainer = Trainer(spec, x, y, feedback_matrices(spec, rng), device=device, cache_dir=tmp_path / device)
        state = initial_state(spec, rng)
        for epoch in range(5):
            order = np.random.default_rng([0, epoch]).permutation(1437)
            result, state = trainer.run(state, order, np.arange(1437, 1797), 1e-3)
        accuracies[device] = result.test_accuracy
    assert accuracies["cuda_standalone"] > 0.8
    # two binomial accuracies on 360 samples: 0.05 is about 3 standard errors of their difference
    assert abs(accuracies["cuda_standalone"] - accuracies["cpp_standalone"]) < 0.05, accuracies


def test_missing_nvcc_is_a_clear_error(monkeypatch, capsys, tmp_path):
    if not HAVE_BRIAN2CUDA:
        pytest.skip("brian2cuda not installed: the error names it instead (checked by the message below)")
    real_which = shutil.which
    monkeypatch.setattr(devices.shutil, "which", lambda name: None if name == "nvcc" else real_which(name))
    assert digits.main(["--device", "cuda", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs the CUDA compiler nvcc" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "digits").exists(), "no run folder is left behind"


def test_missing_brian2cuda_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "brian2cuda", None)  # import fails as if not installed
    assert digits.main(["--device", "cuda", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs brian2cuda: pip install -r requirements-gpu.txt" in err and len(err.strip().splitlines()) == 1
