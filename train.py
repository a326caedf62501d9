"""Train a graphsep model from a config: ``graphsep train`` as a script, for ``torchrun``.

    python train.py --config configs/quickstart.yaml
    python train.py --config configs/molhiv.yaml model.core.norm=share seed=1 out_dir=runs/hiv-share
    torchrun --nproc_per_node=2 train.py --config configs/molhiv.yaml

The options and overrides are those of ``graphsep train`` (:mod:`graphsep.cli.train`).
"""

import sys

from graphsep.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
