"""Spike-timing-dependent rules with a third factor: dopamine-modulated STDP and BRP-STDP.

Both share the STDP eligibility of Izhikevich (2007, "Solving the distal reward
problem through linkage of STDP and dopamine signaling"): every neuron keeps a
spike trace ``xtrace`` (``+1`` per spike, decaying with ``tau_trace``; reset at each
sample's start), and every synapse j -> i an eligibility ``c_ij`` that integrates
the STDP window over the sample:

    at a presynaptic spike:   c_ij -= A_minus * xtrace_i   (post before pre: depression)
    at a postsynaptic spike:  c_ij += A_plus  * xtrace_j   (pre before post, or in the same step: potentiation)

At the sample's end the third factor turns ``c / T`` into the synapse's gradient
(minibatches and optimizers as in :mod:`models.rules.brp`), and ``c`` is cleared.

* ``rstdp`` (dopamine-modulated STDP, reward-modulated STDP) trains the readout on the
  hidden layers' fixed random features, as the R-STDP layer of Mozafari et al. (2019,
  Pattern Recognition 94) sits on features it does not train. The output is a
  winner-take-all: every output spike inhibits the other outputs at the next step
  (``WTA_INHIBITION``). The decision is the output with the most spikes, ties broken by
  the highest membrane potential summed over the sample (none while the output is silent).
  The reward group releases dopamine to the winner only: ``r = 1 - h`` when it is the
  label, punishment ``r = -h`` when it is not, where ``h`` is the running hit rate
  (Mozafari's scaling of reward by misses and punishment by hits, which keeps the
  expected dopamine at zero). ``dw = lr * r * c / T`` (gradient ``-r * c / T``). A
  homeostatic bias (``HOMEOSTASIS_RATE`` towards ``TARGET_RATE`` spikes per step, as the
  adaptive thresholds of Diehl & Cook 2015) keeps one output from winning everything.
  Global dopamine to the hidden layers as well (Izhikevich's form, in every layer)
  was measured to destroy the features: 5-17% on digits against 50% with fixed ones (10 epochs,
  A_MINUS = A_PLUS).
* ``brp-stdp`` (the paper's remark that BRP's local update of the hidden layers "might
  also be replaced with STDP"): in every hidden layer the third factor is the BRP local
  error of each neuron, the same as in :mod:`models.rules.brp` without the
  pseudo-gradient (``B TP`` in the authors' code form, ``h - B TP`` in the paper form):
  ``dw = -lr * e_i * c_ij / T``. The readout keeps BRP's local delta rule (it has no
  spikes to pair while it is silent, and its target is local anyway).
"""

from __future__ import annotations

from brian2 import Equations, ms

from models.rules import brp

RULES = ("rstdp", "brp-stdp")
FIXED_HIDDEN = ("rstdp",)  # rules whose hidden layers keep their initial random weights
TAU_TRACE = 5 * ms
# A window with more potentiation than depression, so that inputs that fire with the neuron (rate-coded,
# the same step included) leave a positive eligibility: on digits (10 epochs, lr 1e-3) A_MINUS = 1.0 gave
# rstdp 50% and A_MINUS = 0.5 66%, brp-stdp (error signal) 83% with 0.5.
A_PLUS = 1.0
A_MINUS = 0.5
WTA_INHIBITION = 1.0  # weight (w_unit) of the inhibition between outputs: 1 mV, twice the threshold, for eq. 2
HOMEOSTASIS_RATE = 0.05  # output bias change per training sample and unit of rate error
TARGET_RATE = 0.05  # output spikes per step that the homeostasis aims at

TRACE_EQUATION = "dxtrace/dt = -xtrace / tau_trace : 1  # spike trace for STDP (Izhikevich 2007)"
TRACE_ON_SPIKE = "xtrace += 1"
TRACE_RESET = "xtrace = 0"

ELIGIBILITY = "c : 1  # STDP eligibility of the synapse, integrated over the sample"
ON_PRE = "c -= A_minus * xtrace_post"
ON_POST = "c += A_plus * xtrace_pre"

NEURON_VARIABLES = {
    "rstdp": "da : 1  # dopamine: the reward if this output won the decision, else 0",
    "brp-stdp": "err : 1  # BRP local error of the sample (eqs. 8, 9) without the pseudo-gradient",
}
ACCUMULATE = {
    "rstdp": "w_grad -= da_post * c * inv_T\nc = 0",
    "brp-stdp": "w_grad += err_post * c * inv_T\nc = 0",
}
ERROR_CODE = {
    "paper": "err = learning * (cnt * inv_T - fb)",
    "code": "err = learning * fb",
}


def neuron_equations(rule: str) -> Equations:
    """Variables of a trained layer: BRP's (bias, feedback, Adam state), the third factor."""
    return brp.neuron_equations() + Equations(NEURON_VARIABLES[rule])


def synapse_equations() -> Equations:
    return brp.synapse_equations() + Equations(ELIGIBILITY)


def delta_code(rule: str, form: str) -> str:
    """Sample-end code of an STDP-trained layer: its third factor and its bias gradient.

    For ``rstdp`` (the readout) the bias follows the same dopamine-gated rule, with the neuron's
    own rate as eligibility, and the homeostasis moves it towards the target rate.
    """
    if rule == "rstdp":
        return (
            "learning = int(split_prev(t) == 1)\nda *= learning\nbias_grad -= da * cnt * inv_T\n"
            "bias += learning * homeostasis_rate * (target_rate - cnt * inv_T)"
        )
    code = ERROR_CODE[form]
    return f"learning = int(split_prev(t) == 1)\n{code}\nbias_grad += err * cnt * inv_T"


NAMESPACE = {
    "tau_trace": TAU_TRACE,
    "A_plus": A_PLUS,
    "A_minus": A_MINUS,
    "homeostasis_rate": HOMEOSTASIS_RATE,
    "target_rate": TARGET_RATE,
}
