"""protocols.compare: rules x seeds through the sweep layer, then one table, figure and summary."""

import pandas as pd
import pytest

from analysis.compare import COLUMNS
from protocols import compare

pytestmark = pytest.mark.standalone


def test_compare_writes_table_figure_and_summary(tmp_path, build_cache):
    argv = ["--dataset", "digits", "--rules", "brp,bp", "--seeds", "2", "--epochs", "2", "--workers", "2"]
    # the structure of the small protocol tests (test_protocols.py): their compiled programs are reused
    small = ["--limit-train", "200", "--limit-test", "50", "--topology", "FC_30_FC_10", "--cache-dir", str(build_cache)]
    assert compare.main([*argv, "--results-dir", str(tmp_path), "--", *small]) == 0
    (folder,) = (tmp_path / "sweeps").iterdir()
    table = pd.read_csv(folder / "comparison.csv")
    assert list(table.columns[1:]) == COLUMNS
    assert len(table) == 2 * 2 * 2 * 2  # rules x seeds x epochs x splits
    assert set(table["rule"]) == {"brp", "bp"} and set(table["seed"]) == {0, 1}
    assert (table["synaptic_events_per_sample"] > 0).all()
    assert ((table["hidden_rate"] > 0) & (table["hidden_rate"] < 1)).all()
    assert (folder / "comparison.png").stat().st_size > 10_000
    summary = (folder / "comparison.md").read_text()
    last = table[(table["split"] == "test") & (table["epoch"] == 2)]
    for rule in ("brp", "bp"):
        accuracies = last.loc[last["rule"] == rule, "accuracy"]
        rate = last.loc[last["rule"] == rule, "hidden_rate"].mean()
        assert f"| {rule} | {100 * accuracies.mean():.1f} ± {100 * accuracies.std():.1f} | {rate:.3f} |" in summary


def test_unknown_rule_exits_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        compare.main(["--dataset", "digits", "--rules", "brp,hebb", "--results-dir", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown rule(s) hebb" in err[0]
