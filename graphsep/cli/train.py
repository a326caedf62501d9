"""``graphsep train``: train a graphsep model from a config (any task: ``task.name``).

Examples::

    graphsep train --config configs/quickstart.yaml
    graphsep train --config configs/molhiv.yaml model.core.norm=share seed=1 out_dir=runs/hiv-share
    graphsep train --config configs/quickstart.yaml --resume
    torchrun --nproc_per_node=2 train.py --config configs/molhiv.yaml

Every key of ``graphsep.config.Config`` can be overridden as ``key=value``; a wrong key or value
stops before any work with the key's name and the valid choices. ``python train.py`` (and
``torchrun ... train.py``, which needs a script) runs :func:`main` here: the same command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from graphsep.config import load_config
from graphsep.errors import DEBUG_VARIABLE, report_errors
from graphsep.tasks.runs import run_task

DESCRIPTION = "Train a graphsep model from a config (the task that task.name names)."
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C


def add_arguments(parser: argparse.ArgumentParser, debug_default: object = False) -> None:
    """Add ``--config``, ``--resume``, ``--debug`` and the ``key=value`` overrides.

    Args:
        parser (argparse.ArgumentParser): the parser of ``train.py`` or of ``graphsep train``.
        debug_default (object, optional): the value of ``debug`` without ``--debug``;
            ``argparse.SUPPRESS`` under ``graphsep``, whose own ``--debug`` then stands.
            (default: False)
    """
    parser.add_argument("--config", help="YAML file of overrides (see configs/)")
    parser.add_argument(
        "--resume", action="store_true", help="same as resume=auto: continue from out_dir/last"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=debug_default,
        help=f"show the traceback of an error instead of one line (also {DEBUG_VARIABLE}=1)",
    )
    parser.add_argument(
        "overrides", nargs="*", help="key=value overrides, e.g. model.core.norm=share"
    )


def add_command(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train`` to the ``graphsep`` parser.

    Args:
        commands (argparse._SubParsersAction): the top-level parser's subcommands.

    Returns:
        argparse.ArgumentParser: the ``train`` parser, which reads options among the overrides
        as ``train.py`` does (:func:`graphsep.cli.main.parse_arguments`).
    """
    train = commands.add_parser(
        "train",
        help="train a model from a config: molecules, images, pretraining or finetuning",
        description=DESCRIPTION,
    )
    add_arguments(train, debug_default=argparse.SUPPRESS)
    train.set_defaults(func=cmd_train)
    return train


def cmd_train(args: argparse.Namespace) -> int:
    """``graphsep train``: load the config, train, and print the best epoch's scores.

    Args:
        args (argparse.Namespace): the parsed ``train`` arguments.

    Returns:
        int: exit code 0, or 130 when interrupted (the last good checkpoint is kept).
    """
    try:
        return _train(args)
    except KeyboardInterrupt:
        print("interrupted: the last good checkpoint is intact under out_dir", file=sys.stderr)
        return EXIT_INTERRUPTED


def _train(args: argparse.Namespace) -> int:
    overrides = [*args.overrides, "resume=auto"] if args.resume else args.overrides
    cfg = load_config(args.config, overrides)
    results = run_task(cfg)
    if not results:  # ranks other than 0 under torchrun
        return 0
    scores = f"valid {results['metric']} {results['valid']:.4f}"
    if "test" in results:  # pretraining scores a held-out part, no test split
        scores += f", test {results['test']:.4f}"
    which = f"best epoch {results['best_epoch']}" if "best_epoch" in results else (
        f"ensemble of {results['members']}"
    )  # fmt: skip
    print(f"{which}: {scores} -> {cfg.out_dir}")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "train.py") -> int:
    """Run training as ``train.py`` does; the entry of the script and of ``torchrun``.

    Args:
        argv (Sequence[str] | None, optional): arguments without the program name; None
            reads ``sys.argv``. (default: None)
        prog (str, optional): the name that starts usage and error lines. (default:
            ``"train.py"``)

    Returns:
        int: exit code: 0 on success, 2 on bad input (one line on stderr; a traceback only
        with ``--debug`` or ``GRAPHSEP_DEBUG=1``), 130 when interrupted.
    """
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_intermixed_args(argv)
    return report_errors(lambda: cmd_train(args), prog, args.debug)
