"""Training throughput of BRP on 784-500-10 at T = 20, measured in one run.

    python -m benchmarks.throughput [--data-dir ../shared/data/mnist] [--samples 5000]
                                    [--loop-samples 200] [--propagation auto]
                                    [--device cpp_standalone|cuda] [--compiled-only] [--build-only]

(a) the project's compiled training (cpp_standalone, one run per epoch), with the
network's ``--propagation`` ('auto': queue-free pathways, 'generic': Brian2's own path);
(b) the usual Brian2 way: runtime mode, one ``run()`` per sample, update and reset in Python;
(c) the same algorithm computed densely with numpy, minibatches of 50 (as the authors' PyTorch code),
on one core as the compiled program (BLAS limited to one thread), and on all cores.
(a') is (a) without recording the firing statistics (per-sample activity, membrane traces).
A profiled build of (a) gives the largest code objects and the nanoseconds per synaptic event
of the pathways of ``input_hidden1`` and ``hidden1_output``, forward and sample-end
(:mod:`benchmarks.pathways`). The last lines are ``ratio_vs_dense_batched_all_cores``,
``ratio_vs_dense_batched: a/c`` (one core each),
``speedup_vs_per_sample_loop: a/b`` and ``ratio_recorded_vs_unrecorded: a/a'``.

``--device cuda`` builds (a), (a') and the profiled build with brian2cuda (``cuda_standalone``, its own
propagation: ``--propagation`` applies to cpp_standalone only); (b) and (c) stay on the CPU.
``--compiled-only`` measures (a) alone (one build); ``--build-only`` builds the programs that the
other options would run, into ``--cache-dir``, and runs none of them (a later call with the same
options and ``--cache-dir`` reuses them; without a GPU it checks code generation and nvcc).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from brian2 import Network, NeuronGroup, Synapses, ms, prefs, set_device

from benchmarks.dense import DenseBRP, samples_per_second
from benchmarks.pathways import print_ns_per_event
from models import propagation
from models.devices import DeviceError, check_device, device_of_option
from models.network import NetworkSpec
from models.neurons import LIFParameters
from models.training import Trainer, feedback_matrices, initial_state
from protocols.datasets import DataError
from protocols.datasets.idx import load_mnist

SIZES = (500, 10)
T = 20


def add_device_options(parser, on_cpu: str) -> None:
    """--device, --compiled-only and --build-only; ``on_cpu`` says which measurements stay on the CPU."""
    parser.add_argument(
        "--device",
        choices=("cpp_standalone", "cuda"),
        default="cpp_standalone",
        help=f"device of the compiled training (cuda: brian2cuda for an NVIDIA GPU); {on_cpu}",
    )
    parser.add_argument("--compiled-only", action="store_true", help="measure (a) alone: one build, one timed run")
    parser.add_argument(
        "--build-only", action="store_true", help="build the compiled programs into --cache-dir and run none"
    )


def checked_device(parser, args) -> str | None:
    """Brian2's name of ``--device``, or None after the one-line error when it cannot build here."""
    device = device_of_option(args.device)
    try:
        check_device(device)
    except DeviceError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return None
    return device


def mnist_shaped(data_dir, n, rng):
    """Real MNIST if present, else random strokes with MNIST's statistics (about 19% non-zero pixels)."""
    try:
        d = load_mnist(data_dir)
        return d.train_x[:n], d.train_y[:n], "MNIST"
    except DataError:
        x = np.where(rng.random((n, 784)) < 0.19, rng.uniform(0.5, 1.0, (n, 784)), 0.0)
        return x, rng.integers(0, 10, n), "synthetic MNIST-shaped"


def compiled(spec, x, y, n_test, cache_dir, profile, device="cpp_standalone", build_only=False):
    """Samples/s of training, the start-up overhead of one run, the trainer and the result of the timed run
    (with ``build_only``: the trainer alone, its program built and not run)."""
    n_train = len(x) - n_test
    rng = np.random.default_rng(0)
    trainer = Trainer(spec, x, y, feedback_matrices(spec, rng), device=device, cache_dir=cache_dir, profile=profile)
    if build_only:
        return trainer
    state = initial_state(spec, rng)
    test_rows = np.arange(n_train, len(x))
    trainer.run(state, rng.permutation(n_train), test_rows, 1e-3)  # warm-up (file cache)
    tic = time.perf_counter()
    result, _ = trainer.run(state, rng.permutation(n_train), test_rows, 1e-3)
    wall = time.perf_counter() - tic
    return len(x) / wall, wall - trainer.last_simulation_seconds, trainer, result


LOOP_EQUATIONS = """
dv/dt = -v / tau_m : volt  # eq. 2 leak
cnt : 1  # spikes in the sample
gate_sum : 1  # summed pseudo-gradient (eq. 10)
"""


