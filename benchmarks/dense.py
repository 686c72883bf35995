"""The BRP algorithm computed densely with numpy, a minibatch at a time (as the authors' PyTorch code does).

One matrix product per layer and time step for the whole minibatch; the same
neuron recurrence (decay 0.2, threshold 0.5), encoder (eq. 3), reward signals
and local rule (eqs. 8-10, rate form) as the Brian2 network.  Used by
:mod:`benchmarks.throughput` as the dense reference point.
"""

from __future__ import annotations

import numpy as np

from models.rules import brp


class DenseBRP:
    """Fully connected BRP-SNN with numpy arrays; ``sizes`` = (hidden..., n_classes)."""

    def __init__(
        self, n_inputs, sizes, T=20, lr=1e-3, form="paper", signal="label", seed=0, decay=0.2, v_th=0.5, gate_width=0.5
    ):
        self.rng = np.random.default_rng(seed)
        self.T, self.lr, self.form, self.signal = T, lr, form, signal
        self.decay, self.v_th, self.gate_width = decay, v_th, gate_width
        self.W, self.b, self.B = [], [], []
        n_pre = n_inputs
        for size in sizes:
            bound = 1 / np.sqrt(n_pre)
            self.W.append(self.rng.uniform(-bound, bound, (n_pre, size)))
            self.b.append(self.rng.uniform(-bound, bound, size))
            n_pre = size
        for size in sizes[:-1]:
            bound = np.sqrt(6 / size)
            self.B.append(self.rng.uniform(-bound, bound, (sizes[-1], size)))
        self.params = self.W + self.b
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.step = 0

    def forward(self, x):
        """Spike counts of every layer (input included) and summed pseudo-gradients, over T steps."""
        n = len(x)
        mem = [np.zeros((n, W.shape[1])) for W in self.W]
        spk = [np.zeros_like(m) for m in mem]
        counts = [np.zeros_like(x)] + [np.zeros_like(m) for m in mem]
        gates = [np.zeros_like(m) for m in mem]
        for _ in range(self.T):
            s = (x > self.rng.random(x.shape)).astype(float)
            counts[0] += s
            for k, (W, b) in enumerate(zip(self.W, self.b)):
                mem[k] = mem[k] * self.decay * (1 - spk[k]) + s @ W + b
                gates[k] += np.abs(mem[k] - self.v_th) < self.gate_width
                spk[k] = (mem[k] > self.v_th).astype(float)
                counts[k + 1] += spk[k]
                s = spk[k]
        return counts, gates

    def train_batch(self, x, labels):
        counts, gates = self.forward(x)
        rates = [c / self.T for c in counts]
        gate = [g * (1 / (2 * self.gate_width)) / self.T for g in gates]
        onehot = np.eye(self.W[-1].shape[1])[labels]
        y = rates[-1]
        tp = {"label": onehot, "error": y - onehot, "sign": np.sign(y - onehot)}[self.signal]
        deltas = []
        for k in range(len(self.W) - 1):
            fb = tp @ self.B[k]
            err = fb if self.form == "code" else rates[k + 1] - fb
            deltas.append(err * gate[k])
        deltas.append((y - onehot) * gate[-1])
        n = len(x)
        grads = [rates[k].T @ deltas[k] / n for k in range(len(self.W))] + [d.mean(axis=0) for d in deltas]
        self._adam(grads)
        return np.argmax(counts[-1], axis=1)

    def _adam(self, grads):
        self.step += 1
        b1, b2, eps = brp.ADAM_BETA1, brp.ADAM_BETA2, brp.ADAM_EPS
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1 - b1) * (g - m)
            v += (1 - b2) * (g * g - v)
            p -= self.lr * (m / (1 - b1**self.step)) / (np.sqrt(v / (1 - b2**self.step)) + eps)

    def predict(self, x, batch=500):
        return np.concatenate(
            [np.argmax(self.forward(x[k : k + batch])[0][-1], axis=1) for k in range(0, len(x), batch)]
        )
