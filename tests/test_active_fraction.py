"""The label signal's B^l as a sparse code (``--active-fraction``, ``--active-rate``,
:func:`models.training.sparse_feedback`)."""

import numpy as np
import pytest

from models import reward
from models.network import NetworkSpec
from models.training import feedback_matrices

SIZES, Q = (2000, 10), 0.1


def spec_with(**changes) -> NetworkSpec:
    settings = dict(n_inputs=20, sizes=SIZES, n_rows=1, n_slots=1, signal="label", active_fraction=Q)
    return NetworkSpec(**settings | changes)


def test_a_fraction_of_the_neurons_is_driven_up_per_class_and_no_neuron_on_average():
    """Entries -b (drive up) with frequency q per class, b q / (1 - q) otherwise, so that a neuron's push summed
    over classes is zero on average; the -b entries are the lowest of the zero-mean draw of the same seed."""
    sparse = feedback_matrices(spec_with(), np.random.default_rng(3))["hidden1"]
    dense = feedback_matrices(spec_with(active_fraction=0.0), np.random.default_rng(3))["hidden1"]
    b = reward.kaiming_bound(SIZES[0])
    up = sparse == -b
    assert np.all(up | np.isclose(sparse, b * Q / (1 - Q)))
    assert np.all(np.abs(up.mean(axis=1) - Q) < 0.03), up.mean(axis=1)
    assert abs(sparse.sum(axis=0).mean()) < 0.1 * b, "each neuron's push over the classes should average zero"
    assert dense[up].max() < dense[~up].min(), "the driven-up entries are the lowest of the zero-mean draw"


def test_in_the_paper_form_the_code_is_a_target_rate_of_one_spike_per_step_for_the_same_neurons():
    """--form paper reads B^l TP as the target of h - B^l TP: the driven neurons target a spike at every step, the
    others -q / (1 - q), below any rate, so that a neuron's target summed over the classes is zero on average;
    the driven neurons are those of the code form from the same draw."""
    paper = feedback_matrices(spec_with(form="paper"), np.random.default_rng(3))["hidden1"]
    code = feedback_matrices(spec_with(), np.random.default_rng(3))["hidden1"]
    up = paper == 1.0
    np.testing.assert_array_equal(up, code == -reward.kaiming_bound(SIZES[0]))
    assert np.all(up | np.isclose(paper, -Q / (1 - Q)))
    assert abs(paper.sum(axis=0).mean()) < 0.1, "each neuron's target over the classes should average zero"


@pytest.mark.parametrize("rate", [0.6, 1.0])
def test_an_active_rate_is_the_driven_neurons_target_and_the_others_one_spike_per_step_below(rate):
    """With an active rate rho the paper form's code is rho for the driven neurons and rho - 1 for the others
    (a target the rate cannot reach, so they are pushed down whenever they fire); same neurons as the code form."""
    paper = feedback_matrices(spec_with(form="paper", active_rate=rate), np.random.default_rng(3))["hidden1"]
    code = feedback_matrices(spec_with(), np.random.default_rng(3))["hidden1"]
    up = code == -reward.kaiming_bound(SIZES[0])
    np.testing.assert_array_equal(paper, np.where(up, rate, rate - 1.0))


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"active_rate": 0.6}, "form 'code'"),
        ({"form": "paper", "active_rate": 1.5}, r"lies in \[0, 1\]; got 1.5"),
        ({"form": "paper", "active_rate": 0.6, "active_fraction": 0.0}, "active fraction 0.0"),
    ],
)
def test_an_active_rate_needs_the_paper_forms_sparse_code(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        spec_with(**changes)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"active_fraction": 0.5}, r"in \[0, 0.5\)"),
        ({"signal": "error"}, "the signal is 'error'"),
        ({"rule": "bp"}, "rule 'bp'"),
        ({"rule": "rstdp"}, "rule 'rstdp'"),
    ],
)
def test_an_active_fraction_needs_the_label_signal_into_hidden_layers(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        spec_with(**changes)
