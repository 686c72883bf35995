"""The BRP algorithm computed densely with numpy, a minibatch at a time (as the authors' PyTorch code does).

One matrix product per layer and time step for the whole minibatch: FC layers
(:class:`DenseBRP`), and spiking convolutions as im2col + one matrix product per
sample, each followed by 2x2 average pooling of its spikes (:class:`DenseConvBRP`).
The same encoder (eq. 3), neuron recurrence (decay 0.2, threshold 0.5), reward
signals and local rule (eqs. 8-10, rate form; a kernel's gradient summed over its
positions) as the Brian2 network, and Adam on each minibatch's mean gradient.
The dense reference point of :mod:`benchmarks.throughput` and :mod:`benchmarks.conv`.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

from models import layers, optimizers, reward


class _Dense:
    """An FC layer: weights (pre, post) and biases; a convolution's pooled maps arrive flattened."""

    def __init__(self, weights, bias):
        self.weights, self.bias = weights, bias

    def drive(self, s):
        return s.reshape(len(s), -1) @ self.weights + self.bias

    def weight_gradient(self, rates, delta):
        return rates.reshape(len(rates), -1).T @ delta

    def bias_gradient(self, delta):
        return delta.sum(axis=0)


class _Conv:
    """A spiking convolution (kernel as (C_out, C_in kh kw), channel biases) and the average pooling of its spikes."""

    def __init__(self, weights, bias, in_shape, stage):
        conv = stage.conv
        _, _, self.kh, self.kw = layers.kernel_shape(conv, in_shape[0])
        self.strides = (conv.stride, conv.stride) if conv.dims == 2 else (1, conv.stride)
        self.pads = (conv.padding, conv.padding) if conv.dims == 2 else (0, conv.padding)
        self.out_shape, self.window = stage.shape, layers.pool_window(conv)
        self.weights, self.bias = weights, bias

    def columns(self, s):
        """im2col: (n, C, H, W) -> (n, C kh kw, H' W'), rows in the kernel's element order."""
        (ph, pw), (sh, sw) = self.pads, self.strides
        n, c, h, w = s.shape
        if ph or pw:
            padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
            padded[:, :, ph : ph + h, pw : pw + w] = s
            s = padded
        windows = sliding_window_view(s, (self.kh, self.kw), axis=(2, 3))[:, :, ::sh, ::sw]
        return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * self.kh * self.kw, -1)

    def drive(self, s):
        return (self.weights @ self.columns(s)).reshape(len(s), *self.out_shape) + self.bias[:, None, None]

    def pool(self, spikes):
        """Mean over each window (a remainder row / column is dropped)."""
        n, c, h, w = spikes.shape
        wh, ww = self.window
        ph, pw = h // wh, w // ww
        pooled = np.zeros((n, c, ph, pw))
        for dy in range(wh):
            for dx in range(ww):
                pooled += spikes[:, :, dy : ph * wh : wh, dx : pw * ww : ww]
        pooled *= 1 / (wh * ww)
        return pooled

    def weight_gradient(self, rates, delta):
        """Correlation of the input rates with the deltas, summed over positions and samples."""
        return np.tensordot(delta.reshape(len(delta), len(self.bias), -1), self.columns(rates), axes=([0, 2], [0, 2]))

    def bias_gradient(self, delta):
        return delta.sum(axis=(0, 2, 3))


