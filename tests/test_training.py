"""A run's randomness and its minibatch boundaries (models.training)."""

import numpy as np
import pytest

from models.network import NetworkSpec
from models.training import Trainer, feedback_matrices, initial_state, run_seed, sample_slots


def small_problem(n_train=5, n_test=2, batch_size=2):
    """Intensities away from 0 and 1, so that every input spike is a random draw of eq. 3."""
    rng = np.random.default_rng(0)
    n = n_train + n_test
    x, y = rng.uniform(0.2, 0.8, size=(n, 12)), rng.integers(0, 3, n)
    spec = NetworkSpec(n_inputs=12, sizes=(6, 3), n_rows=n, n_slots=n, T=5, batch_size=batch_size)
    return spec, x, y, feedback_matrices(spec, rng), initial_state(spec, rng), np.arange(n_train), np.arange(n_train, n)


def test_run_seeds_differ_per_seed_and_epoch():
    seeds = {run_seed(seed, epoch) for seed in range(4) for epoch in range(4)}
    assert len(seeds) == 16 and all(0 <= s < 2**31 for s in seeds)
    with pytest.raises(ValueError, match="seed"):
        run_seed(-3, 0)


def test_each_epoch_draws_new_noise_and_both_devices_draw_the_same(build_cache):
    """The compiled program is seeded per run (not once at compile time): epoch 1 draws other input spikes than
    epoch 0, epoch 0 again draws the same, and the runtime device draws exactly what the compiled program draws."""
    spec, x, y, feedback, state, train, test = small_problem()
    results = {}
    for device in ("runtime", "cpp_standalone"):
        trainer = Trainer(spec, x, y, feedback, device=device, seed=3, cache_dir=build_cache)
        results[device] = [trainer.run(state, train, test, 1e-2, epoch=epoch) for epoch in (0, 1, 0)]
    for device, ((first, _), (second, _), (again, _)) in results.items():
        inputs = [run.activity["spikes"][0] for run in (first, second, again)]  # input spikes of each sample
        assert not np.array_equal(inputs[0], inputs[1]), f"{device}: epoch 1 replayed epoch 0's noise"
        np.testing.assert_array_equal(inputs[0], inputs[2], err_msg=f"{device}: the same epoch drew other noise")
    for (runtime, runtime_state), (compiled, compiled_state) in zip(results["runtime"], results["cpp_standalone"]):
        np.testing.assert_array_equal(runtime.activity["spikes"], compiled.activity["spikes"])
        for key in runtime_state:
            np.testing.assert_allclose(compiled_state[key], runtime_state[key], rtol=0, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("device", ["runtime", "cpp_standalone"])
def test_a_run_reports_its_progress_up_to_the_end(build_cache, device):
    """The compiled program's report (read from its output while it runs) and the runtime's reach the caller."""
    spec, x, y, feedback, state, train, test = small_problem()
    trainer = Trainer(spec, x, y, feedback, device=device, seed=0, cache_dir=build_cache)
    fractions = []
    trainer.run(state, train, test, 1e-2, progress=fractions.append)
    assert fractions and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and 0.0 <= fractions[0]


def test_test_samples_start_after_the_last_minibatch_boundary():
    assert list(sample_slots(5, 2, 2)) == [0, 1, 2, 3, 4, 6, 7]
    assert list(sample_slots(4, 2, 2)) == [0, 1, 2, 3, 4, 5]
    assert list(sample_slots(0, 3, 50)) == [0, 1, 2]


def test_last_partial_minibatch_is_applied_before_the_test_pass():
    """5 training samples in minibatches of 2: the last update (one sample) must come before the first test
    sample. Then the test pass sees the final weights: rerunning it on them without learning, with the same
    noise (same seed and epoch), gives the same spikes in every layer."""
    spec, x, y, feedback, state, train, test = small_problem(n_train=5, n_test=2, batch_size=2)
    trainer = Trainer(spec, x, y, feedback, device="runtime", seed=1)
    learned, final = trainer.run(state, train, test, 0.05, epoch=0)
    assert final["optimizer_steps"][0] == 3  # batches of 2, 2 and 1
    assert not np.allclose(final["hidden1_output.w"], state["hidden1_output.w"])
    replay, _ = trainer.run(final, train, test, 0.0, epoch=0)
    n_train = len(train)
    np.testing.assert_array_equal(learned.activity["spikes"][:, n_train:], replay.activity["spikes"][:, n_train:])
    np.testing.assert_array_equal(learned.predictions[n_train:], replay.predictions[n_train:])
