"""Training throughput of a convolutional BRP-SNN and where its time goes, measured in one run.

    python -m benchmarks.conv [--data-dir ../shared/data/mnist] [--samples 1000]
                              [--topology CONV_32_5_1_2_FC_1000_FC_10] [--precision float64]
                              [--propagation auto] [--checkpoint RUN/checkpoint.npz]
                              [--device cpp_standalone|cuda] [--compiled-only] [--build-only]

Builds the topology with Brian2's profiling compiled in, trains on 90% of the
samples and tests on the rest (one run = one compiled-program call), and prints
(a) samples/s, the firing rates, the synaptic events per sample of each stage,
the share of time per kind of operation and the nanoseconds per synaptic event of
each pathway, forward and sample-end (:mod:`benchmarks.pathways`). It starts from
the initial weights, or from a run folder's trained ones with ``--checkpoint``
(activity, hence events, grows with training). Then (b) the FC network made of
the topology's FC layers (initial weights) and (c) the same conv algorithm computed
densely with numpy in minibatches of 50 (:class:`benchmarks.dense.DenseConvBRP`),
on the same samples, on one core as the compiled program (BLAS limited to one thread)
and on all cores. The last lines are ``ratio_vs_fc_only: a/b``,
``ratio_vs_dense_batched_all_cores`` and ``ratio_vs_dense_batched: a/c`` (one core each).

``--device cuda`` builds (a) and (b) with brian2cuda (``cuda_standalone``, its own propagation:
``--propagation`` applies to cpp_standalone only); (c) stays on the CPU. ``--compiled-only`` measures
(a) alone from an unprofiled build (samples/s, rates and events; one build); ``--build-only`` builds
the programs that the other options would run, into ``--cache-dir``, and runs none of them (a later
call with the same options and ``--cache-dir`` reuses them; without a GPU it checks code generation
and nvcc).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.dense import DenseConvBRP, samples_per_second
from benchmarks.pathways import print_ns_per_event
from benchmarks.throughput import add_device_options, checked_device, mnist_shaped
from models import layers, propagation
from models.network import NetworkSpec
from models.topology import split_topology
from models.training import Trainer, feedback_matrices, initial_state
from protocols import runs

T = 20
# code-object name patterns -> kind of operation, first match wins
KINDS = (
    (r"_sample_end", "per-sample gradient (event-driven accumulation)"),
    (r"_tie", "minibatch: ties (sum into kernels, copy back)"),
    (r"_apply", "minibatch: optimizer"),
    (r"^conv\d+_pool\d+_pre", "pooling of conv spikes"),
    (r"^pool\d+_", "pooled events: propagation to the next layer, units"),
    (r"_pre_", "spike propagation"),
    (r"thresholder", "neurons: threshold (and the input encoder)"),
    (r"stateupdater|_integrate|resetter", "neurons: membrane"),
)


def kind_of(name: str) -> str:
    return next((kind for pattern, kind in KINDS if re.search(pattern, name)), "sample boundary (feedback, deltas)")


def starting_point(spec, checkpoint=None):
    """Learned arrays, optimizer state and B^l: initial ones, or those of a checkpoint.npz that fits ``spec``."""
    rng = np.random.default_rng(0)
    feedback, state = feedback_matrices(spec, rng), initial_state(spec, rng)
    if checkpoint is None:
        return state, feedback
    path = Path(checkpoint)
    if path.name != "checkpoint.npz" or not path.is_file():
        raise SystemExit(f"--checkpoint: {path} is not a run folder's checkpoint.npz")
    _, trained, trained_feedback = runs.load_checkpoint(path.parent)
    shapes = {key: np.shape(value) for key, value in (state | feedback).items()}
    if {key: np.shape(value) for key, value in (trained | trained_feedback).items()} != shapes:
        raise SystemExit(f"--checkpoint: {path} does not hold the arrays of this topology")
    return trained, trained_feedback


def train_once(spec, x, y, state, feedback, profile, cache_dir, device="cpp_standalone", build_only=False):
    trainer = Trainer(spec, x, y, feedback, device=device, cache_dir=cache_dir, profile=profile)
    if build_only:
        return trainer
    n_test = len(x) // 10
    result, _ = trainer.run(state, np.arange(len(x) - n_test), np.arange(len(x) - n_test, len(x)), 1e-4)
    summary = trainer.profiling_summary() if profile else []
    return len(x) / result.seconds, result, summary, trainer.build_seconds


def synaptic_events(spec, activity) -> dict[str, float]:
    """Synaptic events per sample leaving each stage: its spikes (pooled events) x its fan-out, mean over samples."""
    fan_outs = {row["layer"]: row["fan_out"] for row in layers.stage_table(spec.stages)}
    return {
        stage.name: float(np.mean(activity["spikes"][k])) * fan_outs[stage.name] for k, stage in enumerate(spec.stages)
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--topology", default="CONV_32_5_1_2_FC_1000_FC_10")
    parser.add_argument("--precision", choices=("float64", "float32"), default="float64")
    parser.add_argument("--propagation", choices=propagation.PROPAGATIONS, default="auto")
    parser.add_argument("--checkpoint", default=None, help="a run folder's checkpoint.npz to start from")
    parser.add_argument("--cache-dir", default=None, help="compiled-program cache (default: a temporary folder)")
    add_device_options(parser, "(c) runs on the CPU")
    args = parser.parse_args(argv)
    device = checked_device(parser, args)
    if device is None:
        return 2
    x, y, source = mnist_shaped(args.data_dir, args.samples, np.random.default_rng(0))
    convs, sizes = split_topology(args.topology, 10)
    common = dict(
        n_inputs=784, n_rows=len(x), n_slots=len(x), T=T, precision=args.precision, propagation=args.propagation
    )
    spec = NetworkSpec(sizes=sizes, input_shape=(1, 28, 28), convs=convs, **common)
    state, feedback = starting_point(spec, args.checkpoint)
    print(f"data: {source}, {len(x)} samples; {args.topology}, T={T}, {args.precision}, {args.propagation} propagation")
    print("stages: " + ", ".join(f"{s.name} {'x'.join(map(str, s.shape))}" for s in spec.stages))
    print(f"weights: {args.checkpoint or 'initial'}")
    how = "brian2cuda's propagation" if device == "cuda_standalone" else f"{args.propagation} propagation"
    print(f"device: {device} ({how})")
    fc_spec = NetworkSpec(sizes=sizes, **common)
    with contextlib.ExitStack() as stack:
        cache = args.cache_dir or stack.enter_context(tempfile.TemporaryDirectory())
        if args.build_only:
            builds = [(spec, not args.compiled_only, (state, feedback))]
            if not args.compiled_only:
                builds.append((fc_spec, False, starting_point(fc_spec)))
            for build_spec, profile, start in builds:
                trainer = train_once(build_spec, x, y, *start, profile, cache, device, build_only=True)
                name = args.topology if build_spec is spec else "_".join(f"FC_{n}" for n in sizes)
                print(
                    f"built {name} ({device}, profile={profile}) in {trainer.build_seconds:.1f} s: "
                    f"{trainer.build_directory}"
                )
            return 0
        profiled = not args.compiled_only
        speed, result, profile, build = train_once(spec, x, y, state, feedback, profiled, cache, device)
        print(
            f"(a) compiled training, {'profiled' if profiled else 'unprofiled'} build: {speed:.1f} samples/s "
            f"(build {build:.1f} s)"
        )
        rates = result.rates["train"]
        print("    spikes per neuron per step: " + ", ".join(f"{k} {v:.3f}" for k, v in rates.items()))
        events = synaptic_events(spec, result.activity)
        print(f"    synaptic events per sample: {sum(events.values()) / 1e6:.2f} M")
        for name, value in events.items():
            print(f"      from {name:<10} {value / 1e6:8.2f} M")
        if args.compiled_only:
            return 0
        shares = defaultdict(float)
        for name, seconds in profile:
            shares[kind_of(name)] += float(seconds)
        total = sum(shares.values())
        print("    where the time goes:")
        for kind, seconds in sorted(shares.items(), key=lambda item: -item[1]):
            print(f"      {kind:<50} {seconds / total:6.1%}")
        print("    largest code objects:")
        for name, seconds in profile[:5]:
            print(f"      {name:<50} {float(seconds) / total:6.1%}")
        print_ns_per_event(spec, result.activity, profile)
        fc_speed, _, _, _ = train_once(fc_spec, x, y, *starting_point(fc_spec), False, cache, device)
        print(f"(b) the FC layers alone ({'_'.join(f'FC_{n}' for n in sizes)}): {fc_speed:.1f} samples/s")
    dense = DenseConvBRP(spec.input_shape, convs, sizes, T=T, lr=1e-4, form=spec.form)
    dense.load_state(state, feedback)
    dense_speed = samples_per_second(dense, x, y, min(len(x), 1000), threads=1)
    dense.load_state(state, feedback)
    dense_all = samples_per_second(dense, x, y, min(len(x), 1000))
    print(f"(c) dense numpy, batches of 50 (float64): {dense_speed:.1f} samples/s on one core, {dense_all:.1f} on all")
    print(f"ratio_vs_fc_only: {speed / fc_speed:.3f}")
    print(f"ratio_vs_dense_batched_all_cores: {speed / dense_all:.3f}")
    print(f"ratio_vs_dense_batched: {speed / dense_speed:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
