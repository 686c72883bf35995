"""The command line shared by every dataset protocol, and the epoch loop.

Errors in what the user gave (arguments, data, results folder) end with one
line ``<prog>: error: <what was wrong>`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from brian2 import BrianLogger, Hz, mV

from analysis import readouts
from models import devices, layers, optimizers, propagation, reward, rules
from models.devices import DeviceError, check_device, device_of_option
from models.encoding import pack_frames
from models.layers import POOLINGS
from models.network import NetworkSpec
from models.neurons import neuron_parameters
from models.rules import brp
from models.topology import TopologyError, split_topology
from models.training import Trainer, feedback_matrices, initial_state
from protocols import runs
from protocols.datasets import DataError, Dataset
from protocols.progress import EpochProgress

ROOT = Path(__file__).resolve().parent.parent
# results/ of the checkout (also with an editable install); for a regular install, results/ of the working directory
DEFAULT_RESULTS = ROOT / "results" if (ROOT / "pyproject.toml").is_file() else Path("results").absolute()


class UsageError(Exception):
    """A bad argument value."""


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line and exit status 2, or :class:`UsageError` with ``raise_errors`` (protocols.api)."""

    def __init__(self, *args, raise_errors=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.raise_errors = raise_errors

    def error(self, message):
        if self.raise_errors:
            raise UsageError(message)
        self.exit(2, f"{self.prog}: error: {message}\n")


# The paper's training settings (Zhang et al. 2021, Sec. IV): Adam, lr 1e-4, minibatches of 50, the label as
# the reward signal (eq. 4), T = 20 steps (30 for DvsGesture: ProtocolDefaults.paper)
PAPER = {
    "lr": 1e-4,
    "batch_size": 50,
    "optimizer": "adam",
    "signal": "label",
    "T": 20,
    "lr_decay": 1.0,
    "homeostasis": 0.0,
}
PRESETS = ("measured", "paper")


@dataclass(frozen=True)
class ProtocolDefaults:
    """A protocol's defaults, the best settings measured (``measured`` says what they gave); ``options`` are
    its own arguments: (flags, argparse keywords) pairs."""

    topology: str | None  # None: the protocol chooses it in its loader (e.g. by its kernels)
    epochs: int
    T: int = 20
    lr: float = 1e-3
    batch_size: int = 50
    signal: str = "label"
    homeostasis: float = 0.0  # for the rules with a local error on the rates (brp, bp); others get none
    target_rate: float = 10.0
    active_rate: float = 0.0  # --active-rate where --form paper and --active-fraction are given
    data_dir: str | None = None
    options: tuple = ()
    rule_defaults: tuple = ()  # (rule, {option: value}) pairs: this protocol's measured settings for a rule
    paper: tuple = ()  # (option, value) pairs of --preset paper beside PAPER's (the paper's network, its T)
    measured: str = ""  # what the defaults gave (a sentence, shown by --help)

    def training_defaults(self, rule: str) -> dict:
        """The defaults of ``rule`` (:attr:`models.rules.base.Rule.training_defaults`) with this protocol's own."""
        return rules.get(rule).training_defaults | dict(self.rule_defaults).get(rule, {})

    def preset(self, name: str) -> dict:
        """The settings of ``--preset name``: none beside the defaults for ``measured``."""
        return PAPER | dict(self.paper) if name == "paper" else {}


def positive(kind, zero_allowed=False):
    """An argparse type: a positive ``kind`` (or >= 0 with ``zero_allowed``), finite for floats."""
    bound = "a non-negative" if zero_allowed else "a positive"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            article = "an" if kind.__name__[0] in "aeiou" else "a"
            raise argparse.ArgumentTypeError(f"{text!r} is not {article} {kind.__name__}") from None
        if not (value >= 0 if zero_allowed else value > 0) or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be {bound} {kind.__name__}, got {text}")
        return value

    return parse


def folder_name(text: str) -> str:
    """An argparse type: one folder name, without a path (the run folder lies in <results-dir>/<protocol>/)."""
    if text in ("", ".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"must be one folder name without '/', got {text!r}")
    return text


def _defaults_note(name: str, defaults: ProtocolDefaults) -> str:
    shown = ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in defaults.training_defaults(name).items())
    return f"; by default {shown}" if shown else ""


def apply_presets(args, given: dict, defaults: ProtocolDefaults) -> None:
    """Put the ``--preset``'s settings, then the rule's training defaults
    (:meth:`ProtocolDefaults.training_defaults`: a rule's own optimizer wins over the paper's for BRP) into
    ``args`` where the command line does not give the option."""
    for key, value in (defaults.preset(args.preset) | defaults.training_defaults(args.rule)).items():
        if key not in given:
            setattr(args, key, value)
    if "homeostasis" not in given and not rules.get(args.rule).homeostatic:
        args.homeostasis = 0.0  # the protocol's default homeostatic term is for the rules that have one
    if "receptive_field" not in given and (args.winners or "CONV" in (args.topology or "").upper()):
        args.receptive_field = 0  # a rule's default receptive fields are for fixed features on the image
    if "active_rate" not in given and args.active_fraction and args.form == "paper":
        args.active_rate = defaults.active_rate


def build_parser(protocol: str, defaults: ProtocolDefaults, raise_errors: bool = False) -> argparse.ArgumentParser:
    description = " ".join([__doc__.splitlines()[0], defaults.measured])
    p = OneLineParser(prog=f"python -m protocols.{protocol}", description=description, raise_errors=raise_errors)
    p.add_argument("--data-dir", default=defaults.data_dir, help="folder with the dataset in its official layout")
    p.add_argument("--epochs", type=positive(int), default=defaults.epochs)
    p.add_argument(
        "--topology",
        default=defaults.topology,
        help="authors' format, e.g. FC_500_FC_10 or CONV_32_5_1_2_FC_1000_FC_10 (CONV_channels_kernel_stride_padding, "
        "each followed by pooling; CONV1D_... for sequences)",
    )
    p.add_argument("--pooling", choices=POOLINGS, default="avg", help="pooling of spikes after each convolution")
    p.add_argument(
        "--rule",
        choices=rules.names(),
        default="brp",
        help=", ".join(
            f"{name} ({rule.summary}{_defaults_note(name, defaults)})" for name, rule in rules.registry().items()
        ),
    )
    p.add_argument(
        "--signal",
        choices=reward.SIGNALS,
        default=defaults.signal,
        help="TP_BRP label (eq. 4), error (eq. 5), sign (eq. 7)",
    )
    paper = ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in defaults.preset("paper").items())
    p.add_argument(
        "--preset",
        choices=PRESETS,
        default="measured",
        help=f"measured: the best settings measured here (the defaults shown); paper: the paper's ({paper}); "
        "options given on the command line win, and a rule's own defaults win over the paper's",
    )
    p.add_argument(
        "--form", choices=brp.FORMS, default="code", help="hidden error: code B*TP (authors' code) or paper h - B*TP"
    )
    p.add_argument("--neuron", choices=("lif", "coba"), default="lif")
    p.add_argument(
        "--adaptation",
        type=positive(float, zero_allowed=True),
        default=0.0,
        help="threshold jump per spike in mV, relaxing with --tau-adaptation (0: a fixed threshold, the paper's)",
    )
    p.add_argument(
        "--tau-adaptation", type=positive(float), default=20.0, help="time constant of the threshold adaptation in ms"
    )
    p.add_argument(
        "--homeostasis",
        type=positive(float, zero_allowed=True),
        default=defaults.homeostasis,
        help="strength of the hidden layers' homeostatic term towards --target-rate (brp, bp; 0: none, the paper's; "
        f"here {defaults.homeostasis:g})",
    )
    p.add_argument(
        "--target-rate",
        type=positive(float),
        default=defaults.target_rate,
        help=f"the homeostatic target rate in Hz (here {defaults.target_rate:g})",
    )
    p.add_argument(
        "--inhibition",
        type=positive(float, zero_allowed=True),
        default=0.0,
        help="weight of the lateral inhibition among each hidden FC layer's neurons, in units of a synaptic weight "
        "(1 mV for eq. 2; 0: none, the paper's)",
    )
    p.add_argument(
        "--winners",
        type=positive(int, zero_allowed=True),
        default=0,
        help="rstdp: the hidden layers learn label-free STDP features, with this many neurons spiking per step "
        "(k-winner-take-all; 0: fixed random hidden layers)",
    )
    p.add_argument(
        "--active-fraction",
        type=positive(float, zero_allowed=True),
        default=0.0,
        help="label signal: the fraction of each hidden layer's neurons that a class's reward drives to fire "
        "(B^l becomes a sparse code, with --form paper the target rates of --active-rate; 0: the zero-mean "
        "B^l, which drives half of them, the paper's)",
    )
    p.add_argument(
        "--active-rate",
        type=positive(float, zero_allowed=True),
        default=0.0,
        help="--form paper with --active-fraction: the target rate (spikes per step) of the driven neurons, the "
        f"others one spike per step below it (default with them: {defaults.active_rate}; 0: the targets 1 "
        "and -q / (1 - q))",
    )
    p.add_argument(
        "--decision-neurons",
        type=positive(int, zero_allowed=True),
        default=0,
        help="rstdp: output neurons per class (neuron i votes for class i mod C; 0: the rule's 10)",
    )
    p.add_argument(
        "--punishment",
        type=positive(float),
        default=1.0,
        help="rstdp: the weight p of a wrong decision's dopamine, -p times the running hit rate (1: Mozafari et "
        "al.'s scaling, whose expected dopamine is zero)",
    )
    p.add_argument(
        "--orthogonal-readout",
        action="store_true",
        help="rstdp: keep each decision neuron's weights orthogonal to the mean spike counts of the layer below, "
        "so that weighted punishments (--punishment > 1) cannot silence the decision layer",
    )
    p.add_argument(
        "--receptive-field",
        type=positive(int, zero_allowed=True),
        default=0,
        help="rstdp: each neuron of the fixed first hidden layer sees a random P x P patch of the image "
        "(local receptive fields; 0: the whole image)",
    )
    p.add_argument("--T", type=positive(int), default=defaults.T, help="time steps per sample")
    p.add_argument("--alpha", type=positive(float), default=1.0, help="encoder factor of eq. 3")
    p.add_argument("--lr", type=positive(float), default=defaults.lr)
    p.add_argument(
        "--lr-decay",
        type=positive(float),
        default=1.0,
        help="the step size is multiplied by this factor after every epoch (1: constant)",
    )
    p.add_argument("--batch-size", type=positive(int), default=defaults.batch_size)
    p.add_argument("--optimizer", choices=optimizers.OPTIMIZERS, default="adam")
    p.add_argument("--seed", type=positive(int, zero_allowed=True), default=0)
    p.add_argument(
        "--device",
        choices=("runtime", "cpp_standalone", "cuda"),
        default="cpp_standalone",
        help="cpp_standalone: compiled for the CPU; cuda: brian2cuda for an NVIDIA GPU; runtime: numpy, slow",
    )
    p.add_argument(
        "--precision",
        choices=("float32", "float64"),
        default="float32",
        help="state variables' type; float32 halves the memory traffic of the synapses and measured the same "
        "accuracy as float64 on MNIST (FC_500_FC_10, 2 epochs: 93.81 vs 93.76%%; CONV_16_5_2_2_FC_500_FC_10, "
        "1 epoch: 90.17 vs 90.19%%)",
    )
    p.add_argument(
        "--propagation",
        choices=propagation.PROPAGATIONS,
        default="auto",
        help="auto: compiled pathways skip Brian2's spike queue where their structure allows (dense rows for "
        "all-to-all); generic: Brian2's own path (the same results, bit for bit, slower)",
    )
    p.add_argument("--limit-train", type=positive(int), default=None, help="use the first N training samples")
    p.add_argument("--limit-test", type=positive(int), default=None, help="use the first N test samples")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS))
    p.add_argument("--cache-dir", default=None, help="compiled-program cache (default ~/.cache/brp_snn)")
    p.add_argument(
        "--run-name", type=folder_name, default=None, help="run folder name instead of <timestamp>_<rule>_seed<k>"
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a run from its last finished epoch, with its recorded settings: other options given must have "
        "the same values, except --epochs (recorded in its config.json) and --results-dir, --cache-dir, --quiet, "
        "--verbose, --readouts",
    )
    console = p.add_mutually_exclusive_group()
    console.add_argument("--quiet", action="store_true", help="no progress output within epochs")
    console.add_argument(
        "--verbose",
        action="store_true",
        help="Brian2's log messages and the compiled program's own progress lines instead of the progress bar",
    )
    p.add_argument(
        "--readouts",
        type=positive(int),
        metavar="N",
        default=None,
        help="after the last epoch, fit the reference readouts (Diehl & Cook's labels, logistic regression; "
        "analysis.readouts) on the last hidden stage's spike counts of the first N training samples, score them "
        "and the network's own readout on the test samples, and write readouts.csv (also on a finished --resume run)",
    )
    for flags, keywords in defaults.options:
        p.add_argument(*flags, **keywords)
    return p


