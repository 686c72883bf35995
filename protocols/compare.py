"""Learning rules head to head: every rule and seed on one dataset, through the Dask sweep layer.

    python -m protocols.compare --dataset digits --rules brp,rstdp,brp-stdp,bp --seeds 3 [--epochs N]
    python -m protocols.compare --dataset mnist --rules brp,bp --seeds 1 --epochs 3 -- --data-dir DIR

Runs the grid ``rule x seed`` with :mod:`protocols.sweep` (same options: ``--workers``,
``--scheduler``, ``--results-dir``, ``--timeout``; arguments after ``--`` go to every run), then
writes into the sweep's folder ``comparison.csv`` (rule, seed, epoch, split, accuracy,
synaptic events per sample, seconds), ``comparison.png`` (accuracy per epoch, spread
over seeds) and ``comparison.md`` (final test accuracy, mean ± sd per rule) from the
runs that finished all their epochs. Running the same command again skips finished
runs and resumes the others.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from analysis.compare import write_comparison
from analysis.runs import RunReadError
from models import rules
from protocols import cli, runs, sweep


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = cli.OneLineParser(prog="python -m protocols.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sweep.DATASETS, required=True)
    parser.add_argument(
        "--rules", default=",".join(rules.names()), help=f"comma-separated, from {', '.join(rules.names())}"
    )
    parser.add_argument("--seeds", type=cli.positive(int), default=3)
    parser.add_argument("--epochs", type=cli.positive(int), default=None, help="the protocol's default if not given")
    parser.add_argument("--workers", type=cli.positive(int), default=2)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--results-dir", default=str(cli.DEFAULT_RESULTS))
    parser.add_argument("--timeout", type=cli.positive(float), default=None, metavar="SECONDS", help="per run")
    args = parser.parse_args(own)
    chosen = [r.strip() for r in args.rules.split(",") if r.strip()]
    unknown = sorted(set(chosen) - set(rules.names()))
    if not chosen or unknown:
        parser.error(
            f"--rules: unknown rule(s) {', '.join(unknown) or '(none given)'}; expected some of {rules.names()}"
        )
    epochs = args.epochs or importlib.import_module(f"protocols.{args.dataset}").DEFAULTS.epochs
    grid = f"rule={','.join(chosen)};seed={','.join(str(s) for s in range(args.seeds))}"
    sweep_argv = ["--dataset", args.dataset, "--grid", grid, "--epochs", str(epochs), "--workers", str(args.workers)]
    sweep_argv += ["--results-dir", args.results_dir] + (["--scheduler", args.scheduler] if args.scheduler else [])
    sweep_argv += ["--timeout", str(args.timeout)] if args.timeout else []
    status = sweep.main([*sweep_argv, "--", *extra])
    if status == 2:
        return 2
    folder = sweep.sweep_folder(args.results_dir, args.dataset, grid, epochs, extra)
    folders = [folder / "runs" / args.dataset / sweep.run_name(point) for point in sweep.parse_grid(grid)]
    finished = [run for run in folders if _finished(run) >= epochs and (run / "metrics.csv").is_file()]
    if not finished:
        print(f"{parser.prog}: error: no run finished its {epochs} epochs; see {folder / sweep.TABLE}", file=sys.stderr)
        return 1
    if len(finished) < len(folders):
        left_out = ", ".join(run.name for run in folders if run not in finished)
        print(f"left out of the comparison (not finished): {left_out}", flush=True)
    try:
        paths = write_comparison(finished, folder)
    except (RunReadError, OSError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(Path(paths["summary"]).read_text(), flush=True)
    print(f"comparison: {paths['table']}, {paths['figure']}, {paths['summary']}", flush=True)
    return status


def _finished(run: Path) -> int:
    try:
        return runs.checkpoint_epoch(run)
    except runs.RunFolderError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
