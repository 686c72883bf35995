"""Print what a topology and a learning rule compile to: each group's final equations and the schedule.

    python -m protocols.schedule --topology FC_500_FC_10 --rule brp
    python -m protocols.schedule --topology CONV_2_3_1_1_FC_20_FC_10 --input-shape 1,8,8 --rule brp --pooling lif

The equations of a layer are joined from the neuron model, its rule and the recording; this
command shows them as Brian2 sees them, with every synapse pathway's code, every operation at a
sample or minibatch boundary, and Brian2's ``Network.scheduling_summary()`` (the order of every
operation within a time step and at the boundaries, docs/design.md).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from brian2 import Hz, NeuronGroup, Synapses

from models import optimizers, reward, rules
from models.layers import POOLINGS
from models.network import NetworkSpec, build_network
from models.neurons import NEURON_MODELS, neuron_parameters
from models.rules.brp import FORMS
from models.topology import TopologyError, parse_topology, split_topology
from models.training import feedback_matrices, initial_state, plan_run


def shape(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be a positive integer")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m protocols.schedule", description=__doc__.splitlines()[0])
    p.add_argument("--topology", default="FC_500_FC_10", help="authors' format, e.g. FC_500_FC_10")
    p.add_argument(
        "--input-shape",
        type=shape,
        default=(1, 28, 28),
        help="channels,height,width (or channels,length; or one size for FC nets); default 1,28,28",
    )
    p.add_argument("--rule", choices=rules.names(), default="brp")
    p.add_argument("--signal", choices=reward.SIGNALS, default="label")
    p.add_argument("--form", choices=FORMS, default="code")
    p.add_argument("--optimizer", choices=optimizers.OPTIMIZERS, default="adam")
    p.add_argument("--neuron", choices=sorted(NEURON_MODELS), default="lif")
    p.add_argument("--adaptation", type=float, default=0.0, help="threshold jump per spike in mV (0: none)")
    p.add_argument("--tau-adaptation", type=float, default=20.0, help="time constant of the adaptation in ms")
    p.add_argument("--homeostasis", type=float, default=0.0, help="strength of the homeostatic term (0: none)")
    p.add_argument("--target-rate", type=float, default=10.0, help="the homeostatic target rate in Hz")
    p.add_argument("--inhibition", type=float, default=0.0, help="lateral inhibition in hidden FC layers (0: none)")
    p.add_argument("--winners", type=int, default=0, help="rstdp: label-free feature layers with K winners per step")
    p.add_argument(
        "--orthogonal-readout", action="store_true", help="rstdp: decision weights orthogonal to the mean hidden counts"
    )
    p.add_argument("--pooling", choices=POOLINGS, default="avg")
    p.add_argument("--T", type=int, default=20)
    p.add_argument("--no-record", action="store_true", help="without the firing-statistics recording")
    return p


def network_spec(args) -> NetworkSpec:
    convs, sizes = split_topology(args.topology, parse_topology(args.topology)[-1].units)
    input_shape = args.input_shape if convs else ()
    return NetworkSpec(
        n_inputs=int(np.prod(args.input_shape)),
        sizes=sizes,
        n_rows=2,
        n_slots=2,
        T=args.T,
        neuron=neuron_parameters(args.neuron, args.adaptation, args.tau_adaptation),
        homeostasis=args.homeostasis,
        target_rate=args.target_rate * Hz,
        inhibition=args.inhibition,
        winners=args.winners,
        orthogonal_readout=args.orthogonal_readout,
        signal=args.signal,
        form=args.form,
        optimizer=args.optimizer,
        batch_size=1,
        rule=args.rule,
        input_shape=input_shape,
        convs=convs,
        pooling=args.pooling,
        record=not args.no_record,
    )


def build(spec: NetworkSpec):
    """The network of ``spec`` (not run), with random arrays in place of data and weights."""
    rng = np.random.default_rng(0)
    inputs, _ = plan_run(spec, np.arange(1), np.arange(1, 2), np.zeros(2, dtype=int), 1e-3, 0)
    return build_network(
        spec, rng.random((2, spec.n_inputs)), inputs, initial_state(spec, rng), feedback_matrices(spec, rng)
    )


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in str(text).strip().splitlines())


def _code(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).strip().splitlines() if line.strip())


def describe(network) -> str:
    """Every group's equations, events and per-step code; every synapse model, pathway and summed
    variable; every operation at sample and minibatch boundaries; then Brian2's schedule."""
    objects = network.sorted_objects
    groups = [
        obj.group for obj in objects if type(obj).__name__ == "StateUpdater" and isinstance(obj.group, NeuronGroup)
    ]
    lines = []
    for group in groups:
        lines += [f"NeuronGroup {group.name} ({len(group)} neurons)", _indent(group.equations)]
        for event, condition in group.events.items():
            action = group.event_codes.get(event)
            lines.append(f"  on {event!r} when {condition}" + (f": {_code(action)}" if action else ""))
        for runner in (obj for obj in objects if type(obj).__name__ == "CodeRunner" and obj.group is group):
            if runner.when == "groups":
                lines.append(f"  every step ({runner.name}): {_code(runner.abstract_code)}")
        lines.append("")
    for synapses in (obj for obj in objects if isinstance(obj, Synapses)):
        lines.append(f"Synapses {synapses.name} ({synapses.source.name} -> {synapses.target.name})")
        if len(synapses.equations):
            lines.append(_indent(synapses.equations))
        for pathway in synapses._pathways:
            lines.append(f"  on {pathway.event} of {pathway.prepost}: {_code(pathway.code)}")
        for variable, updater in synapses.summed_updaters.items():
            lines.append(f"  {variable} = {updater.expression} (summed)")
        lines.append("")
    lines.append("At sample and minibatch boundaries (slot 'start', in this order; summed variables, monitors and")
    lines.append("the sample-end pathways are listed above and in the schedule)")
    for obj in objects:
        if type(obj).__name__ == "CodeRunner" and obj.when == "start":
            lines.append(f"  {obj.name} [order {obj.order}, every {obj.clock.dt}]: {_code(obj.abstract_code)}")
    lines += ["", "Schedule", str(network.scheduling_summary())]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        spec = network_spec(args)
    except (TopologyError, ValueError) as error:
        print(f"{p.prog}: error: {error}", file=sys.stderr)
        return 2
    print(describe(build(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