SETTINGS = (
    "data_dir",
    "epochs",
    "topology",
    "pooling",
    "rule",
    "signal",
    "form",
    "neuron",
    "adaptation",
    "tau_adaptation",
    "homeostasis",
    "target_rate",
    "inhibition",
    "winners",
    "receptive_field",
    "active_fraction",
    "active_rate",
    "decision_neurons",
    "punishment",
    "orthogonal_readout",
    "T",
    "alpha",
    "lr",
    "lr_decay",
    "batch_size",
    "optimizer",
    "seed",
    "device",
    "precision",
    "propagation",
    "limit_train",
    "limit_test",
)


def settings_of(args) -> list[str]:
    """The settings a run folder records: the common ones and the protocol's own options."""
    return list(SETTINGS) + sorted(set(vars(args)) - set(SETTINGS) - NOT_SETTINGS)


NOT_SETTINGS = {"results_dir", "cache_dir", "run_name", "resume", "quiet", "verbose", "readouts"}
PATH_SETTINGS = ("data_dir",)  # recorded as absolute paths: a run resumed from another directory reads the same data


def given_options(parser: argparse.ArgumentParser, argv) -> dict:
    """The options that ``argv`` names, with their parsed values (whatever the defaults are)."""
    defaults = {action.dest: action.default for action in parser._actions}
    try:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
        return vars(parser.parse_args(argv))
    finally:
        for action in parser._actions:
            action.default = defaults[action.dest]


