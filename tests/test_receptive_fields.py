"""Fixed random local receptive fields of rstdp's first hidden layer (``--receptive-field``)."""

import numpy as np
import pytest

from models import rules
from models.network import NetworkSpec
from models.topology import Conv
from models.training import initial_state

IMAGE, SIDE, HIDDEN = (2, 6, 7), 3, 400


def spec_with(**changes) -> NetworkSpec:
    settings = dict(
        n_inputs=int(np.prod(IMAGE)), sizes=(HIDDEN, 10), n_rows=1, n_slots=1, rule="rstdp", input_shape=IMAGE,
        receptive_field=SIDE,
    )  # fmt: skip
    return NetworkSpec(**settings | changes)


def test_each_neuron_sees_one_patch_of_every_channel():
    """Every neuron's weights are non-zero on one SIDE x SIDE patch, the same in both channels, and drawn from the
    rule's range for the patch's fan-in; the patches reach every pixel, corners included (no position is left out),
    and the decision layer is drawn as without receptive fields."""
    rng = np.random.default_rng(0)
    w = initial_state(spec_with(), rng)["input_hidden1.w"].reshape(*IMAGE, HIDDEN)
    seen = w != 0
    assert np.all(seen.sum(axis=(0, 1, 2)) == IMAGE[0] * SIDE**2)
    assert np.array_equal(seen[0], seen[1]), "a patch covers all channels"
    for k in range(HIDDEN):
        rows, cols = np.nonzero(seen[0, :, :, k])
        assert np.ptp(rows) == SIDE - 1 and np.ptp(cols) == SIDE - 1, f"neuron {k}'s field is not one patch"
    assert seen.any(axis=3).all(), "some pixel is in no neuron's field"
    bound = 1 / np.sqrt(IMAGE[0] * SIDE**2)
    low, high = rules.get("rstdp").weight_range(bound)
    assert low <= w.min() < 0.9 * low and 0.9 * high < w.max() <= high
    whole = initial_state(spec_with(receptive_field=0, input_shape=()), np.random.default_rng(0))
    assert np.count_nonzero(whole["input_hidden1.w"]) == w.size, "without receptive fields every weight is drawn"


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"input_shape": ()}, "need image inputs"),
        ({"receptive_field": 7}, "between 1 and the image's (6, 7), got 7"),
        ({"rule": "brp"}, "rule 'brp' trains the first hidden layer"),
        ({"winners": 5}, "rule 'rstdp' trains the first hidden layer"),
        ({"rule": "brp", "convs": (Conv(4, 3, 1, 1),)}, "no convolution"),
    ],
)
def test_receptive_fields_need_fixed_weights_on_images(changes, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        spec_with(**changes)
