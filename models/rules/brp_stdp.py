"""BRP-STDP: the paper's remark that BRP's local update of the hidden layers "might also be replaced
with STDP" (Zhang et al., 2021).

In every hidden layer the third factor of the STDP eligibility (:mod:`models.rules.stdp`) is
the BRP local error of each neuron, the same as in :mod:`models.rules.brp` without the
pseudo-gradient (``B TP`` in the authors' code form, ``h - B TP`` in the paper form):
``dw = -lr * e_i * c_ij / T``. The readout keeps BRP's local delta rule (it has no
spikes to pair while it is silent, and its target is local anyway).

A postsynaptic spike potentiates only when the potential that crossed the threshold lies in
eq. 10's window (``v < v_th + a``): the pairing is gated as BRP's pseudo-gradient gates its
update. Without the gate the eligibility is positive for every input active with the neuron
and grows with the neuron's rate, so neurons whose feedback drives them up potentiate, fire
more, and saturate (measured in a numpy replica, digits after 10 epochs: 96 % of the hidden
spikes at v >= 1, 46.5 % of the neurons above 0.9 spikes per step; with the gate 35 % and
5 %, and 94.7-95.9 % test accuracy over 3 seeds; docs/stdp-baselines.md). The weights start as
PyTorch's (U(+-1/sqrt(fan_in))): the excitatory start U(-b, 1.3 b) that ``rstdp`` keeps measured
82.3 +- 5.7 % on digits against 95.2 +- 0.2 % (label signal, 10 epochs, 3 seeds).
"""

from __future__ import annotations

from brian2 import Equations

from models.rules import brp, stdp
from models.rules.base import LEARNING_FLAG

ERROR_VARIABLE = "err : 1  # BRP local error of the sample (eqs. 8, 9) without the pseudo-gradient"
WINDOW_VARIABLE = "in_window : 1  # 1 if this step's potential lies below v_th + a (eq. 10): a spike potentiates"
WINDOW_CODE = "in_window = int(v < v_th + gate_width)"
GATED_ON_POST = "c += A_plus * xtrace_pre * in_window_post"
ACCUMULATE = "w_grad += err_post * c * inv_T"
ERROR_CODE = {
    "paper": "err = learning * (cnt * inv_T - fb)",
    "code": "err = learning * fb",
}


class BRPSTDP(brp.BRP):
    """Hidden layers: window-gated STDP eligibility x BRP's local error; the readout: BRP's delta rule."""

    name = "brp-stdp"
    summary = "BRP's local error x STDP in the hidden layers"
    rank = 3
    convolutions = False
    homeostatic = False  # its hidden layers' error multiplies an STDP eligibility, not a gradient on the rates
    namespace = dict(stdp.NAMESPACE)

    def neuron_equations(self, stage) -> Equations:
        hidden = Equations(WINDOW_VARIABLE) if stage.kind != "output" else Equations("")
        return brp.neuron_equations() + Equations(ERROR_VARIABLE) + hidden

    def synapses(self, stage, pre_stage, spec):
        if stage.kind == "output":
            return super().synapses(stage, pre_stage, spec)
        return stdp.synapse_equations(), stdp.pairing(ACCUMULATE, GATED_ON_POST)

    def integrate_code(self, stage) -> str:
        return WINDOW_CODE if stage.kind != "output" else ""

    def delta_code(self, stage, form: str) -> str:
        if stage.kind == "output":
            return super().delta_code(stage, form)
        if form not in ERROR_CODE:
            raise ValueError(f"unknown BRP form {form!r}; expected one of {tuple(ERROR_CODE)}")
        return f"{LEARNING_FLAG}\n{ERROR_CODE[form]}\nbias_grad += err * cnt * inv_T"


RULE = BRPSTDP()
