import pytest

from models.topology import Conv, Dense, TopologyError, dense_sizes, parse_topology


def test_authors_format():
    assert parse_topology("FC_500_FC_10") == (Dense(500), Dense(10))
    assert parse_topology("CONV_32_5_1_2_FC_1000_FC_10") == (Conv(32, 5, 1, 2), Dense(1000), Dense(10))
    assert dense_sizes("FC_200_FC_100_FC_10", 10) == [200, 100, 10]


@pytest.mark.parametrize("text", ["", "FC", "FC_", "FC_x_FC_10", "FC_0_FC_10", "CONV_32_5_FC_10", "FC_10_CONV_3_3_1_1"])
def test_invalid_strings_are_rejected(text):
    with pytest.raises(TopologyError, match="invalid topology"):
        parse_topology(text)
