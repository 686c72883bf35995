"""Reference readouts (analysis.readouts): Diehl & Cook's label assignment and logistic regression."""

import numpy as np
import pandas as pd

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


def test_comparison_shows_each_rules_reference_readouts_at_the_last_epoch(tmp_path):
    from analysis.compare import final_summary, markdown, reference_accuracies

    runs = []
    for name, logistic in (("a", 0.9), ("b", 0.8)):
        run = tmp_path / name
        run.mkdir()
        rows = [
            (1, "rstdp", 0.2),
            (1, "logistic", 0.1),
            (2, "rstdp", 0.5),
            (2, "labels", 0.6),
            (2, "logistic", logistic),
        ]
        pd.DataFrame(rows, columns=["epoch", "readout", "accuracy"]).to_csv(run / "readouts.csv", index=False)
        runs.append(run)
    runs.append(tmp_path / "c")  # a run without readouts.csv
    references = reference_accuracies(runs)
    assert references.set_index("run").to_dict("index") == {
        "a": {"labels": 0.6, "logistic": 0.9},
        "b": {"labels": 0.6, "logistic": 0.8},
    }
    table = pd.DataFrame(
        {
            "run": ["a", "b", "c"],
            "rule": ["rstdp", "rstdp", "brp"],
            "seed": [0, 1, 0],
            "epoch": [2, 2, 2],
            "split": "test",
            "accuracy": [0.5, 0.5, 0.9],
            "hidden_rate": 0.25,
            "synaptic_events_per_sample": 1000.0,
            "seconds": 1.0,
        }
    )
    summary = markdown(final_summary(table, references))
    assert "| rule | test accuracy (%) | Diehl & Cook labels (%) | logistic regression (%) | hidden rate" in summary
    assert "| rstdp | 50.0 ± 0.0 | 60.0 | 85.0 | 0.250 | 1000 | 2 | 2 |" in summary
    assert "| brp | 90.0 |  |  | 0.250 | 1000 | 2 | 1 |" in summary
    assert "logistic" not in markdown(final_summary(table))
