"""The [CLS] BatchNorm: statistics over the whole global batch, never failing on one vector.

SepNorm's [CLS] BatchNorm must mean the same on 1 or N processes: statistics over the whole
global batch. ``torch.nn.SyncBatchNorm`` does this on GPUs only; this module sums counts, sums
and squared sums with the autograd-aware ``torch.distributed.nn.all_reduce``, so it also runs
on gloo, and gradients flow through the shared statistics as in SyncBatchNorm. Outside a
process group it is ``nn.BatchNorm1d``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F
from torch import Tensor, nn


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` over ``(B, D)`` vectors with statistics over every rank's batch.

    A (global) batch of a single vector, such as the last batch of an epoch holding one graph,
    has no batch statistics: the running ones are used for it, as in eval, instead of failing.
    Arguments are those of ``nn.BatchNorm1d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Normalize ``x`` ``(B, D)``."""
        if not self.training:
            return super().forward(x)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return self._global_forward(x)
        if x.size(0) < 2:
            return self._with_running_stats(x)
        return super().forward(x)

    def _with_running_stats(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )

    def _global_forward(self, x: Tensor) -> Tensor:
        D = x.size(1)
        # float64 sums: E[x^2] - E[x]^2 in float32 loses the variance of vectors far from 0
        x64 = x.double()
        stats = torch.cat([x64.new_tensor([x.size(0)]), x64.sum(0), (x64 * x64).sum(0)])
        stats = dist_fn.all_reduce(stats)  # (1 + 2D,); every rank calls this, whatever its batch
        count, total, total_sq = stats[0], stats[1 : 1 + D], stats[1 + D :]
        if count.item() < 2:
            return self._with_running_stats(x)
        mean = total / count  # (D,)
        var = (total_sq / count - mean * mean).clamp(min=0)
        mean, var, count = mean.to(x.dtype), var.to(x.dtype), count.to(x.dtype)
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * count / (count - 1), self.momentum)  # unbiased
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
