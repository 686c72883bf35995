"""Topology strings in the authors' format, e.g. ``FC_500_FC_10``.

A topology is a sequence of layer tokens separated by ``_``:

* ``FC_{units}``: a fully connected layer of LIF neurons;
* ``CONV_{channels}_{kernel}_{stride}_{padding}``: a spiking convolution
  followed by 2x2 pooling (reserved for the convolution layers; parsed here
  so that the format is complete, rejected by the builder until they exist).

The last layer must be ``FC_{n_classes}``: it is the readout (eq. 6).
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

    def __str__(self) -> str:
        return f"CONV_{self.channels}_{self.kernel}_{self.stride}_{self.padding}"


LAYER_ARITY = {"FC": (Dense, 1), "CONV": (Conv, 4)}


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
                f"expected FC_<units> or CONV_<channels>_<kernel>_<stride>_<padding>, "
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
        if kind == "CONV" and (layer.channels < 1 or layer.kernel < 1 or layer.stride < 1):
            raise TopologyError(f"invalid topology {text!r}: CONV channels, kernel and stride must be >= 1")
        layers.append(layer)
        k += 1 + arity
    if not layers or not isinstance(layers[-1], Dense):
        raise TopologyError(f"invalid topology {text!r}: it must end with FC_<n_classes>")
    return tuple(layers)


def dense_sizes(text: str, n_classes: int) -> list[int]:
    """Layer sizes of a fully connected topology whose readout has ``n_classes`` units."""
    layers = parse_topology(text)
    if any(isinstance(layer, Conv) for layer in layers):
        raise TopologyError(f"topology {text!r}: convolution layers are not implemented yet; use FC layers only")
    if layers[-1].units != n_classes:
        raise TopologyError(
            f"topology {text!r}: the last layer has {layers[-1].units} units but the data have {n_classes} classes"
        )
    return [layer.units for layer in layers]