def _same_setting(key: str, given, recorded) -> bool:
    if key in PATH_SETTINGS and given is not None and recorded is not None:
        return Path(given).resolve() == Path(recorded).resolve()
    # config.json holds JSON values: compare what the given value would be once recorded (tuples as lists, ...)
    return json.loads(json.dumps(given, default=str)) == recorded


def _flag(parser: argparse.ArgumentParser, dest: str) -> str:
    return next(a.option_strings[0] for a in parser._actions if a.dest == dest)


def resume_settings(parser: argparse.ArgumentParser, args, given: dict) -> Path:
    """Put the settings recorded in the ``--resume`` folder into ``args``; return the folder.

    Options given on the command line must have the recorded values, except ``--epochs`` (a run can be
    lengthened) and the options that are no settings (``--results-dir``, ``--cache-dir``, ``--quiet``, ``--verbose``,
    ``--readouts``).
    """
    folder = Path(args.resume)
    settings = runs.read_config(folder)
    finished = runs.checkpoint_epoch(folder)
    differing = []
    for key in settings_of(args):
        # a setting this version added after the run was made: the run had it off, or had what is now its default
        recorded = settings.get(key, runs.ADDED_OFF.get(key, parser.get_default(key)))
        if key in given and key != "epochs" and not _same_setting(key, given[key], recorded):
            shown = "none" if recorded is None else recorded
            differing.append(f"{_flag(parser, key)} {given[key]} (the run has {shown})")
        if key != "epochs":
            setattr(args, key, recorded)
    if "run_name" in given and given["run_name"] != folder.name:
        differing.append(f"--run-name {given['run_name']} (the run is {folder.name})")
    if differing:
        raise UsageError(
            f"--resume continues a run with its recorded settings, but these differ: {'; '.join(differing)}; "
            "leave them out, or start a new run"
        )
    if "epochs" not in given:
        args.epochs = settings.get("epochs", args.epochs)
    elif args.epochs < finished:
        raise UsageError(f"--epochs {args.epochs} is fewer than the {finished} epochs that {folder} has finished")
    return folder


