"""Train a graphsep model from a config.

    python train.py --config configs/quickstart.yaml
    python train.py --config configs/molhiv.yaml model.core.norm=share seed=1 out_dir=runs/hiv-share

Every key of ``graphsep.config.Config`` can be overridden as ``key=value``; a wrong key or value
stops before any work with the key's name and the valid choices.
"""

from __future__ import annotations

import argparse
import sys

from graphsep.errors import DEBUG_VARIABLE, report_errors
from graphsep.tasks.runs import run_task


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``--config PATH`` and the ``key=value`` overrides."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML file of overrides (see configs/)")
    parser.add_argument(
        "--resume", action="store_true", help="same as resume=auto: continue from out_dir/last"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an error instead of one line (also {DEBUG_VARIABLE}=1)",
    )
    parser.add_argument(
        "overrides", nargs="*", help="key=value overrides, e.g. model.core.norm=share"
    )
    return parser.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run training; return the process exit status (2: bad input, named in one line)."""
    args = parse_args(argv)
    try:
        return report_errors(lambda: _train(args), "train.py", args.debug)
    except KeyboardInterrupt:
        print("interrupted: the last good checkpoint is intact under out_dir", file=sys.stderr)
        return 130


def _train(args: argparse.Namespace) -> int:
    """Load the config, train, and print the best epoch's scores."""
    from graphsep.config import load_config

    overrides = [*args.overrides, "resume=auto"] if args.resume else args.overrides
    cfg = load_config(args.config, overrides)
    results = run_task(cfg)
    if not results:  # ranks other than 0 under torchrun
        return 0
    scores = f"valid {results['metric']} {results['valid']:.4f}"
    if "test" in results:  # pretraining has a held-out part, no test split
        scores += f", test {results['test']:.4f}"
    print(f"best epoch {results['best_epoch']}: {scores} -> {cfg.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