def per_sample_loop(x, y, n_samples, lr=1e-3):
    """Runtime mode, one run() per sample; the rate-form BRP update and the reset done in Python."""
    set_device("runtime")
    prefs.codegen.target = "numpy"
    neuron = LIFParameters.authors()
    rng = np.random.default_rng(0)
    ns = neuron.namespace
    inp = NeuronGroup(784, "p : 1\ncnt : 1", threshold="rand() < p", reset="cnt += 1", namespace={}, dt=1 * ms)
    layers = [
        NeuronGroup(
            n,
            LOOP_EQUATIONS,
            threshold="v > v_th",
            reset="v = v_reset; cnt += 1",
            method="exact",
            namespace=ns,
            dt=1 * ms,
        )
        for n in SIZES
    ]
    gates = [
        g.run_regularly("gate_sum += gate_height * int(abs(v - v_th) < gate_width)", when="before_thresholds")
        for g in layers
    ]
    synapses = [
        Synapses(pre, post, "w : 1", on_pre="v_post += w * w_unit", namespace=ns, dt=1 * ms)
        for pre, post in ((inp, layers[0]), (layers[0], layers[1]))
    ]
    for syn in synapses:
        syn.connect()
    weights = [
        rng.uniform(-1 / 28, 1 / 28, (784, SIZES[0])),
        rng.uniform(-1 / np.sqrt(SIZES[0]), 1 / np.sqrt(SIZES[0]), SIZES),
    ]
    bound = np.sqrt(6 / SIZES[0])
    B = rng.uniform(-bound, bound, (10, SIZES[0]))
    net = Network(inp, *layers, *gates, *synapses)
    net.run(T * ms, namespace={})  # warm-up
    tic = time.perf_counter()
    for k in range(n_samples):
        inp.p, inp.cnt = x[k], 0
        for group in layers:
            group.v, group.cnt, group.gate_sum = neuron.v_reset, 0, 0
        for syn, w in zip(synapses, weights):
            syn.w = w.ravel()
        net.run(T * ms, namespace={})
        rates = [np.asarray(g.cnt[:]) / T for g in (inp, *layers)]
        gate = [np.asarray(g.gate_sum[:]) / T for g in layers]
        onehot = np.eye(10)[y[k]]
        deltas = [(onehot @ B) * gate[0], (rates[2] - onehot) * gate[1]]
        for w, r, d in zip(weights, rates, deltas):
            w -= lr * np.outer(r, d)
    return n_samples / (time.perf_counter() - tic)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    parser.add_argument("--samples", type=int, default=5000, help="samples per compiled run (train + 10%% test)")
    parser.add_argument("--loop-samples", type=int, default=200, help="samples of the per-sample runtime loop")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--propagation", choices=propagation.PROPAGATIONS, default="auto")
    add_device_options(parser, "(b) and (c) run on the CPU")
    args = parser.parse_args(argv)
    device = checked_device(parser, args)
    if device is None:
        return 2
    rng = np.random.default_rng(0)
    x, y, source = mnist_shaped(args.data_dir, args.samples, rng)
    print(f"data: {source}, {len(x)} samples, {np.mean(x > 0):.1%} non-zero pixels; 784-500-10, T={T}")
    cache = args.cache_dir or tempfile.mkdtemp(prefix="brp_bench_")
    spec = NetworkSpec(
        n_inputs=784, sizes=SIZES, n_rows=len(x), n_slots=len(x), T=T, form="code", propagation=args.propagation
    )
    n_test = len(x) // 10
    how = "brian2cuda's propagation" if device == "cuda_standalone" else f"{args.propagation} propagation"
    if args.build_only:
        builds = [(spec, False)]
        if not args.compiled_only:
            builds += [(dataclasses.replace(spec, record=False), False), (spec, True)]
        for build_spec, profile in builds:
            trainer = compiled(build_spec, x, y, n_test, cache, profile, device, build_only=True)
            record = "recorded" if build_spec.record else "unrecorded"
            print(
                f"built ({device}, {how}, {record}, profile={profile}) in {trainer.build_seconds:.1f} s: "
                f"{trainer.build_directory}"
            )
        return 0
    a, overhead, trainer, _ = compiled(spec, x, y, n_test, cache, profile=False, device=device)
    print(f"(a) compiled training ({device}, {how}): {a:.0f} samples/s (build {trainer.build_seconds:.1f} s)")
    print(f"    start-up overhead of one run of the compiled program: {overhead:.2f} s")
    if args.compiled_only:
        return 0
    unrecorded, _, _, _ = compiled(
        dataclasses.replace(spec, record=False), x, y, n_test, cache, profile=False, device=device
    )
    print(f"(a') the same without recording the firing statistics: {unrecorded:.0f} samples/s")
    _, _, trainer, result = compiled(spec, x, y, n_test, cache, profile=True, device=device)
    profile = trainer.profiling_summary()
    total = sum(float(t) for _, t in profile)
    print("    where the time goes (profiled build):")
    for name, t in profile[:6]:
        print(f"      {name:<48} {float(t) / total:6.1%}")
    print_ns_per_event(spec, result.activity, profile)
    b = per_sample_loop(x, y, args.loop_samples)
    print(f"(b) runtime mode, one run() per sample: {b:.1f} samples/s")
    n_dense = min(len(x), 2000)
    c = samples_per_second(DenseBRP(784, SIZES, T=T, form="code"), x, y, n_dense, threads=1)
    c_all = samples_per_second(DenseBRP(784, SIZES, T=T, form="code"), x, y, n_dense)
    print(f"(c) dense numpy, batches of 50: {c:.0f} samples/s on one core, {c_all:.0f} on all cores")
    print(f"ratio_vs_dense_batched_all_cores: {a / c_all:.2f}")
    print(f"ratio_vs_dense_batched: {a / c:.2f}")
    print(f"speedup_vs_per_sample_loop: {a / b:.1f}")
    print(f"ratio_recorded_vs_unrecorded: {a / unrecorded:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