RUN_ERRORS = (UsageError, TopologyError, DataError, runs.RunFolderError, DeviceError)  # what the user gave wrong


def parse_arguments(parser: argparse.ArgumentParser, defaults: ProtocolDefaults, argv) -> tuple:
    """``argv`` as a run's settings: (args, the ``--resume`` folder or None); presets and rule defaults applied,
    or a resumed run's recorded settings put in."""
    args = parser.parse_args(argv)
    given = given_options(parser, argv)
    if args.resume:
        return args, resume_settings(parser, args, given)
    apply_presets(args, given, defaults)
    for key in PATH_SETTINGS:
        if getattr(args, key) is not None:
            setattr(args, key, str(Path(getattr(args, key)).absolute()))
    return args, None


def run_protocol(
    protocol: str, load: Callable[[argparse.Namespace], Dataset], defaults: ProtocolDefaults, argv=None
) -> int:
    """Parse ``argv``, train and test epoch by epoch, write the run folder; return the exit status."""
    parser = build_parser(protocol, defaults)
    try:
        args, resumed = parse_arguments(parser, defaults, argv)
        execute(protocol, load, args, resumed)
        return 0
    except RUN_ERRORS as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2


@dataclass
class Problem:
    """What a run trains on: its network, the data of all its samples (training first) and their labels."""

    spec: NetworkSpec
    data: np.ndarray
    labels: np.ndarray
    n_train: int
    n_test: int
    device: str


