"""The reward neuron group and its fixed random feedback (eqs. 4-7, Zhang et al., 2021).

The reward group has one neuron per class; during a sample the neuron of the
target class spikes at every step (eq. 4, ``Label_spikes(t)``), so that its
count ``lcnt`` is T times the one-hot label.  At the sample's end the group
holds the output rates ``y`` (eq. 6) and computes the reward signal TP
(label, error ``y - onehot`` of eq. 5, or its sign, eq. 7).

Each hidden layer l receives ``B^l TP`` through a Synapses object from the
reward group whose weights ``b_fb`` are drawn once (seeded) and never trained;
the output layer receives the one-hot target through one-to-one synapses.

A rule may give the group further variables: dopamine-modulated STDP
(:mod:`models.rules.rstdp`) takes the network's decision at each sample's end and
releases its reward, as dopamine, to the winning output.
"""

from __future__ import annotations

import numpy as np
from brian2 import Equations, NeuronGroup, Synapses

REWARD_EQUATIONS = """
lcnt : 1  # label spikes in the current sample: T x one-hot (eq. 4)
y : 1  # output rate of this class in the sample (eq. 6)
tp : 1  # reward signal TP (eqs. 4, 5, 7)
"""
# The readout of every rule: the output with the most spikes wins, ties broken by the summed potential.
READOUT_EQUATION = "vsum : 1  # membrane potential as the threshold sees it, summed over the sample (mV)"
POTENTIAL_SUM = "vsum += v / mV"
POTENTIAL_RESET = "vsum = 0"

SIGNALS = ("label", "error", "sign")
# The reward signal TP of eqs. 4, 5, 7, computed from the label spike counts (lcnt = T x one-hot)
# and the output rates y (eq. 6).
TP_CODE = {
    "label": "tp = lcnt * inv_T",
    "error": "tp = y - lcnt * inv_T",
    "sign": "tp = sign(y - lcnt * inv_T)",
}


def reward_group(n_outputs: int, n_classes: int, namespace: dict, dt, equations: str = "") -> NeuronGroup:
    """One neuron per output neuron: neuron ``i`` spikes at every step of a sample whose label (TimedArray
    ``label``) is its class, ``i`` mod ``n_classes``; ``equations`` are further variables a rule needs
    (e.g. for its decision)."""
    label_class = "i" if n_outputs == n_classes else f"(i % {n_classes})"
    return NeuronGroup(
        n_outputs,
        Equations(REWARD_EQUATIONS) + Equations(equations),
        threshold=f"abs(label(t) - {label_class}) < 0.5",
        reset="lcnt += 1",
        namespace=namespace,
        dt=dt,
        name="reward",
    )


def at_sample_end(synapses: Synapses, variable: str, clock, order: int) -> None:
    """Run the summed variable ``variable`` (e.g. 'fb_post') once per sample, at the boundary, in ``order``."""
    updater = synapses.summed_updaters[variable]
    updater._clock = clock
    updater.when, updater.order = "start", order


def feedback_synapses(reward, layer, role: str, b_matrix, namespace, clock, order) -> Synapses:
    """Fixed random feedback into a hidden layer (``B^l TP``), or the one-hot target into the output."""
    n_classes, size = len(reward), len(layer)
    if role == "output":
        synapses = Synapses(
            reward,
            layer,
            model="fb_post = lcnt_pre * inv_T : 1 (summed)",
            namespace=namespace,
            name=f"feedback_{layer.name}",
        )
        synapses.connect(j="i")
    else:
        b_matrix = np.asarray(b_matrix, dtype=float)
        if b_matrix.shape != (n_classes, size):
            raise ValueError(f"B for {layer.name} has shape {b_matrix.shape}, expected {(n_classes, size)}")
        synapses = Synapses(
            reward,
            layer,
            model="b_fb : 1 (constant)  # fixed random feedback weight\nfb_post = b_fb * tp_pre : 1 (summed)",
            namespace=namespace,
            name=f"feedback_{layer.name}",
        )
        synapses.connect(i=np.repeat(np.arange(n_classes), size), j=np.tile(np.arange(size), n_classes))
        synapses.b_fb = b_matrix.ravel()
    at_sample_end(synapses, "fb_post", clock, order)
    return synapses


def output_to_reward(output, reward, namespace, clock, order, decision=False) -> Synapses:
    """One-to-one synapses that give the reward group the output rates y (eq. 6), and with
    ``decision`` the outputs' summed potentials (the tie-break of a rule's decision)."""
    model = "y_post = cnt_pre * inv_T : 1 (summed)" + ("\nvsum_post = vsum_pre : 1 (summed)" if decision else "")
    synapses = Synapses(
        output,
        reward,
        model=model,
        namespace=namespace,
        name="output_reward",
    )
    synapses.connect(j="i")
    for variable in synapses.summed_updaters:
        at_sample_end(synapses, variable, clock, order)
    return synapses


def kaiming_uniform(rng: np.random.Generator, n_classes: int, size: int) -> np.ndarray:
    """B^l as in the authors' (DRTP) code: Kaiming-uniform, bound sqrt(6 / size), shape (classes, size)."""
    bound = kaiming_bound(size)
    return rng.uniform(-bound, bound, size=(n_classes, size))


def kaiming_bound(size: int) -> float:
    """The bound sqrt(6 / size) of :func:`kaiming_uniform`."""
    return float(np.sqrt(6.0 / size))
