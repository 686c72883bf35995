"""Queue-free propagation (models/propagation) against Brian2's own path: the same arrays, bit for bit.

Every test builds the same network twice as a compiled program, with the queue-free code objects
('auto') and with Brian2's ('generic'), under the same seed, and requires every array to be identical.
"""

import brian2
import numpy as np
import pytest
from brian2 import Network, NeuronGroup, Synapses, ms
from sklearn.datasets import load_digits

from models import propagation
from models.network import NetworkSpec
from models.topology import Conv
from models.training import Trainer, feedback_matrices, initial_state
from tests.standalone import assert_identical, compiled_run, state_arrays


def test_overridden_templates_are_those_of_the_pinned_brian2():
    """The overrides repeat Brian2's templates in their 'queue' branch: a new Brian2 needs a new review."""
    assert brian2.__version__ == "2.10.1", "models/propagation/templates were written against brian2 2.10.1"
    assert propagation.upstream_digests() == propagation.UPSTREAM_DIGESTS


def test_unknown_propagation_is_refused():
    with pytest.raises(ValueError, match="unknown propagation"):
        NetworkSpec(n_inputs=4, sizes=(3,), n_rows=1, n_slots=1, propagation="fast")


# name -> the mode the compiled program must choose for its pathway
EXPECTED_MODES = {
    "dense_pre": "dense",  # all-to-all, pre-major
    "subgroups_pre": "dense",  # all-to-all between subgroups (offsets)
    "column_pre": "dense",
    "column_post": "dense",  # a postsynaptic pathway: each post spike visits a strided column
    "sparse_pre": "direct",  # random connectivity
    "post_major_pre": "direct",  # all-to-all, but created post-major: not rows
    "delayed_pre": "queue",  # delays need Brian2's queue
}


def control_network():
    """Sources and targets that spike at random, and pathways of every kind of structure."""
    source = NeuronGroup(9, "x : 1", threshold="rand() < 0.4", name="source")
    source.x = "rand()"
    target = NeuronGroup(6, "I : 1\nJ : 1\nK : 1\nL : 1\nM : 1\nN_in : 1", threshold="rand() < 0.3", name="target")
    pathways = {
        "dense": Synapses(source, target, "w : 1", on_pre="I_post += w * (i + 1)", name="dense"),
        "subgroups": Synapses(source[2:7], target[1:5], "w : 1", on_pre="J_post += w * x_pre", name="subgroups"),
        "column": Synapses(
            source, target, "w : 1\nc : 1", on_pre="M_post += w", on_post="c += w * x_pre", name="column"
        ),
        "sparse": Synapses(source, target, "w : 1", on_pre="K_post += w", name="sparse"),
        "post_major": Synapses(source, target, "w : 1", on_pre="N_in_post += w * j", name="post_major"),
        "delayed": Synapses(source, target, "w : 1", on_pre="L_post += w", delay=2 * ms, name="delayed"),
    }
    for name, synapses in pathways.items():
        if name == "sparse":
            synapses.connect(p=0.5)
        elif name == "post_major":
            j, i = np.meshgrid(np.arange(6), np.arange(9), indexing="ij")
            synapses.connect(i=i.ravel(), j=j.ravel())
        else:
            synapses.connect()
        synapses.w = "rand() - 0.3"
    objects = [source, target, *pathways.values()]
    return objects


@pytest.mark.standalone
def test_every_structure_takes_its_path_and_gives_brians_arrays(build_cache):
    runs = {}
    for mode in propagation.PROPAGATIONS:

        def make_network(mode=mode):
            objects = control_network()
            assert propagation.attach(objects, mode) == (len(EXPECTED_MODES) if mode == "auto" else 0)
            return Network(*objects), 30 * ms

        _, arrays, modes = compiled_run(make_network, f"control|{mode}", build_cache, seed=3)
        runs[mode] = arrays, modes
    assert runs["auto"][1] == EXPECTED_MODES
    assert runs["generic"][1] == {}, "Brian2's code objects write no mode"
    arrays = runs["auto"][0]
    for variable in ("I", "J", "K", "L", "M", "N_in"):
        assert np.any(arrays[f"target.{variable}"] != 0), f"pathway into target.{variable} delivered nothing"
    assert np.any(arrays["column.c"] != 0), "the postsynaptic pathway did nothing"
    assert_identical(runs["auto"][0], runs["generic"][0], "queue-free against Brian2's path")


DIGITS = load_digits()
# bp, brp-stdp, conv with stride 2 and max pooling, and LIF pooling run compiled with both paths in the numpy-reference
# tests (tests/test_brp_rule.py, test_stdp.py, test_conv.py); here the rest, with every array compared
CASES = {
    "brp-conv-avg": dict(rule="brp", sizes=(16, 10), input_shape=(1, 8, 8), convs=(Conv(4, 3, 1, 1),)),
    "rstdp": dict(rule="rstdp", sizes=(20, 10)),
}


@pytest.mark.standalone
@pytest.mark.parametrize("case", CASES)
def test_training_is_bit_identical_to_brians_path(case, build_cache):
    """One epoch (train and test) of each rule, FC and conv: checkpoint, readout, recordings, every array."""
    n = 120
    data, labels = DIGITS.data[:n] / 16.0, DIGITS.target[:n]
    runs = {}
    for mode in propagation.PROPAGATIONS:
        spec = NetworkSpec(n_inputs=64, n_rows=n, n_slots=n, T=8, batch_size=10, propagation=mode, **CASES[case])
        rng = np.random.default_rng(1)
        trainer = Trainer(spec, data, labels, feedback_matrices(spec, rng), seed=2, cache_dir=build_cache)
        result, state = trainer.run(initial_state(spec, rng), np.arange(100), np.arange(100, n), 1e-2)
        recorded = {"predictions": result.predictions, **result.activity}
        recorded.update({f"{t[0]}.trace.{k}": a for t in result.traces for k, a in enumerate(t[1:])})
        modes = propagation.chosen_modes(trainer.build_directory / "results")
        runs[mode] = state, recorded, state_arrays(trainer.net), modes
    auto, generic = runs["auto"], runs["generic"]
    forward = [s.name for s in spec.stages]
    expected = {
        f"{pre}_{post}_pre": "direct" if post.startswith(("conv", "pool")) else "dense"
        for pre, post in zip(forward, forward[1:])
    }
    assert {k: v for k, v in auto[3].items() if k in expected} == expected
    assert generic[3] == {}
    assert np.sum(auto[1]["spikes"]) > 0
    assert_identical(auto[0], generic[0], f"{case}: checkpoint")
    assert_identical(auto[1], generic[1], f"{case}: readout and recordings")
    assert_identical(auto[2], generic[2], f"{case}: every array")