def execute(protocol, load, args, resumed: Path | None) -> Path:
    """Train and test ``args.epochs`` epochs (after those ``resumed`` has finished); return the run folder."""
    # Brian2's informational messages (its default) with --verbose; its warnings always
    BrianLogger.log_level_info() if args.verbose else BrianLogger.log_level_warn()
    finished = runs.checkpoint_epoch(resumed) if resumed is not None else 0
    if resumed is not None and not args.readouts and finished >= args.epochs:
        _record_epochs(resumed, args.epochs, finished)  # nothing to run: no data to load
        print(f"{resumed}: all its {args.epochs} epochs are finished already", flush=True)
        return resumed
    problem = prepare(protocol, load, args)
    folder, start_epoch, state, feedback = open_run(protocol, args, problem, resumed)
    if start_epoch >= args.epochs:
        print(f"{folder}: all its {args.epochs} epochs are finished already", flush=True)
    else:
        print(f"run folder: {folder}", flush=True)
        state = train_epochs(protocol, args, problem, folder, start_epoch, state, feedback)
    if args.readouts:
        _reference_readouts(problem, feedback, state, max(start_epoch, args.epochs), args, folder)
    if start_epoch < args.epochs:
        print(f"run folder: {folder}", flush=True)
    return folder


def prepare(protocol, load, args) -> Problem:
    """Load the data and check that the network fits them and the device can be used, before any run folder."""
    if args.homeostasis and not rules.get(args.rule).homeostatic:
        takers = ", ".join(name for name, rule in rules.registry().items() if rule.homeostatic)
        raise UsageError(f"--homeostasis applies to --rule {takers} (a local error on the rates), not {args.rule}")
    if args.winners and not rules.get(args.rule).label_free_features:
        takers = ", ".join(name for name, rule in rules.registry().items() if rule.label_free_features)
        raise UsageError(f"--winners applies to --rule {takers} (label-free hidden features), not {args.rule}")
    dataset = load(args).limited(args.limit_train, args.limit_test)
    if len(dataset.train_y) == 0 or len(dataset.test_y) == 0:
        raise DataError(f"{protocol}: the data have no training or no test samples")
    convs, sizes = split_topology(args.topology, dataset.n_classes)
    if convs and not rules.get(args.rule).convolutions:
        trainers = ", ".join(name for name, rule in rules.registry().items() if rule.convolutions)
        raise UsageError(
            f"--rule {args.rule} trains FC topologies only; convolutions are trained with --rule {trainers}"
        )
    if args.winners and args.adaptation:
        raise UsageError(
            "--winners and --adaptation: the feature layer has its own homeostatic threshold, "
            "which its winner-take-all ranks by; choose one"
        )
    if args.winners and args.winners >= min(sizes[:-1], default=0):
        raise UsageError(f"--winners must be below the size of every hidden FC layer {sizes[:-1]}, got {args.winners}")
    if args.decision_neurons and rules.get(args.rule).outputs_per_class == 1:
        takers = ", ".join(name for name, rule in rules.registry().items() if rule.outputs_per_class > 1)
        raise UsageError(f"--decision-neurons applies to --rule {takers} (a decision among several), not {args.rule}")
    if args.punishment != 1 and not rules.get(args.rule).decides:
        takers = ", ".join(name for name, rule in rules.registry().items() if rule.decides)
        raise UsageError(f"--punishment applies to --rule {takers} (a decision's dopamine), not {args.rule}")
    if args.orthogonal_readout and not rules.get(args.rule).decides:
        takers = ", ".join(name for name, rule in rules.registry().items() if rule.decides)
        raise UsageError(f"--orthogonal-readout applies to --rule {takers} (a decision layer), not {args.rule}")
    if args.receptive_field:
        check_receptive_field(args, dataset.input_shape, convs, sizes)
    if args.active_fraction and not (
        args.active_fraction < 0.5 and args.signal == "label" and rules.get(args.rule).hidden_feedback
    ):
        takers = ", ".join(name for name, rule in rules.registry().items() if rule.hidden_feedback)
        raise UsageError(
            f"--active-fraction must be below 0.5 and applies to --signal label with --rule {takers}; "
            f"got {args.active_fraction} with --signal {args.signal} --rule {args.rule}"
        )
    if args.active_rate and not (args.active_rate <= 1 and args.active_fraction and args.form == "paper"):
        raise UsageError(
            "--active-rate is the driven neurons' target in the paper form's sparse code: it needs --form paper and "
            f"--active-fraction, and at most 1 spike per step; got {args.active_rate} with --form {args.form} "
            f"--active-fraction {args.active_fraction}"
        )
    data = np.concatenate([dataset.train_x, dataset.test_x])
    labels = np.concatenate([dataset.train_y, dataset.test_y])
    n_train, n_test = len(dataset.train_y), len(dataset.test_y)
    events = data.ndim == 3  # binary frames (samples, T, inputs), fed directly
    if events and data.shape[1] != args.T:
        raise DataError(f"{protocol}: the samples have {data.shape[1]} frames but --T is {args.T}")
    n_inputs = data.shape[-1]
    if events:
        data = pack_frames(data)
    spec = NetworkSpec(
        n_inputs=n_inputs,
        sizes=sizes,
        n_rows=n_train + n_test,
        n_slots=n_train + n_test,
        T=args.T,
        neuron=neuron_parameters(args.neuron, args.adaptation, args.tau_adaptation),
        homeostasis=args.homeostasis,
        target_rate=args.target_rate * Hz,
        inhibition=args.inhibition,
        winners=args.winners,
        receptive_field=args.receptive_field,
        active_fraction=args.active_fraction,
        active_rate=args.active_rate,
        decision_neurons=args.decision_neurons,
        punishment=args.punishment,
        orthogonal_readout=args.orthogonal_readout,
        alpha=args.alpha,
        signal=args.signal,
        form=args.form,
        optimizer=args.optimizer,
        batch_size=args.batch_size,
        precision=args.precision,
        propagation=args.propagation,
        rule=args.rule,
        input_shape=dataset.input_shape if convs or args.receptive_field else (),
        convs=convs,
        pooling=args.pooling,
        inputs="events" if events else "rate",
    )
    spec.stages  # noqa: B018 -- checks the geometry of the convolutions (TopologyError)
    device = device_of_option(args.device)
    check_device(device)
    if device != "runtime":  # before any work: the compiled programs' cache must be writable
        cache = Path(args.cache_dir) if args.cache_dir is not None else devices.DEFAULT_CACHE
        runs.writable_folder(cache, "the cache folder (--cache-dir)")
    return Problem(spec, data, labels, n_train, n_test, device)


