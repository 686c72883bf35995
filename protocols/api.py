"""The protocols from Python: start a run with keyword options, read its tables, continue it.

    from protocols import api
    run = api.train("digits", epochs=3, topology="FC_100_FC_10", quiet=True)
    run.metrics                       # metrics.csv as a DataFrame: accuracy per epoch and split, rates per layer
    run = api.resume(run.folder, epochs=5)

Keywords are the command line's options (``data_dir`` for ``--data-dir``, ``quiet=True`` for ``--quiet``) and
are checked as the command line checks them; the run is the one the command line would make, in the same
run folder layout. A bad value raises :class:`protocols.cli.UsageError` (or another of
:data:`protocols.cli.RUN_ERRORS`) with the command line's message instead of exiting.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from protocols import cli, runs

PROTOCOLS = ("digits", "mnist", "cifar10", "tidigits", "nmnist", "dvsgesture")


@dataclass(frozen=True)
class Run:
    """A run folder and its tables (read when asked for, so they show what the run has written so far)."""

    folder: Path

    @property
    def config(self) -> dict:
        """config.json: the settings, the environment, and ``epochs_changes`` of a lengthened run."""
        return json.loads((self.folder / "config.json").read_text())

    @property
    def settings(self) -> dict:
        return self.config["settings"]

    @property
    def epochs_finished(self) -> int:
        return runs.checkpoint_epoch(self.folder)

    def table(self, name: str) -> pd.DataFrame:
        """One of the run's tables: ``metrics``, ``layers``, ``firing``, ``traces`` or ``readouts``."""
        path = self.folder / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{self.folder} has no {path.name}")
        return pd.read_csv(path)

    @property
    def metrics(self) -> pd.DataFrame:
        return self.table("metrics")


def train(protocol: str, **options) -> Run:
    """A new run of ``protocol`` with ``options`` (the command line's, as keywords); return it once it has run
    all its epochs."""
    if "resume" in options:
        raise cli.UsageError("continue a run with api.resume(folder, ...), not with resume=")
    return _execute(protocol, options)


def resume(folder, **options) -> Run:
    """Continue the run in ``folder`` with its recorded settings (``epochs`` may lengthen it)."""
    recorded = runs.read_config(Path(folder))
    protocol = recorded.get("protocol")
    if protocol not in PROTOCOLS:
        raise runs.RunFolderError(f"{folder}: its config.json names no protocol of this version ({protocol!r})")
    return _execute(protocol, options | {"resume": str(folder)})


def _execute(protocol: str, options: dict) -> Run:
    if protocol not in PROTOCOLS:
        raise cli.UsageError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    module = importlib.import_module(f"protocols.{protocol}")
    parser = cli.build_parser(protocol, module.DEFAULTS, raise_errors=True)
    args, resumed = cli.parse_arguments(parser, module.DEFAULTS, _argv(parser, options))
    return Run(cli.execute(protocol, module.load, args, resumed))


def _argv(parser, options: dict) -> list[str]:
    """``options`` as command-line arguments: ``key=value`` as ``--key value``; True as the bare flag; False and
    None left out."""
    flags = {action.dest: action for action in parser._actions if action.option_strings}
    argv = []
    for key, value in options.items():
        action = flags.get(key)
        if action is None or key == "help":
            known = ", ".join(sorted(dest for dest in flags if dest != "help"))
            raise cli.UsageError(f"unknown option {key!r}; the options are {known}")
        flag = action.option_strings[-1]
        if value is None or value is False:
            continue
        if value is True and action.nargs == 0:
            argv.append(flag)
        else:
            argv += [flag, str(value)]
    return argv
