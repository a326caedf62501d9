"""Without a pairwise bias the core hands SDPA no mask, or a boolean key mask: same outputs."""

from __future__ import annotations

import pytest
import torch

from graphsep.core.encoder import TransformerEncoder, attention_mask
from graphsep.core.norm import norm_layer


def tokens_and_mask(padded: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(5, 7, 16, generator=g)
    mask = torch.ones(5, 7, dtype=torch.bool)
    if padded:
        mask[1, 4:] = mask[3, 2:] = False  # [CLS] at 0 always real
    return tokens, mask


def test_the_mask_is_only_what_attention_needs():
    tokens, full = tokens_and_mask(padded=False)
    assert attention_mask(tokens, None, None) is None  # no padding: nothing to mask
    assert attention_mask(tokens, full, None).shape == (5, 1, 1, 7)  # decided without a read
    _, padded = tokens_and_mask(padded=True)
    key_mask = attention_mask(tokens, padded, None)
    assert key_mask.dtype == torch.bool and key_mask.shape == (5, 1, 1, 7)
    bias = attention_mask(tokens, padded, torch.zeros(5, 4, 7, 7))
    assert bias.dtype == tokens.dtype and bias.shape == (5, 4, 7, 7)
    assert torch.isinf(bias[1, :, :, 4:]).all() and (bias[1, :, :, :4] == 0).all()


@pytest.mark.parametrize("norm", ["sep", "share"])
@pytest.mark.parametrize("padded", [False, True])
def test_no_bias_gives_the_outputs_of_a_dense_zero_bias(norm, padded):
    torch.manual_seed(0)
    encoder = TransformerEncoder(16, depth=2, num_heads=4, norm_layer=norm_layer(norm)).train()
    tokens, mask = tokens_and_mask(padded)
    fast = encoder(tokens, mask if padded else None)  # a boolean key mask, or none
    dense = encoder(tokens, mask, torch.zeros(5, 4, 7, 7))  # the float path, as before
    torch.testing.assert_close(fast[mask], dense[mask], rtol=1e-5, atol=1e-5)