def check_receptive_field(args, input_shape: tuple, convs: tuple, sizes: tuple) -> None:
    """--receptive-field P: fixed random weights of a first hidden FC layer on images, P within the image."""
    fixed = ", ".join(name for name, rule in rules.registry().items() if rule.label_free_features)
    if not rules.get(args.rule).label_free_features or args.winners:
        taken = f"--rule {args.rule}" + (" with --winners" if args.winners else "")
        raise UsageError(
            f"--receptive-field applies to fixed random hidden layers (--rule {fixed} without --winners), not {taken}"
        )
    if convs or len(input_shape) != 3 or len(sizes) < 2:
        raise UsageError(
            f"--receptive-field needs images (channels, height, width) and a hidden FC layer after them; "
            f"here the inputs have shape {input_shape} and the topology is {args.topology}"
        )
    if args.receptive_field > min(input_shape[1:]):
        raise UsageError(
            f"--receptive-field must be at most the images' height and width {input_shape[1:]}, "
            f"got {args.receptive_field}"
        )


def layer_table(spec: NetworkSpec) -> list[dict]:
    """layers.csv's rows: each layer's size and the synapses its spikes reach (inhibition included)."""
    return layers.stage_table(spec.stages, bool(spec.inhibition), rules.get(spec.rule).output_inhibition)


