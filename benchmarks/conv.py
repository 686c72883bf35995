"""Training throughput of a convolutional BRP-SNN and where its time goes, measured in one run.

    python -m benchmarks.conv [--data-dir ../shared/data/mnist] [--samples 1000]
                              [--topology CONV_32_5_1_2_FC_1000_FC_10] [--precision float64]

Builds the topology with Brian2's profiling compiled in, trains on 90% of the
samples and tests on the rest (one run = one compiled-program call), and prints
samples/s, the firing rates, the synaptic events per sample of each stage, and
the share of time per kind of operation. The last line compares with the FC
network made of the same topology's FC layers on the same samples:
``ratio_vs_fc_only: conv samples/s / FC-only samples/s``.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections import defaultdict

import numpy as np

from benchmarks.throughput import mnist_shaped
from models import layers
from models.network import NetworkSpec
from models.topology import split_topology
from models.training import Trainer, feedback_matrices, initial_state

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


def train_once(spec, x, y, profile, cache_dir):
    rng = np.random.default_rng(0)
    trainer = Trainer(spec, x, y, feedback_matrices(spec, rng), cache_dir=cache_dir, profile=profile)
    n_test = len(x) // 10
    result, _ = trainer.run(
        initial_state(spec, rng), np.arange(len(x) - n_test), np.arange(len(x) - n_test, len(x)), 1e-4
    )
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
    args = parser.parse_args(argv)
    x, y, source = mnist_shaped(args.data_dir, args.samples, np.random.default_rng(0))
    convs, sizes = split_topology(args.topology, 10)
    common = dict(n_inputs=784, n_rows=len(x), n_slots=len(x), T=T, precision=args.precision)
    spec = NetworkSpec(sizes=sizes, input_shape=(1, 28, 28), convs=convs, **common)
    print(f"data: {source}, {len(x)} samples; {args.topology}, T={T}, {args.precision}")
    print("stages: " + ", ".join(f"{s.name} {'x'.join(map(str, s.shape))}" for s in spec.stages))
    with tempfile.TemporaryDirectory() as cache:
        speed, result, profile, build = train_once(spec, x, y, True, cache)
        print(f"(a) compiled training, profiled build: {speed:.1f} samples/s (build {build:.1f} s)")
        rates = result.rates["train"]
        print("    spikes per neuron per step: " + ", ".join(f"{k} {v:.3f}" for k, v in rates.items()))
        events = synaptic_events(spec, result.activity)
        print(f"    synaptic events per sample: {sum(events.values()) / 1e6:.2f} M")
        for name, value in events.items():
            print(f"      from {name:<10} {value / 1e6:8.2f} M")
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
        fc_spec = NetworkSpec(sizes=sizes, **common)
        fc_speed, _, _, _ = train_once(fc_spec, x, y, False, cache)
        print(f"(b) the FC layers alone ({'_'.join(f'FC_{n}' for n in sizes)}): {fc_speed:.1f} samples/s")
    print(f"ratio_vs_fc_only: {speed / fc_speed:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
