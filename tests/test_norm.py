import pytest
import torch

from graphsep.core import CoreConfig
from graphsep.core.norm import SepNorm, ShareNorm, norm_layer
from graphsep.core.packing import ChunkLayout
from graphsep.frontends.graph.config import GraphConfig
from graphsep.frontends.graph.frontend import graph_encoder


def _layer_norm(x):
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - x.mean(-1, keepdim=True)) / torch.sqrt(var + 1e-5)


def _inputs(B=6, T=5, D=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, D, generator=g) * 3 + 1


@pytest.mark.parametrize("cls_norm", ["bn", "ln"])
def test_cls_output_ignores_tokens_and_tokens_ignore_cls(cls_norm):
    norm = SepNorm(16, cls_norm=cls_norm).train()
    x = _inputs()
    other_tokens = x.clone()
    other_tokens[:, 1:] = _inputs(seed=1)[:, 1:]
    other_cls = x.clone()
    other_cls[:, 0] = _inputs(seed=2)[:, 0]
    out = norm(x)
    assert torch.equal(norm(other_tokens)[:, 0], out[:, 0])
    assert torch.equal(norm(other_cls)[:, 1:], out[:, 1:])
    # the tokens really are LayerNorm-ed, and the [CLS] normalized by its own rule, each value
    # computed here from its definition rather than by the module under test
    torch.testing.assert_close(out[:, 1:], _layer_norm(x[:, 1:]))
    cls = x[:, 0]
    if cls_norm == "bn":  # over the batch, per feature, biased variance as BatchNorm trains
        expected = (cls - cls.mean(0)) / torch.sqrt(cls.var(0, unbiased=False) + 1e-5)
    else:  # over the features of each [CLS] vector
        expected = _layer_norm(cls)
    torch.testing.assert_close(out[:, 0], expected)


def test_share_norm_is_one_layer_norm_over_all_positions():
    x = _inputs()
    out = ShareNorm(16)(x)
    torch.testing.assert_close(out, _layer_norm(x))
    assert isinstance(norm_layer("share")(16), ShareNorm)
    with pytest.raises(ValueError, match="norm must be one of"):
        norm_layer("batch")
    with pytest.raises(ValueError, match="cls_norm must be one of"):
        norm_layer("sep", "group")


def test_single_graph_training_batch_uses_running_stats():
    norm = SepNorm(16).train()
    for seed in range(5):  # gather some running statistics
        norm(_inputs(seed=seed))
    lone = _inputs(B=1, seed=9)
    out = norm(lone)
    expected = (lone[:, 0] - norm.cls_norm.running_mean) / torch.sqrt(
        norm.cls_norm.running_var + norm.cls_norm.eps
    )
    torch.testing.assert_close(out[:, 0], expected * norm.cls_norm.weight + norm.cls_norm.bias)
    assert torch.isfinite(out).all()


def test_sep_and_share_models_differ_only_in_norm_modules():
    def build(norm):
        torch.manual_seed(0)
        return graph_encoder(CoreConfig(dim=32, depth=2, num_heads=4, norm=norm), GraphConfig())

    sep, share = build("sep").state_dict(), build("share").state_dict()
    a = {k: v for k, v in sep.items() if "norm" not in k}
    b = {k: v for k, v in share.items() if "norm" not in k}
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any("cls_norm.running_mean" in k for k in sep)
    assert not any("cls_norm" in k for k in share)


@pytest.mark.parametrize("kind", ["sep", "share"])
def test_chunks_are_normalized_as_one_batch(kind):
    norm = norm_layer(kind)(16).train()
    x = _inputs(B=7, T=5)
    chunks = [x[:3, :2], x[3:, :]]  # different lengths, as size-sorted chunks pad
    layout = ChunkLayout.of(chunks)
    assert layout.cls_index.tolist() == [0, 2, 4, 6, 11, 16, 21]
    out = layout.split(norm.forward_flat(layout.pack(chunks), layout.cls_index))
    whole = norm(x)
    torch.testing.assert_close(out[0], whole[:3, :2])
    torch.testing.assert_close(out[1], whole[3:])
    if kind == "sep":  # the [CLS] statistics span both chunks: zero mean over all 7 only
        cls = torch.cat([o[:, 0] for o in out])
        torch.testing.assert_close(cls.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
        assert not torch.allclose(out[0][:, 0].mean(0), torch.zeros(16), atol=1e-2)