def open_run(protocol, args, problem: Problem, resumed: Path | None) -> tuple:
    """The run folder (new, or ``resumed`` truncated to its last finished epoch), the epochs it has finished,
    the learned arrays and the fixed feedback matrices to start from."""
    spec, folder = problem.spec, resumed
    start_epoch, state, feedback = 0, None, None
    if folder is not None:
        start_epoch, state, feedback = runs.load_checkpoint(folder)
        runs.truncate_tables(folder, start_epoch)
        if not (folder / "layers.csv").exists():  # interrupted right after its config.json
            runs.write_layers(folder, layer_table(spec))
        print(f"resuming {folder} after epoch {start_epoch}", flush=True)
    else:
        folder = runs.create_run_folder(args.results_dir, protocol, args.rule, args.seed, args.run_name)
        runs.write_config(
            folder,
            {k: getattr(args, k) for k in settings_of(args)}
            | {
                "protocol": protocol,
                "n_train": problem.n_train,
                "n_test": problem.n_test,
                "sizes": spec.sizes,
                "input_shape": spec.input_shape,
                "v_th_mV": float(spec.neuron.v_th / mV),
            },
        )
        runs.write_layers(folder, layer_table(spec))
    if not state:
        rng = np.random.default_rng(args.seed)
        feedback = feedback_matrices(spec, rng)
        state = initial_state(spec, rng)
    elif state.keys() != (expected := initial_state(spec, np.random.default_rng(0))).keys():
        differing = sorted(expected.keys() - state.keys()) + sorted(state.keys() - expected.keys())
        raise runs.RunFolderError(
            f"{folder / 'checkpoint.npz'} does not fit this version's network ({', '.join(differing[:3])} differ); "
            "start a new run"
        )
    if resumed:
        _record_epochs(folder, args.epochs, start_epoch)
    return folder, start_epoch, state, feedback


def _record_epochs(folder: Path, epochs: int, finished: int) -> None:
    """A resumed run given another number of epochs than its config.json has: record the change."""
    if epochs != runs.read_config(folder).get("epochs"):
        runs.record_epochs_change(folder, epochs, finished)


