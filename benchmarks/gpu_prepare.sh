#!/usr/bin/env bash
# Prepare what benchmarks/gpu_check.py needs on a GPU machine that reaches no package registry
# and has no ../shared: Python 3.12 wheels of what its image lacks (ogb, rdkit, omegaconf and
# their dependencies) in gpu_wheels/, and a ZINC slice in gpu_data/ (both git-ignored; carry
# them). There, run:
#   pip install --no-index --no-deps gpu_wheels/*.whl &&
#   PYTHONPATH=$PWD python benchmarks/gpu_check.py --zinc gpu_data/zinc_50k.csv.gz
# (the repository on the path instead of an editable install, which would fetch setuptools)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf gpu_wheels && mkdir -p gpu_wheels gpu_data
python3 -m pip download -q --python-version 3.12 --only-binary=:all: --no-deps -d gpu_wheels \
    ogb==1.3.6 rdkit==2026.9.1 omegaconf==2.4.0 outdated littleutils scikit-learn joblib \
    threadpoolctl PyYAML six pytest pluggy iniconfig packaging
# the corpus's header and first 50,000 molecules
python3 - <<'PY'
import gzip
import itertools

with gzip.open("../shared/data/pretrain/moses_zinc_train.csv.gz", "rt") as source, \
        gzip.open("gpu_data/zinc_50k.csv.gz", "wt") as target:
    target.writelines(itertools.islice(source, 50_001))
PY
du -sh gpu_wheels gpu_data