class DenseBRP:
    """Fully connected BRP-SNN with numpy arrays; ``sizes`` = (hidden..., n_classes); ``options`` as :meth:`_setup`."""

    def __init__(self, n_inputs, sizes, **options):
        self._setup(layers.plan_stages((n_inputs,), (), tuple(sizes)), **options)

    def _setup(self, stages, T=20, lr=1e-3, form="paper", signal="label", seed=0, decay=0.2, v_th=0.5, gate_width=0.5):
        """Layers of the ``stages`` (:func:`models.layers.plan_stages`), PyTorch's initialisation, the B^l."""
        self.rng = np.random.default_rng(seed)
        self.T, self.lr, self.form, self.signal = T, lr, form, signal
        self.decay, self.v_th, self.gate_width = decay, v_th, gate_width
        self.stages = stages
        self.trained = [(previous, stage) for previous, stage in zip(stages, stages[1:]) if stage.trained]
        self.layers = []
        for previous, stage in self.trained:
            if stage.kind == "conv":
                kernel = layers.kernel_shape(stage.conv, previous.shape[0])
                n_out, fan_in = shape = (kernel[0], int(np.prod(kernel[1:])))
            else:
                fan_in, n_out = shape = (previous.size, stage.size)
            bound = 1 / np.sqrt(fan_in)
            weights, bias = self.rng.uniform(-bound, bound, shape), self.rng.uniform(-bound, bound, n_out)
            conv = stage.kind == "conv"
            self.layers.append(_Conv(weights, bias, previous.shape, stage) if conv else _Dense(weights, bias))
        self.B = [reward.kaiming_uniform(self.rng, stages[-1].size, stage.size) for _, stage in self.trained[:-1]]
        self.params = [layer.weights for layer in self.layers] + [layer.bias for layer in self.layers]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.step = 0

    def state_keys(self):
        """The keys of :func:`models.training.initial_state` holding ``params``, in the same order."""
        weights = [f"{s.name}_kernel.w" if s.kind == "conv" else f"{p.name}_{s.name}.w" for p, s in self.trained]
        biases = [f"{s.name}_channel.bias" if s.kind == "conv" else f"{s.name}.bias" for _, s in self.trained]
        return weights + biases

    def load_state(self, state, feedback):
        """Take the learned arrays, Adam's state and the B^l of the Brian2 network (``initial_state`` layout)."""
        for key, p, m, v in zip(self.state_keys(), self.params, self.m, self.v):
            for array, name in ((p, key), (m, f"{key}_m"), (v, f"{key}_v")):
                array[...] = np.reshape(state[name], array.shape)
        self.step = int(state["optimizer_steps"][0])
        self.B = [np.asarray(feedback[stage.name], dtype=float) for _, stage in self.trained[:-1]]

    def forward(self, x):
        """Over T steps: spike counts and summed pseudo-gradients of every layer, and the summed input of each
        (input spikes, pooled maps after a convolution, the spikes of the FC layer before)."""
        n = len(x)
        x = x.reshape(n, *self.stages[0].shape)
        mem = [np.zeros((n, *stage.shape)) for _, stage in self.trained]
        spk = [np.zeros_like(m) for m in mem]
        counts = [np.zeros_like(m) for m in mem]
        gates = [np.zeros_like(m) for m in mem]
        inputs = [
            counts[k - 1] if previous.trained else np.zeros((n, *previous.shape))
            for k, (previous, _) in enumerate(self.trained)
        ]
        for _ in range(self.T):
            s = (x > self.rng.random(x.shape)).astype(float)
            inputs[0] += s
            for k, layer in enumerate(self.layers):
                mem[k] = mem[k] * self.decay * (1 - spk[k]) + layer.drive(s)
                gates[k] += np.abs(mem[k] - self.v_th) < self.gate_width
                spk[k] = (mem[k] > self.v_th).astype(float)
                counts[k] += spk[k]
                s = spk[k]
                if isinstance(layer, _Conv):
                    s = layer.pool(s)
                    inputs[k + 1] += s
        return counts, gates, inputs

    def gradients(self, x, labels):
        """Output spike counts of the minibatch and its mean gradient of every array in ``params``."""
        counts, gates, inputs = self.forward(x)
        gate = [g * (1 / (2 * self.gate_width)) / self.T for g in gates]
        onehot = np.eye(self.stages[-1].size)[labels]
        y = counts[-1] / self.T
        tp = {"label": onehot, "error": y - onehot, "sign": np.sign(y - onehot)}[self.signal]
        deltas = []
        for k, B in enumerate(self.B):
            fb = (tp @ B).reshape(counts[k].shape)
            err = fb if self.form == "code" else counts[k] / self.T - fb
            deltas.append(err * gate[k])
        deltas.append((y - onehot) * gate[-1])
        n = len(x)
        weight_grads = [layer.weight_gradient(r / self.T, d) / n for layer, r, d in zip(self.layers, inputs, deltas)]
        return counts[-1], weight_grads + [layer.bias_gradient(d) / n for layer, d in zip(self.layers, deltas)]

    def train_batch(self, x, labels):
        counts, grads = self.gradients(x, labels)
        self._adam(grads)
        return np.argmax(counts, axis=1)

    def _adam(self, grads):
        self.step += 1
        b1, b2, eps = optimizers.ADAM_BETA1, optimizers.ADAM_BETA2, optimizers.ADAM_EPS
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1 - b1) * (g - m)
            v += (1 - b2) * (g * g - v)
            p -= self.lr * (m / (1 - b1**self.step)) / (np.sqrt(v / (1 - b2**self.step)) + eps)

    def predict(self, x, batch=500):
        return np.concatenate(
            [np.argmax(self.forward(x[k : k + batch])[0][-1], axis=1) for k in range(0, len(x), batch)]
        )


class DenseConvBRP(DenseBRP):
    """Spiking convolutions, each followed by 2x2 average pooling of its spikes, then FC layers ``sizes``.

    ``input_shape`` is (C, H, W), or (C, L) for 1-D convolutions; ``options`` as :meth:`DenseBRP._setup`.
    """

    def __init__(self, input_shape, convs, sizes, **options):
        self._setup(layers.plan_stages(tuple(input_shape), tuple(convs), tuple(sizes)), **options)


def samples_per_second(net: DenseBRP, x, y, n_samples, batch_size=50, threads=None):
    """Training throughput of ``net`` on the first ``n_samples`` (after one warm-up minibatch).

    ``threads`` limits the BLAS threads (1: the one core the compiled program uses; None: all cores).
    """
    with threadpool_limits(limits=threads):
        net.train_batch(x[:batch_size], y[:batch_size])
        tic = time.perf_counter()
        for k in range(0, n_samples, batch_size):
            net.train_batch(x[k : k + batch_size], y[k : k + batch_size])
        return n_samples / (time.perf_counter() - tic)
