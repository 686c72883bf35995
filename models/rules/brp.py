"""Biologically plausible reward propagation (BRP), eqs. 4-10 of Zhang et al. (2021).

At the end of each sample (rates over the T steps of the sample):

* output layer, local delta rule against the one-hot target (MSE on rates, eq. 6):
      delta_k = (y_k - onehot_k) * f'_k
* hidden layer l, local error against the reward projected by the fixed random
  matrix B^l (eqs. 8, 9), in one of two forms:
      'paper': delta_i = (h_i - (B^l TP)_i) * f'_i      (descend  h - B TP)
      'code' : delta_i = (B^l TP)_i * f'_i              (the authors' released code,
                                                         a fork of DRTP: B * TP injected
                                                         as the layer's gradient)
  where TP is the reward signal (label: eq. 4, error: eq. 5, sign: eq. 7) and
  f'_i is the pseudo-gradient of eq. 10 averaged over the sample's steps.
* every synapse j -> i accumulates delta_i * r_j (r_j: presynaptic rate), every
  bias delta_i; once per minibatch the mean gradient is applied by SGD or Adam.

Adam's bias correction is folded into per-batch schedules computed in Python
(``step_size = lr sqrt(1 - b2^k) / (1 - b1^k)``, ``adam_eps = eps sqrt(1 - b2^k)``),
which gives exactly PyTorch's update ``w -= lr m_hat / (sqrt(v_hat) + eps)``.
"""

from __future__ import annotations

from brian2 import Equations

FORMS = ("paper", "code")
SIGNALS = ("label", "error", "sign")
OPTIMIZERS = ("adam", "sgd")
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8

# Neuron variables of a trained layer.
LEARNING_NEURON_VARIABLES = """
fb : 1  # B * TP for a hidden layer, one-hot target for the output layer (summed from the reward group)
delta : 1  # local error times pseudo-gradient of the last sample (eqs. 8-10)
bias_grad : 1  # gradient of the bias accumulated over the minibatch
bias_m : 1  # Adam first moment of the bias
bias_v : 1  # Adam second moment of the bias
"""

LEARNING_SYNAPSE_VARIABLES = """
w : 1  # synaptic weight (in units of the neuron model's w_unit)
w_grad : 1  # gradient accumulated over the minibatch
w_m : 1  # Adam first moment
w_v : 1  # Adam second moment
"""

# The reward signal TP of eqs. 4, 5, 7, computed by the reward group from the
# label spike counts (lcnt = T * one-hot) and the output rates y (eq. 6).
TP_CODE = {
    "label": "tp = lcnt * inv_T",
    "error": "tp = y - lcnt * inv_T",
    "sign": "tp = sign(y - lcnt * inv_T)",
}

# Local error of eqs. 8-9 for each layer role; ``learning`` is 1 on training samples.
DELTA_CODE = {
    "output": "delta = learning * (cnt * inv_T - fb) * gate_sum * inv_T",
    "paper": "delta = learning * (cnt * inv_T - fb) * gate_sum * inv_T",
    "code": "delta = learning * fb * gate_sum * inv_T",
}

ACCUMULATE_SYNAPSE = "w_grad += delta_post * cnt_pre * inv_T"

APPLY_CODE = {
    "sgd": "{p}_grad *= grad_scale(t)\n{p} -= step_size(t) * {p}_grad\n{p}_grad = 0",
    "adam": (
        "{p}_grad *= grad_scale(t)\n"
        "{p}_m += adam_on(t) * (1 - beta1) * ({p}_grad - {p}_m)\n"
        "{p}_v += adam_on(t) * (1 - beta2) * ({p}_grad ** 2 - {p}_v)\n"
        "{p} -= step_size(t) * {p}_m / (sqrt({p}_v) + adam_eps(t))\n"
        "{p}_grad = 0"
    ),
}


def delta_code(role: str, form: str) -> str:
    """Code computing ``delta`` at a sample's end; ``role`` is 'output' or 'hidden'."""
    if form not in FORMS:
        raise ValueError(f"unknown BRP form {form!r}; expected one of {FORMS}")
    code = DELTA_CODE["output" if role == "output" else form]
    return f"learning = int(split_prev(t) == 1)\n{code}\nbias_grad += delta"


def apply_code(optimizer: str, parameter: str) -> str:
    """Code applying a minibatch's mean gradient to ``parameter`` ('w' or 'bias')."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {OPTIMIZERS}")
    return APPLY_CODE[optimizer].format(p=parameter)


def neuron_equations() -> Equations:
    return Equations(LEARNING_NEURON_VARIABLES) + Equations("learning : 1 # 1 on training samples")


def synapse_equations() -> Equations:
    return Equations(LEARNING_SYNAPSE_VARIABLES)


NAMESPACE = {"beta1": ADAM_BETA1, "beta2": ADAM_BETA2}
