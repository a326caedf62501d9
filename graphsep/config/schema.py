"""The run configuration: one dataclass per section, each holding its defaults with a comment.

``docs/configuration.md`` is generated from these comments
(``python -m graphsep.config.reference``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphsep.config.ranges import (
    AT_LEAST_0,
    AT_LEAST_1,
    OPEN_FRACTION,
    POSITIVE,
    PROBABILITY,
    Range,
)
from graphsep.core.config import CoreConfig
from graphsep.core.norm import CLS_NORM_KINDS, NORM_KINDS
from graphsep.core.precision import PRECISIONS
from graphsep.frontends.graph.config import EDGE_KINDS, NODE_KINDS, GraphConfig
from graphsep.frontends.image.config import POSITION_KINDS, ImageConfig
from graphsep.frontends.text.config import TextConfig
from graphsep.molecules.descriptors import FEATURE_SETS
from graphsep.tasks.classify.config import PROBE_NORMS, ClassifyConfig
from graphsep.tasks.mae.config import MaeConfig
from graphsep.tasks.masked_graph.config import MaskedGraphConfig
from graphsep.tasks.mlm.config import MlmConfig
from graphsep.tasks.property.config import FEATURE_ENTRIES, PropertyConfig

FRONTENDS = ("graph", "image", "text")
"""The values of ``model.frontend``."""
TASK_FRONTENDS = {
    "property": ("graph",),
    "masked_graph": ("graph",),
    "mae": ("image",),
    "mlm": ("text",),
    "classify": ("image", "text"),
}
"""The values of ``task.name`` and the front ends each one trains."""
TASKS = tuple(TASK_FRONTENDS)


@dataclass
class ModelConfig:
    """The encoder: the core, the front end that feeds it, and where its weights start."""

    frontend: str = "graph"  # graph (molecules, any PyG graph), image or text
    core: CoreConfig = field(default_factory=CoreConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    text: TextConfig = field(default_factory=TextConfig)
    init_from: str | None = None  # a graphsep checkpoint folder to start the encoder from


@dataclass
class TaskConfig:
    """What is trained: the loss of a batch, its heads and its evaluation."""

    # property: a molecule dataset's labels; masked_graph: masked atoms and bonds; mae: masked
    # image patches; mlm: masked words; classify: image or text classes
    name: str = "property"
    property: PropertyConfig = field(default_factory=PropertyConfig)
    masked_graph: MaskedGraphConfig = field(default_factory=MaskedGraphConfig)
    mae: MaeConfig = field(default_factory=MaeConfig)
    mlm: MlmConfig = field(default_factory=MlmConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)


@dataclass
class CorpusConfig:
    """The SMILES corpus of masked-graph pretraining (``task.name=masked_graph``)."""

    files: list[str] = field(default_factory=list)  # SMILES files or globs: csv, tsv, smi (.gz)
    smiles_column: str = "SMILES"  # column of a csv/tsv corpus; a .smi line's first field
    max_molecules: int = 0  # use the first N rows of the corpus; 0: all
    max_atoms: int = 128  # larger molecules are skipped and listed (dense T x T batches)
    held_out_fraction: float = 0.01  # molecules kept out of training to score reconstruction
    held_out_max: int = 10000  # cap on held-out molecules; 0: no cap
    cache_dir: str = "data/pretrain"  # featurized shards, reused while the corpus is unchanged
    shard_size: int = 10000  # molecules per cache shard and per featurization job
    num_workers: int = 0  # featurization processes; 0: one per CPU core


@dataclass
class ImageDataConfig:
    """The image splits of ``model.frontend=image``: IDX pairs, arrays or class folders."""

    # IDX images file (-ubyte or .idx, optionally .gz), .npy, .npz (images, labels) or a folder
    # with one sub-folder of PNG/JPEG images per class
    train: str | None = None
    train_labels: str | None = None  # the IDX or .npy labels of an IDX or .npy train file
    test: str | None = None  # as train
    test_labels: str | None = None
    valid_fraction: float = 0.1  # of each class of train, carved out (seeded) for validation
    crop_padding: int = 0  # training augmentation: random crop after this much zero padding
    flip: bool = False  # training augmentation: horizontal flip of half the images


@dataclass
class TextDataConfig:
    """The labelled table of ``model.frontend=text``: any csv/tsv, optionally compressed."""

    path: str | None = None  # the table; split into train, valid and test by split_seed
    text_column: str = "text"
    label_column: str = "label"  # labels are strings mapped to classes; the map is checkpointed
    valid_fraction: float = 0.1  # of each class, for validation
    test_fraction: float = 0.1  # of each class, for the test split
    split_seed: int = 0  # the split's own seed: every run (any seed) sees the same split
    cache_dir: str = "data/text"  # the split of each table and its WordPiece tokenizers


@dataclass
class DataConfig:
    """Which dataset, where it lives, and how its batches are formed."""

    name: str = "ogbg-molbbbp"  # an ogbg-mol* name (see datasets/) or a built custom dataset
    root: str = "data"  # folder holding built or downloaded datasets
    source: str | None = None  # SMILES table to build from when absent; null: ogb downloads
    num_workers: int = 0  # DataLoader worker processes
    # training batches per size-sorted mega-bucket; 1: random batches. Size-bucketed batches
    # (e.g. 50) pad less but bias SepNorm's [CLS] BatchNorm statistics (docs/results.md)
    bucket_size_multiplier: int = 1
    # training batches padded as this many size-sorted chunks; the [CLS] BatchNorm still sees
    # the whole batch, so random batches pad about as little as size-bucketed ones
    batch_chunks: int = 4
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    images: ImageDataConfig = field(default_factory=ImageDataConfig)
    text: TextDataConfig = field(default_factory=TextDataConfig)


@dataclass
class TrainConfig:
    """Optimisation."""

    epochs: int = 50  # passes over the training data
    batch_size: int = 64  # graphs per optimizer step, over all processes under torchrun
    eval_batch_size: int = 256  # graphs per evaluation and prediction batch
    lr: float = 2e-4  # peak AdamW learning rate
    weight_decay: float = 0.01  # AdamW's, on matrices only (not embeddings, norms, biases)
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 0
    grad_clip: float = 5.0  # max gradient norm; 0 disables
    max_steps: int = 0  # stop after this many optimizer steps; 0: no limit (for quick tests)
    checkpoint_every: int = 0  # also write the resumable last/ every K steps; 0: epoch ends only
    # stop once this many epochs in a row bring no better monitored value (valid metric or
    # held-out loss); 0: train every epoch. The schedule still spans train.epochs, so the
    # epochs trained are the same as without it
    patience: int = 0
    # fp32, or bf16 / fp16 autocast for training and evaluation ([CLS] statistics, losses and
    # metrics stay float32; fp16 scales the loss); bf16 wants a GPU or a CPU with AMX/AVX-512
    precision: str = "fp32"
    # torch.compile the training forward and backward (dynamic shapes); evaluation stays eager
    compile: bool = False
    # property task: train this many seeds (seed, seed + 1, ...) into out_dir/member-<k> and
    # score their mean (graphsep.tasks.property.ensemble); 1: one model
    ensemble: int = 1


@dataclass
class Config:
    """A whole run."""

    out_dir: str = "runs/default"  # metrics.jsonl, results.json and best/ go here
    seed: int = 0  # seeds weights, batch order, dropout, splits and masks
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    resume: str = "no"  # no (or false), or auto: continue from out_dir's last checkpoint
    progress: bool = True  # progress bars where the output is a terminal; false: none at all
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


CHOICES: dict[str, tuple[str, ...]] = {
    "model.core.norm": NORM_KINDS,
    "model.core.cls_norm": CLS_NORM_KINDS,
    "model.graph.node_kind": NODE_KINDS,
    "model.graph.edge_kind": EDGE_KINDS,
    "model.frontend": FRONTENDS,
    "model.image.positions": POSITION_KINDS,
    "task.classify.probe_norm": PROBE_NORMS,
    "task.property.mol_features": tuple(FEATURE_SETS),  # each entry
    "task.property.mol_features_into": FEATURE_ENTRIES,
    "task.name": TASKS,
    "resume": ("no", "auto"),
    "train.precision": tuple(PRECISIONS),
}
"""The values each choice key allows (each entry, for a list), from the modules defining them."""

RANGES: dict[str, Range] = {
    "seed": Range(0, 2**32 - 1),  # what NumPy's seed accepts
    "model.core.dim": AT_LEAST_1,
    "model.core.depth": AT_LEAST_1,
    "model.core.num_heads": AT_LEAST_1,
    "model.core.mlp_ratio": POSITIVE,
    "model.core.dropout": PROBABILITY,
    "model.core.attn_dropout": PROBABILITY,
    "model.graph.node_dims": AT_LEAST_1,  # each entry
    "model.graph.edge_dims": AT_LEAST_1,
    "model.graph.max_degree": AT_LEAST_0,
    "model.graph.max_distance": AT_LEAST_0,
    "model.graph.max_hops": AT_LEAST_1,
    "model.graph.local_layers": AT_LEAST_0,
    "model.image.image_size": AT_LEAST_1,
    "model.image.channels": Range(1, 3),
    "model.image.patch_size": AT_LEAST_1,
    "task.property.head_dropout": PROBABILITY,
    "task.mae.mask_ratio": OPEN_FRACTION,
    "task.mae.decoder_dim": AT_LEAST_1,
    "task.mae.decoder_depth": AT_LEAST_1,
    "task.mae.decoder_heads": AT_LEAST_1,
    "task.classify.head_dropout": PROBABILITY,
    "model.text.vocab_size": Range(100, 2**20),
    "model.text.max_length": Range(3, 2**15),
    "task.mlm.select_rate": OPEN_FRACTION,
    "task.mlm.mask_share": Range(0, 1),
    "task.mlm.random_share": Range(0, 1),
    "data.text.valid_fraction": OPEN_FRACTION,
    "data.text.test_fraction": OPEN_FRACTION,
    "data.text.split_seed": Range(0, 2**32 - 1),
    "data.images.valid_fraction": OPEN_FRACTION,
    "data.images.crop_padding": AT_LEAST_0,
    "task.masked_graph.atom_mask_rate": OPEN_FRACTION,
    "task.masked_graph.bond_mask_rate": OPEN_FRACTION,
    "task.masked_graph.atom_type_weight": POSITIVE,
    "data.num_workers": AT_LEAST_0,
    "data.bucket_size_multiplier": AT_LEAST_1,
    "data.batch_chunks": AT_LEAST_1,
    "data.corpus.max_molecules": AT_LEAST_0,
    "data.corpus.max_atoms": Range(1, 32767),  # int16 cache
    "data.corpus.held_out_fraction": OPEN_FRACTION,
    "data.corpus.held_out_max": AT_LEAST_0,
    "data.corpus.shard_size": AT_LEAST_1,
    "data.corpus.num_workers": AT_LEAST_0,
    "train.epochs": AT_LEAST_1,
    "train.batch_size": AT_LEAST_1,
    "train.eval_batch_size": AT_LEAST_1,
    "train.lr": AT_LEAST_0,  # 0 keeps the starting weights (e.g. to score model.init_from)
    "train.weight_decay": AT_LEAST_0,
    "train.warmup_epochs": AT_LEAST_0,
    "train.grad_clip": AT_LEAST_0,
    "train.ensemble": AT_LEAST_1,
    "train.max_steps": AT_LEAST_0,
    "train.checkpoint_every": AT_LEAST_0,
    "train.patience": AT_LEAST_0,
}
"""The allowed values of every numeric key (of each entry, for a list of numbers)."""
