import numpy as np
import pytest

from models.layers import conv_connectivity, plan_stages, pool_connectivity
from models.topology import Conv, Dense, TopologyError, parse_topology, split_topology


def test_authors_format():
    assert parse_topology("FC_500_FC_10") == (Dense(500), Dense(10))
    assert parse_topology("CONV_32_5_1_2_FC_1000_FC_10") == (Conv(32, 5, 1, 2), Dense(1000), Dense(10))
    assert parse_topology("CONV1D_16_3_1_1_FC_10") == (Conv(16, 3, 1, 1, dims=1), Dense(10))
    assert str(Conv(16, 3, 1, 1, dims=1)) == "CONV1D_16_3_1_1"
    assert split_topology("FC_200_FC_100_FC_10", 10) == ((), (200, 100, 10))
    assert split_topology("CONV_8_3_1_1_CONV_4_3_1_1_FC_10", 10) == ((Conv(8, 3, 1, 1), Conv(4, 3, 1, 1)), (10,))


@pytest.mark.parametrize(
    "text", ["", "FC", "FC_", "FC_x_FC_10", "FC_0_FC_10", "CONV_32_5_FC_10", "FC_10_CONV_3_3_1_1", "CONV_0_3_1_1_FC_10"]
)
def test_invalid_strings_are_rejected(text):
    with pytest.raises(TopologyError, match="invalid topology"):
        parse_topology(text)


def test_readout_must_match_the_classes():
    with pytest.raises(TopologyError, match="3 classes"):
        split_topology("FC_20_FC_10", 3)


def test_stage_shapes_of_the_authors_mnist_net():
    stages = plan_stages((1, 28, 28), (Conv(32, 5, 1, 2),), (1000, 10))
    assert [(s.name, s.kind, s.shape) for s in stages] == [
        ("input", "input", (1, 28, 28)),
        ("conv1", "conv", (32, 28, 28)),
        ("pool1", "pool", (32, 14, 14)),
        ("hidden1", "dense", (1000,)),
        ("output", "output", (10,)),
    ]
    sequence = plan_stages((30, 40), (Conv(8, 3, 2, 0, dims=1),), (10,))
    assert [s.shape for s in sequence[1:3]] == [(8, 1, 19), (8, 1, 9)]


@pytest.mark.parametrize(
    "shape, convs, message",
    [
        ((1, 8, 8), (Conv(4, 9, 1, 0),), "does not fit"),
        ((784,), (Conv(4, 3, 1, 1),), "need inputs with a shape"),
        ((3, 20), (Conv(4, 3, 1, 1),), "use CONV1D"),
        ((1, 8, 8), (Conv(4, 3, 1, 1, dims=1),), "use CONV_"),
    ],
)
def test_convolutions_that_do_not_fit_are_rejected(shape, convs, message):
    with pytest.raises(TopologyError, match=message):
        plan_stages(shape, convs, (10,))


def test_conv_connectivity_is_a_correlation_with_zero_padding():
    """Summing input values through the synapses equals scipy-free direct loops over the kernel."""
    rng = np.random.default_rng(0)
    conv = Conv(3, 3, 2, 1)
    x = rng.normal(size=(2, 7, 6))
    kernel = rng.normal(size=(3, 2, 3, 3))
    pre, post, element = conv_connectivity(x.shape, conv)
    got = np.zeros(3 * 4 * 3)
    np.add.at(got, post, x.ravel()[pre] * kernel.ravel()[element])
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    expected = np.zeros((3, 4, 3))
    for o in range(3):
        for y in range(4):
            for z in range(3):
                expected[o, y, z] = np.sum(padded[:, 2 * y : 2 * y + 3, 2 * z : 2 * z + 3] * kernel[o])
    np.testing.assert_allclose(got, expected.ravel(), atol=1e-12)


def test_pooling_windows_drop_the_remainder():
    pre, post = pool_connectivity((1, 5, 4), (2, 2))
    assert len(pre) == 16  # the fifth row has no pooling unit
    assert sorted(pre[post == 0]) == [0, 1, 4, 5]
    assert sorted(pre[post == 3]) == [10, 11, 14, 15]
