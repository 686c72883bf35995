"""Reference readouts on a network's hidden spike counts: what its features allow a readout to reach.

A learning rule's own readout (the output layer it trains) is judged against two readouts fitted on the
same features, the spike counts of the last hidden stage per sample and neuron
(:attr:`models.training.RunResult.features`):

* **labels** (Diehl & Cook 2015, the assignment of their ``Diehl_Cook_2015`` script): each neuron is
  labelled with the class whose training samples made it fire most on average (a neuron that never fired
  stays unlabelled); a sample gets the class whose labelled neurons fired most on average.
* **logistic**: multinomial logistic regression (scikit-learn, L2, C = 1) on the counts scaled to zero
  mean and unit variance on the training samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

READOUTS = ("labels", "logistic")
UNLABELLED = -1


def assign_labels(counts: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Each neuron's class: the one with the highest mean count over its samples (``UNLABELLED`` if silent).

    ``counts`` is (samples, neurons), ``labels`` (samples,).
    """
    means = np.zeros((n_classes, counts.shape[1]))
    for c in range(n_classes):
        members = labels == c
        if members.any():
            means[c] = counts[members].mean(axis=0)
    assignment = np.argmax(means, axis=0)
    assignment[means.max(axis=0) <= 0] = UNLABELLED
    return assignment


def label_predictions(counts: np.ndarray, assignment: np.ndarray, n_classes: int) -> np.ndarray:
    """Per sample, the class whose labelled neurons have the highest mean count (the lowest class on ties)."""
    votes = np.zeros((len(counts), n_classes))
    for c in range(n_classes):
        members = assignment == c
        if members.any():
            votes[:, c] = counts[:, members].mean(axis=1)
    return np.argmax(votes, axis=1)


def logistic_predictions(train_counts, train_labels, test_counts, seed: int = 0) -> np.ndarray:
    """Classes that a logistic regression fitted on the training counts gives the test counts."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    model.fit(train_counts, train_labels)
    return model.predict(test_counts)


def readout_table(train_counts, train_labels, test_counts, test_labels, n_classes: int) -> pd.DataFrame:
    """Test accuracy of each reference readout fitted on the training counts: columns readout, accuracy."""
    assignment = assign_labels(train_counts, train_labels, n_classes)
    predictions = {
        "labels": label_predictions(test_counts, assignment, n_classes),
        "logistic": logistic_predictions(train_counts, train_labels, test_counts),
    }
    return pd.DataFrame(
        {"readout": name, "accuracy": float(np.mean(predictions[name] == test_labels))} for name in READOUTS
    )
