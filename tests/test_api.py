"""The Python API (protocols.api): the same runs as the command line, tables as DataFrames, resume, errors."""

import pytest

from protocols import api, cli, digits, runs

SMALL = {"topology": "FC_30_FC_10", "limit_train": 200, "limit_test": 50, "seed": 2, "quiet": True}


@pytest.mark.standalone
def test_api_runs_what_the_command_line_runs_and_continues_it(tmp_path, build_cache):
    run = api.train("digits", epochs=1, results_dir=tmp_path / "api", cache_dir=build_cache, **SMALL)
    assert run.epochs_finished == 1 and run.settings["topology"] == "FC_30_FC_10"
    assert list(run.metrics["epoch"]) == [1, 1]
    run = api.resume(run.folder, epochs=2, cache_dir=build_cache, quiet=True)
    assert run.epochs_finished == 2 and run.settings["epochs"] == 2

    argv = ["--epochs", "2", "--results-dir", str(tmp_path / "cli"), "--cache-dir", str(build_cache)]
    argv += ["--topology", "FC_30_FC_10", "--limit-train", "200", "--limit-test", "50", "--seed", "2", "--quiet"]
    assert digits.main(argv) == 0
    (folder,) = (tmp_path / "cli" / "digits").iterdir()
    by_cli = api.Run(folder).metrics
    columns = [c for c in by_cli.columns if c not in ("seconds", "samples_per_s")]
    assert by_cli[columns].equals(run.metrics[columns]), "resumed through the API = two epochs by the command line"
    assert set(run.table("layers")["layer"]) == {"input", "hidden1", "output"}


@pytest.mark.parametrize(
    "protocol, options, message",
    [
        ("digits", {"T": 0}, "argument --T: must be a positive int, got 0"),
        ("digits", {"rule": "hebb"}, "argument --rule: invalid choice: 'hebb'"),
        ("digits", {"quiet": True, "verbose": True}, "not allowed with argument"),
        ("digits", {"epoch": 3}, "unknown option 'epoch'"),
        ("digits", {"resume": "x"}, "api.resume"),
        ("imagenet", {}, "unknown protocol 'imagenet'"),
        ("mnist", {}, "--data-dir is required"),
    ],
)
def test_bad_options_raise_the_command_lines_message(tmp_path, protocol, options, message):
    with pytest.raises(cli.UsageError) as raised:
        api.train(protocol, results_dir=tmp_path, **options)
    assert message in str(raised.value)
    assert not any(tmp_path.iterdir()), "no run folder for a run that could not start"


def test_resume_of_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(runs.RunFolderError, match="has no config.json"):
        api.resume(tmp_path)
