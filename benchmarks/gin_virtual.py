"""A peer on the same splits: OGB's reference GIN with a virtual node, trained as OGB trains it.

    python benchmarks/gin_virtual.py --dataset ogbg-molbbbp --root benchmarks/work/data \\
        --seed 0 --out benchmarks/work/peers/molbbbp/gin-virtual-s0 [--epochs 100]

The model of OGB's ``examples/graphproppred/mol`` (``--gnn gin-virtual``), written here with
PyG's ``GINEConv``: OGB's ``AtomEncoder``, then 5 layers of width 300, each a GINE convolution
(a ``BondEncoder`` per layer, MLP ``d -> 2d -> d`` with BatchNorm), BatchNorm, ReLU (not after
the last) and dropout 0.5, with a virtual node added to every atom before each layer and
updated from the sum of the atoms (MLP with BatchNorm) between layers; mean pooling and a linear
head. Adam at 1e-3, batches of 32, 100 epochs, BCE on labelled entries (MSE for regression);
the test score is taken at the best valid epoch, as OGB's leaderboard asks.

The dataset is the one graphsep trains on (``graphsep.molecules.ogb_layout``: the OGB layout
and scaffold split, built offline from the MoleculeNet tables), scored by OGB's ``Evaluator``.
Writes ``metrics.jsonl`` (one row per epoch, as graphsep runs do, so ``graphsep plot`` draws
it) and, at the end, ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import peer_arguments, write_peer_results
from ogb.graphproppred import Evaluator
from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
from torch import Tensor, nn
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool

from graphsep.molecules.ogb_layout import load_ogb_dataset

LOWER_IS_BETTER = ("rmse", "mae")


def mlp(dim: int) -> nn.Sequential:
    """OGB's two-layer MLP, ``dim -> 2 dim -> dim``, BatchNorm and ReLU between."""
    return nn.Sequential(
        nn.Linear(dim, 2 * dim), nn.BatchNorm1d(2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim)
    )


class GINEVirtual(nn.Module):
    """GIN with a virtual node (Gilmer et al.; OGB's ``GNN_node_Virtualnode``), GINE edges.

    Args:
        num_tasks (int): head outputs.
        depth (int): message-passing layers. (default: 5)
        dim (int): width. (default: 300)
        dropout (float): after every layer and virtual-node update. (default: 0.5)
    """

    def __init__(self, num_tasks: int, depth: int = 5, dim: int = 300, dropout: float = 0.5):
        super().__init__()
        self.atoms = AtomEncoder(dim)
        self.virtual = nn.Embedding(1, dim)
        nn.init.zeros_(self.virtual.weight)
        self.bonds = nn.ModuleList(BondEncoder(dim) for _ in range(depth))
        self.convs = nn.ModuleList(GINEConv(mlp(dim), train_eps=True) for _ in range(depth))
        self.norms = nn.ModuleList(nn.BatchNorm1d(dim) for _ in range(depth))
        self.virtual_mlps = nn.ModuleList(
            nn.Sequential(mlp(dim), nn.BatchNorm1d(dim), nn.ReLU()) for _ in range(depth - 1)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_tasks)

    def forward(self, batch) -> Tensor:
        """Return ``(graphs, num_tasks)`` raw outputs for a PyG batch of OGB-featured molecules."""
        h = self.atoms(batch.x)
        virtual = self.virtual(torch.zeros(batch.num_graphs, dtype=torch.long, device=h.device))
        last = len(self.convs) - 1
        for layer, conv in enumerate(self.convs):
            h = h + virtual[batch.batch]
            out = self.norms[layer](conv(h, batch.edge_index, self.bonds[layer](batch.edge_attr)))
            if layer < last:
                virtual = self.dropout(
                    self.virtual_mlps[layer](global_add_pool(h, batch.batch) + virtual)
                )
                out = out.relu()
            h = self.dropout(out)
        return self.head(global_mean_pool(h, batch.batch))


def step_loss(model: GINEVirtual, batch, regression: bool) -> Tensor:
    """OGB's loss: BCE with logits (MSE for regression) over the labelled entries only."""
    output = model(batch)
    y = batch.y.to(output.dtype)
    labelled = ~torch.isnan(y)
    loss = nn.functional.mse_loss if regression else nn.functional.binary_cross_entropy_with_logits
    return loss(output[labelled], y[labelled])


@torch.no_grad()
def score(model: GINEVirtual, loader: DataLoader, evaluator: Evaluator) -> float:
    """The split's OGB metric (raw outputs: ROC-AUC is rank-based, RMSE in label units)."""
    model.eval()
    true, pred = [], []
    for batch in loader:
        true.append(batch.y.float())
        pred.append(model(batch))
    result = evaluator.eval({"y_true": torch.cat(true), "y_pred": torch.cat(pred)})
    return float(result[evaluator.eval_metric])


def train(args: argparse.Namespace) -> dict:
    """Train one seed; write ``metrics.jsonl`` per epoch and return the results."""
    torch.manual_seed(args.seed)
    dataset = load_ogb_dataset(args.dataset, args.root)
    split = dataset.get_idx_split()
    evaluator = Evaluator(args.dataset)
    regression = dataset.task_type == "regression"
    loaders = {
        part: DataLoader(dataset[split[part]], batch_size=32, shuffle=part == "train")
        for part in ("train", "valid", "test")
    }
    model = GINEVirtual(dataset.num_tasks)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    lower = evaluator.eval_metric in LOWER_IS_BETTER
    args.out.mkdir(parents=True, exist_ok=True)
    metrics = args.out / "metrics.jsonl"
    metrics.write_text("")
    best: dict = {}
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        losses = []
        for batch in loaders["train"]:
            if batch.num_graphs == 1:  # BatchNorm cannot train on one graph (OGB skips it too)
                continue
            loss = step_loss(model, batch, regression)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        row = {"epoch": epoch, "train_loss": sum(losses) / len(losses),
               "metric": evaluator.eval_metric,
               "valid": score(model, loaders["valid"], evaluator),
               "test": score(model, loaders["test"], evaluator),
               "seconds": time.perf_counter() - start}  # fmt: skip
        with metrics.open("a") as file:
            file.write(json.dumps(row) + "\n")
        if not best or (row["valid"] < best["valid"] if lower else row["valid"] > best["valid"]):
            best = row
    return {
        "dataset": args.dataset, "model": "gin-virtual", "metric": evaluator.eval_metric,
        "valid": best["valid"], "test": best["test"], "best_epoch": best["epoch"],
        "epochs_run": args.epochs, "seed": args.seed,
        "params": sum(p.numel() for p in model.parameters()),
        "hours": (time.perf_counter() - start) / 3600,
    }  # fmt: skip


def main() -> None:
    """Train and write ``results.json`` (only once the run has finished)."""
    args = peer_arguments(__doc__.splitlines()[0], epochs=100).parse_args()
    write_peer_results(args.out, train(args))


if __name__ == "__main__":
    main()
