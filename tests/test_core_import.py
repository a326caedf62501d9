"""``graphsep.core`` needs torch alone: an image or text user installs no RDKit, OGB or PyG."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKED = ("rdkit", "ogb", "torch_geometric")

SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = {blocked!r}

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is not installed here")
            return None

    sys.meta_path.insert(0, Refuse())

    import torch
    from graphsep.core import ClsHead, ClsPredictor, CoreConfig, CoreInput, Encoder, SepNorm
    from graphsep.core import ShareNorm, TransformerEncoder

    class Patches(torch.nn.Module):
        # a stand-in front end of the contract: 8 tokens of 4 pixels, [CLS] prepended
        def __init__(self, dim):
            super().__init__()
            self.proj = torch.nn.Linear(4, dim)
            self.cls_token = torch.nn.Parameter(torch.zeros(dim))

        def forward(self, batch):
            tokens = self.proj(batch)
            cls = self.cls_token.expand(tokens.size(0), 1, -1)
            tokens = torch.cat([cls, tokens], dim=1)
            mask = torch.ones(tokens.shape[:2], dtype=torch.bool)
            return [CoreInput(tokens, mask)]

        def no_weight_decay(self):
            return {{"cls_token"}}

    torch.manual_seed(0)
    core = TransformerEncoder.from_config(CoreConfig(dim=16, depth=2, num_heads=4, norm="sep"))
    model = ClsPredictor(Encoder(Patches(16), core), ClsHead(16, num_outputs=3)).train()
    images = torch.randn(6, 8, 4)
    out = model(images)
    assert out.shape == (6, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert isinstance(core.blocks[0].norm1, SepNorm)
    assert ShareNorm(16)(torch.randn(2, 3, 16)).shape == (2, 3, 16)
    # the [CLS] BatchNorm saw this batch: its running mean moved off zero
    assert core.norm.cls_norm.running_mean.abs().sum() > 0
    assert "encoder.frontend.cls_token" in model.no_weight_decay()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("core ok")
    """
).format(blocked=BLOCKED)


def test_the_core_builds_and_runs_without_rdkit_ogb_or_pyg():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "core ok"


def test_the_guard_does_refuse_the_graph_front_end():
    # the same guard makes the graph front end fail to import: the test above can fail
    script = SCRIPT.split("import torch\n")[0] + "import graphsep.frontends.graph.checks\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0 and "is not installed here" in proc.stderr
