"""CIFAR-10 loader: the official python-pickle batches, written small here, and malformed ones."""

import pickle

import numpy as np
import pytest

from protocols.datasets import DataError
from protocols.datasets.cifar import load_cifar10


def write_batch(path, n, rng, labels=None, data=None):
    batch = {
        b"batch_label": b"testing batch",
        b"labels": list(rng.integers(0, 10, n)) if labels is None else labels,
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8) if data is None else data,
        b"filenames": [f"img{k}.png".encode() for k in range(n)],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    return batch


def test_present_batches_are_read_channel_major(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    first = write_batch(folder / "data_batch_1", 4, rng)
    third = write_batch(folder / "data_batch_3", 3, rng)
    test = write_batch(folder / "test_batch", 2, rng)
    messages = []
    dataset = load_cifar10(tmp_path, log=messages.append)
    assert "data_batch_1, data_batch_3" in messages[0]
    assert dataset.input_shape == (3, 32, 32)
    assert dataset.train_x.shape == (7, 3072) and dataset.test_x.shape == (2, 3072)
    np.testing.assert_array_equal(dataset.train_y, first[b"labels"] + third[b"labels"])
    np.testing.assert_array_equal(dataset.test_y, test[b"labels"])
    # pixel (channel 1 = green, row 2, column 5) of the first image
    assert dataset.train_x[0].reshape(3, 32, 32)[1, 2, 5] == first[b"data"][0, 1024 + 2 * 32 + 5] / 255.0


def test_missing_and_malformed_batches_are_reported(tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(DataError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    write_batch(tmp_path / "test_batch", 2, rng)
    with pytest.raises(DataError, match="at least one of data_batch_1"):
        load_cifar10(tmp_path)
    write_batch(tmp_path / "data_batch_1", 2, rng, data=np.zeros((2, 100), dtype=np.uint8))
    with pytest.raises(DataError, match="expected N x 3072 uint8"):
        load_cifar10(tmp_path)
    write_batch(tmp_path / "data_batch_1", 2, rng, labels=[3, 12])
    with pytest.raises(DataError, match="labels in 0-9"):
        load_cifar10(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read CIFAR-10 batch"):
        load_cifar10(tmp_path)


@pytest.mark.standalone
def test_cifar10_protocol_trains_a_conv_net_on_colour_channels(tmp_path, build_cache):
    from protocols import cifar10

    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    write_batch(folder / "data_batch_1", 20, rng)
    write_batch(folder / "test_batch", 10, rng)
    args = ["--data-dir", str(folder), "--results-dir", str(tmp_path / "r"), "--cache-dir", str(build_cache)]
    assert cifar10.main([*args, "--epochs", "1", "--topology", "CONV_2_5_2_2_FC_10", "--quiet"]) == 0
    (run,) = (tmp_path / "r" / "cifar10").iterdir()
    layers = (run / "layers.csv").read_text().splitlines()
    assert layers[1].startswith("input,input,3072,") and layers[2].startswith("conv1,conv,512,")
    with np.load(run / "checkpoint.npz") as checkpoint:
        assert checkpoint["state/conv1_kernel.w"].shape == (2 * 3 * 5 * 5,)
