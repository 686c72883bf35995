"""The minibatch update shared by every learning rule: SGD or Adam on a parameter's mean gradient.

A learned array ``p`` accumulates ``p_grad`` over the minibatch (its rule's code at each
sample's end); at the minibatch boundary ``p_grad`` is scaled by ``grad_scale`` (1 / samples in
the minibatch) and applied. Adam's bias correction is folded into per-batch schedules computed
in Python (``step_size = lr sqrt(1 - b2^k) / (1 - b1^k)``, ``adam_eps = eps sqrt(1 - b2^k)``,
:func:`models.training.plan_run`), which gives exactly PyTorch's update
``w -= lr m_hat / (sqrt(v_hat) + eps)``.
"""

from __future__ import annotations

OPTIMIZERS = ("adam", "sgd")
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8

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

NAMESPACE = {"beta1": ADAM_BETA1, "beta2": ADAM_BETA2}


def apply_code(optimizer: str, parameter: str) -> str:
    """Code applying a minibatch's mean gradient to ``parameter`` ('w' or 'bias')."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {OPTIMIZERS}")
    return APPLY_CODE[optimizer].format(p=parameter)
