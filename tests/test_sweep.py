"""The Dask sweep layer: grid expansion, a LocalCluster of 2 workers, failures, the table, resume."""

import csv

import pytest

from protocols import sweep


def test_grid_expansion():
    points = sweep.parse_grid("rule=brp;T=10,20;seed=0,1,2")
    assert len(points) == 6
    assert points[0] == {"rule": "brp", "T": "10", "seed": "0"}
    assert points[-1] == {"rule": "brp", "T": "20", "seed": "2"}
    assert sweep.run_name(points[1]) == "rule=brp_T=10_seed=1"


@pytest.mark.parametrize("text", ["", "T", "T=", "=1", "T=1;T=2"])
def test_bad_grids(text):
    with pytest.raises(sweep.GridError):
        sweep.parse_grid(text)


def test_unknown_grid_name_exits_2(capsys, tmp_path):
    assert sweep.main(["--dataset", "digits", "--grid", "colour=red", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'colour' is not an option of protocols.digits" in err and len(err.strip().splitlines()) == 1


@pytest.mark.standalone
def test_sweep_runs_records_failures_and_resumes(tmp_path, build_cache, capsys):
    argv = [
        "--dataset",
        "digits",
        "--grid",
        "lr=0.003,-1;seed=0,1",
        "--epochs",
        "1",
        "--workers",
        "2",
        "--results-dir",
        str(tmp_path),
        "--",
        "--topology",  # the structure of the small protocol tests: their compiled program is reused
        "FC_30_FC_10",
        "--limit-train",
        "200",
        "--limit-test",
        "50",
        "--cache-dir",
        str(build_cache),
    ]
    assert sweep.main(argv) == 1, "two runs have an invalid learning rate"
    (folder,) = list((tmp_path / "sweeps").iterdir())
    with (folder / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    finished = [r for r in rows if r["status"].startswith("finished")]
    failed = [r for r in rows if r["status"] == "failed"]
    assert {(r["seed"], r["split"]) for r in finished} == {("0", "train"), ("0", "test"), ("1", "train"), ("1", "test")}
    assert all(0 <= float(r["accuracy"]) <= 1 and float(r["samples_per_s"]) > 0 for r in finished)
    assert len(failed) == 2 and all("must be a positive float" in r["error"] for r in failed)
    assert all(r["lr"] == "-1" for r in failed)
    capsys.readouterr()

    assert sweep.main(argv) == 1
    out = capsys.readouterr().out
    assert out.count("skipped (finished)") == 2, out
    with (folder / "sweep.csv").open() as f:
        again = list(csv.DictReader(f))
    assert [r["accuracy"] for r in again if r["lr"] == "0.003"] == [r["accuracy"] for r in finished]