def train_epochs(protocol, args, problem: Problem, folder: Path, start_epoch: int, state, feedback) -> dict:
    """Epochs ``start_epoch + 1`` to ``args.epochs``: each one run of the compiled program, its rows appended
    to the run folder's tables and its checkpoint saved; return the learned arrays."""
    spec, n_train, n_test = problem.spec, problem.n_train, problem.n_test
    print(
        f"{protocol}: {n_train} train / {n_test} test samples, {args.topology}, T={args.T}, "
        f"rule={args.rule} ({args.signal}, {args.form}), {args.optimizer} lr={args.lr}"
        + (f" x {args.lr_decay}/epoch" if args.lr_decay != 1 else "")
        + f", batch={args.batch_size}",
        flush=True,
    )
    if spec.convs:
        print(f"stages: {', '.join(f'{s.name} {"x".join(map(str, s.shape))}' for s in spec.stages)}", flush=True)
    trainer = Trainer(
        spec, problem.data, problem.labels, feedback, device=problem.device, seed=args.seed, cache_dir=args.cache_dir
    )
    if problem.device != "runtime":
        print(f"program ready in {trainer.build_seconds:.1f} s ({trainer.build_directory})", flush=True)
    stage_names = [stage.name for stage in spec.stages]
    for epoch in range(start_epoch + 1, args.epochs + 1):
        order = np.random.default_rng([args.seed, epoch]).permutation(n_train)
        tic = time.perf_counter()
        with _progress(args, f"epoch {epoch}/{args.epochs}", n_train + n_test) as progress:
            result, state = trainer.run(
                state,
                order,
                np.arange(n_train, n_train + n_test),
                args.lr * args.lr_decay ** (epoch - 1),
                epoch=epoch,
                progress=progress,
                echo=args.verbose,
            )
        wall = time.perf_counter() - tic
        rows = []
        for split, accuracy, n in (("train", result.train_accuracy, n_train), ("test", result.test_accuracy, n_test)):
            row = {
                "epoch": epoch,
                "split": split,
                "accuracy": accuracy,
                "n_samples": n,
                "seconds": result.seconds * n / (n_train + n_test),
                "samples_per_s": (n_train + n_test) / result.seconds,
            }
            row.update({f"rate_{layer}": rate for layer, rate in result.rates[split].items()})
            rows.append(row)
        runs.append_metrics(folder, rows)
        run_labels = problem.labels[np.concatenate([order, np.arange(n_train, n_train + n_test)])]
        runs.append_table(
            folder, "firing.csv", runs.firing_table(epoch, result.activity, stage_names, run_labels, n_train)
        )
        runs.append_table(folder, "traces.csv", runs.traces_table(epoch, result.traces, run_labels, n_train))
        runs.append_table(folder, "neurons.csv", runs.neuron_table(epoch, result.neuron_rates))
        runs.save_checkpoint(folder, epoch, state, feedback)
        print(
            f"epoch {epoch}/{args.epochs}: train {result.train_accuracy:.4f}  test {result.test_accuracy:.4f}  "
            f"({(n_train + n_test) / result.seconds:.0f} samples/s, {wall:.1f} s)",
            flush=True,
        )
    return state


def _progress(args, description: str, total: int):
    """The progress display of a run of ``total`` samples: a bar on a terminal, lines in a log; none with
    ``--quiet`` or ``--verbose`` (which shows the program's own lines)."""
    if args.quiet or args.verbose:
        return contextlib.nullcontext(None)
    return EpochProgress(description, total, sys.stderr if sys.stderr.isatty() else sys.stdout)


def _reference_readouts(problem: Problem, feedback, state, epoch: int, args, folder: Path) -> None:
    """The reference readouts of :mod:`analysis.readouts` on the network of ``state``: its last hidden stage's
    counts in one pass without learning over the first ``--readouts`` training samples and the test samples
    (another compiled program: it records the counts); rows of ``epoch`` in readouts.csv are replaced."""
    spec, labels, n_train, n_test = problem.spec, problem.labels, problem.n_train, problem.n_test
    n_fit = min(args.readouts, n_train)
    rows = np.concatenate([np.arange(n_fit), np.arange(n_train, n_train + n_test)])
    features_spec = replace(spec, n_slots=len(rows), record=False, features=True)
    trainer = Trainer(
        features_spec, problem.data, labels, feedback, device=problem.device, seed=args.seed, cache_dir=args.cache_dir
    )
    with _progress(args, "readouts", len(rows)) as progress:
        result, _ = trainer.run(state, rows[:0], rows, 0.0, epoch=epoch, progress=progress, echo=args.verbose)
    counts, truth = result.features, labels[rows]
    table = readouts.readout_table(counts[:n_fit], truth[:n_fit], counts[n_fit:], truth[n_fit:], spec.n_classes)
    own = float(np.mean(result.predictions[n_fit:] == truth[n_fit:]))
    table = pd.concat([pd.DataFrame([{"readout": args.rule, "accuracy": own}]), table], ignore_index=True)
    layer = [stage.name for stage in spec.stages][-2]
    table.insert(0, "epoch", epoch)
    table = table.assign(layer=layer, n_neurons=counts.shape[1], n_fit=n_fit, n_test=n_test)
    runs.replace_epoch_rows(folder, "readouts.csv", table)
    print(
        f"readouts on {layer} ({counts.shape[1]} neurons, fitted on {n_fit} training samples): "
        + "  ".join(f"{row.readout} {row.accuracy:.4f}" for row in table.itertuples()),
        flush=True,
    )
