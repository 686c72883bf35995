"""Reference readouts (analysis.readouts): Diehl & Cook's label assignment and logistic regression."""

import numpy as np

from analysis import readouts


def test_labels_follow_the_highest_mean_response():
    counts = np.array([[4, 0, 1, 0], [2, 0, 3, 0], [0, 5, 1, 0], [0, 3, 0, 0]], dtype=float)
    labels = np.array([0, 0, 1, 1])
    # neuron 0: means 3 / 0 -> class 0; neuron 1: 0 / 4 -> 1; neuron 2: 2 / 0.5 -> 0; neuron 3 silent
    assignment = readouts.assign_labels(counts, labels, n_classes=3)
    np.testing.assert_array_equal(assignment, [0, 1, 0, readouts.UNLABELLED])
    # class 0 averages neurons 0 and 2, class 1 neuron 1, class 2 has none
    samples = np.array([[1, 3, 1, 9], [4, 1, 0, 0], [0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(readouts.label_predictions(samples, assignment, 3), [1, 0, 0])


def tuned_counts(rng, labels, n_neurons=60, n_classes=5, informative=True):
    """Poisson counts of neurons that each prefer one class (rate 4 against 1), or of untuned neurons."""
    preferred = np.arange(n_neurons) % n_classes
    rates = (
        np.where(preferred[None, :] == labels[:, None], 4.0, 1.0)
        if informative
        else np.full((len(labels), n_neurons), 2.0)
    )
    return rng.poisson(rates).astype(float)


def test_readouts_find_class_tuned_features_and_not_untuned_ones():
    rng = np.random.default_rng(0)
    train_y, test_y = rng.integers(0, 5, 500), rng.integers(0, 5, 500)
    for informative, low, high in ((True, 0.9, 1.0), (False, 0.0, 0.3)):
        train = tuned_counts(rng, train_y, informative=informative)
        test = tuned_counts(rng, test_y, informative=informative)
        table = readouts.readout_table(train, train_y, test, test_y, n_classes=5).set_index("readout")
        assert list(table.index) == list(readouts.READOUTS)
        for name, accuracy in table["accuracy"].items():
            assert low <= accuracy <= high, (informative, name, accuracy)
