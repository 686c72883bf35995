"""The per-step and per-sample order of every operation, for every rule (models.layers' order constants),
read from Brian2's own schedule; and the command that prints it."""

from fnmatch import fnmatchcase

import pytest

from models.layers import Stage
from protocols import schedule


def built(*argv):
    spec = schedule.network_spec(schedule.parser().parse_args(list(argv)))
    return spec, schedule.build(spec)


def assert_before(order: list[str], *names: str) -> None:
    """Each of ``names`` (an object's name, or a pattern with '*' for all objects it matches) runs before the next."""

    def positions(name):
        found = [k for k, obj in enumerate(order) if fnmatchcase(obj, name)]
        assert found, f"{name} is not in the schedule"
        return found

    for first, then in zip(names, names[1:]):
        assert max(positions(first)) < min(positions(then)), f"{first} must run before {then}"


def check_steps(order: list[str], stages: list[Stage]) -> None:
    """Within a step, stage by stage: membrane, input and pseudo-gradient, threshold, reset, then the spikes
    reach the next stage in the same step."""
    for stage, above in zip(stages, stages[1:]):
        spikes = "_pooled_" if stage.kind == "pool" and f"{stage.name}_pooled_thresholder" in order else "_spike_"
        assert_before(
            order,
            f"{stage.name}{spikes}thresholder",
            *([f"{stage.name}_spike_resetter"] if spikes == "_spike_" else []),
            f"{stage.name}_{above.name}_pre",
            f"{above.name}_stateupdater",
        )
        if above.kind != "pool" or f"{above.name}_integrate" in order:
            assert_before(
                order, f"{above.name}_stateupdater", f"{above.name}_integrate", f"{above.name}_spike_thresholder"
            )


def check_sample_end(order: list[str], trained: list[str], *, feedback: str, extra=()) -> None:
    """At a sample's end: readout, output rates, reward signal, (decision), feedback, local errors from the
    output down, statistics, gradients, minibatch update, reset."""
    deltas = [f"{name}_delta" for name in reversed(trained)]
    assert_before(order, "readout", "output_reward_summed_variable_y_post", "reward_signal", *extra, feedback, *deltas)
    assert_before(order, deltas[-1], "*_statistics", "activity_monitor", "*_sample_end_thresholder")
    assert_before(order, "*_sample_end_thresholder", "*_sample_end", "*_apply", "*_reset")


@pytest.mark.parametrize(
    "rule, extra, feedback",
    [
        ("brp", (), "feedback_*_summed_variable_fb_post"),
        ("brp-stdp", (), "feedback_*_summed_variable_fb_post"),
        ("bp", (), "feedback_output_summed_variable_fb_post"),
        (
            "rstdp",
            ("decision_rivals_summed_*", "decision_winner", "decision_outcome_summed_*", "decision_reward"),
            "dopamine_output_summed_variable_da_post",
        ),
    ],
)
def test_every_rule_keeps_the_per_step_and_sample_end_order(rule, extra, feedback):
    spec, network = built("--topology", "FC_6_FC_5_FC_3", "--input-shape", "8", "--rule", rule)
    order = [obj.name for obj in network.sorted_objects]
    check_steps(order, spec.stages)
    trained = ["output"] if rule == "rstdp" else ["hidden1", "hidden2", "output"]
    check_sample_end(order, trained, feedback=feedback, extra=extra)
    if rule == "bp":  # the errors of the layer above flow back into each hidden layer before its own error
        assert_before(order, "output_delta", "hidden2_output_summed_variable_bp_pre", "hidden2_delta")
        assert_before(order, "hidden2_delta", "hidden1_hidden2_summed_variable_bp_pre", "hidden1_delta")
    if rule in ("rstdp", "brp-stdp"):  # STDP pairs a postsynaptic spike after the threshold of its step
        post = "hidden2_output_post" if rule == "rstdp" else "input_hidden1_post"
        layer = "output" if rule == "rstdp" else "hidden1"
        assert_before(order, f"{layer}_spike_resetter", post)
    if rule == "rstdp":  # winner-take-all: outputs inhibit each other after they spiked
        assert_before(order, "output_spike_resetter", "output_inhibition_pre")
        # the eligibility's norm before the update, the weights' sums after it, then the normalisation
        sums = "hidden2_output_summed_variable"
        steps = [f"{sums}_c_norm2_post", "hidden2_output_sample_end", "hidden2_output_apply", f"{sums}_w_mean_post"]
        assert_before(order, *steps, "hidden2_output_normalise", "output_reset")


