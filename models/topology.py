"""Topology strings in the authors' format, e.g. ``FC_500_FC_10``.

A topology is a sequence of layer tokens separated by ``_``:

* ``FC_{units}``: a fully connected layer of LIF neurons;
* ``CONV_{channels}_{kernel}_{stride}_{padding}``: a spiking 2-D convolution
  (square kernel) followed by 2x2 pooling;
* ``CONV1D_{channels}_{kernel}_{stride}_{padding}``: a spiking 1-D convolution
  over a sequence (input channels x length) followed by pooling of 2.

Convolutions come first, then FC layers; the last layer must be
``FC_{n_classes}``: it is the readout (eq. 6).
"""

from __future__ import annotations

from dataclasses import dataclass


class TopologyError(ValueError):
    """An invalid topology string."""


@dataclass(frozen=True)
class Dense:
    units: int

    def __str__(self) -> str:
        return f"FC_{self.units}"


@dataclass(frozen=True)
class Conv:
    channels: int
    kernel: int
    stride: int
    padding: int
    dims: int = 2  # 2: square kernel over (H, W); 1: kernel over the length of a sequence

    def __str__(self) -> str:
        prefix = "CONV" if self.dims == 2 else "CONV1D"
        return f"{prefix}_{self.channels}_{self.kernel}_{self.stride}_{self.padding}"


def _conv1d(channels, kernel, stride, padding) -> Conv:
    return Conv(channels, kernel, stride, padding, dims=1)


LAYER_ARITY = {"FC": (Dense, 1), "CONV": (Conv, 4), "CONV1D": (_conv1d, 4)}


def parse_topology(text: str) -> tuple[Dense | Conv, ...]:
    """Parse ``text`` into layer specifications; raise :class:`TopologyError` if malformed."""
    tokens = text.strip().split("_")
    layers: list[Dense | Conv] = []
    k = 0
    while k < len(tokens):
        kind = tokens[k].upper()
        if kind not in LAYER_ARITY:
            raise TopologyError(
                f"invalid topology {text!r}: unknown layer {tokens[k]!r} at position {k}; "
                f"expected FC_<units>, CONV_<channels>_<kernel>_<stride>_<padding> or CONV1D_..., "
                f"e.g. FC_500_FC_10"
            )
        cls, arity = LAYER_ARITY[kind]
        args = tokens[k + 1 : k + 1 + arity]
        if len(args) != arity or not all(a.isdigit() for a in args):
            raise TopologyError(
                f"invalid topology {text!r}: {kind} at position {k} needs {arity} non-negative integer(s), got {args}"
            )
        values = [int(a) for a in args]
        layer = cls(*values)
        if kind == "FC" and layer.units < 1:
            raise TopologyError(f"invalid topology {text!r}: FC layers need at least one unit")
        if kind.startswith("CONV") and (layer.channels < 1 or layer.kernel < 1 or layer.stride < 1):
            raise TopologyError(f"invalid topology {text!r}: CONV channels, kernel and stride must be >= 1")
        if isinstance(layer, Conv) and any(isinstance(previous, Dense) for previous in layers):
            raise TopologyError(f"invalid topology {text!r}: convolutions must come before the FC layers")
        layers.append(layer)
        k += 1 + arity
    if not layers or not isinstance(layers[-1], Dense):
        raise TopologyError(f"invalid topology {text!r}: it must end with FC_<n_classes>")
    return tuple(layers)


def split_topology(text: str, n_classes: int) -> tuple[tuple[Conv, ...], tuple[int, ...]]:
    """The convolutions and the FC sizes of ``text``, whose readout must have ``n_classes`` units."""
    layers = parse_topology(text)
    if layers[-1].units != n_classes:
        raise TopologyError(
            f"topology {text!r}: the last layer has {layers[-1].units} units but the data have {n_classes} classes"
        )
    convs = tuple(layer for layer in layers if isinstance(layer, Conv))
    return convs, tuple(layer.units for layer in layers if isinstance(layer, Dense))