def test_orthogonal_readout_sums_the_hidden_counts_after_their_statistics():
    """rstdp --orthogonal-readout: the hidden layer's training counts take this sample before the decision synapses
    sum them with the updated weights, and the normalisation reads those sums."""
    spec, network = built("--topology", "FC_6_FC_3", "--input-shape", "8", "--rule", "rstdp", "--orthogonal-readout")
    order = [obj.name for obj in network.sorted_objects]
    sums = [f"hidden1_output_summed_variable_{name}_post" for name in ("w_dot_m", "m_sum", "m_norm2")]
    for name in sums:
        assert_before(order, "hidden1_statistics", "hidden1_output_apply", name, "hidden1_output_normalise")
    plain = [obj.name for obj in built("--topology", "FC_6_FC_3", "--input-shape", "8", "--rule", "rstdp")[1].objects]
    assert not set(sums) & set(plain), "the sums exist only with the orthogonal readout"


def test_feature_layer_ranks_its_neurons_between_the_input_and_the_threshold():
    """rstdp --winners: the input's traces and their norm, this step's input, then the rank, the threshold, and
    the instar update after the spikes of the step, each once per step."""
    spec, network = built("--topology", "FC_6_FC_3", "--input-shape", "8", "--rule", "rstdp", "--winners", "2")
    order = [obj.name for obj in network.sorted_objects]
    check_steps(order, spec.stages)
    sums = "hidden1_input_norm_sum_summed_variable_xnorm2_post"
    assert_before(order, "input_spike_resetter", sums, "hidden1_input_norm_copy_summed_variable_xnorm2_post")
    assert_before(order, "hidden1_integrate", "hidden1_rivals_summed_variable_rank_post", "hidden1_spike_thresholder")
    assert_before(order, "hidden1_input_norm_copy_summed_*", "hidden1_spike_thresholder", "input_hidden1_post")
    features = [obj for obj in network.sorted_objects if obj.name.startswith(("hidden1_rivals", "hidden1_input_norm"))]
    assert len(features) == 8, [obj.name for obj in features]  # the rank, the norm group, their synapses and sums
    assert all(obj.clock.dt == spec.dt for obj in features), "the feature layer's objects should run once per step"


@pytest.mark.parametrize("pooling", ["avg", "lif"])
def test_convolution_shares_its_kernel_in_order(pooling):
    spec, network = built(
        "--topology", "CONV_2_3_1_1_FC_5_FC_3", "--input-shape", "1,6,6", "--rule", "brp", "--pooling", pooling
    )
    order = [obj.name for obj in network.sorted_objects]
    check_steps(order, spec.stages)
    assert_before(order, "output_delta", "hidden1_delta", "conv1_delta", "*_statistics")
    # the kernel gathers its synapses' gradients, is updated, and is copied back into every synapse
    assert_before(order, "input_conv1_sample_end", "conv1_tie_summed_variable_w_grad_pre", "conv1_kernel_apply")
    assert_before(order, "conv1_kernel_apply", "conv1_tie_summed_variable_w_post", "conv1_reset")


def test_schedule_command_prints_the_final_equations_and_the_schedule(capsys):
    assert schedule.main(["--topology", "FC_4_FC_3", "--input-shape", "5", "--rule", "rstdp"]) == 0
    text = capsys.readouterr().out
    output = text[text.index("NeuronGroup output") :].split("\n\n")[0]
    assert "da : 1" in output and "dxtrace/dt" in output and "dv/dt" in output
    assert "c -= A_minus * xtrace_post" in text and "decision_reward" in text
    assert text.index("readout (StateMonitor)") < text.index("output_delta (CodeRunner)")


def test_schedule_shows_the_adaptive_threshold_and_the_homeostatic_term(capsys):
    args = ["--topology", "FC_4_FC_3", "--input-shape", "5", "--adaptation", "1", "--homeostasis", "0.1"]
    assert schedule.main(args) == 0
    text = capsys.readouterr().out
    assert "dtheta/dt = -theta / tau_adaptation" in text
    assert "when v > (v_th + theta): v = v_reset; cnt += 1; theta += adaptation" in text
    assert "int(abs(v - (v_th + theta)) < gate_width)" in text
    hidden_delta = text[text.index("hidden1_delta") :].split("\n")[0]
    assert "delta += learning * homeostasis * (cnt * inv_T - target_rate * step_dt); bias_grad += delta" in hidden_delta
    assert "homeostasis" not in text[text.index("output_delta") :].split("\n")[0]


def test_schedule_command_refuses_a_bad_topology(capsys):
    assert schedule.main(["--topology", "FC_x"]) == 2
    assert "error" in capsys.readouterr().err
