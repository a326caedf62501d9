"""The [CLS] BatchNorm: statistics over the whole global batch, float32, no host sync.

SepNorm's [CLS] BatchNorm must mean the same on 1 or N processes: statistics over the whole
global batch. ``torch.nn.SyncBatchNorm`` does this on GPUs only; this module sums counts, sums
and squared sums with a differentiable all-reduce (:func:`all_reduce_sum`), so it also runs on
gloo, and gradients flow through the shared statistics as in SyncBatchNorm. Outside a process
group it is ``nn.BatchNorm1d``. It computes in float32 with autocast off, whatever precision
the model runs in, and never reads a value back to the host (a global batch of one vector is
handled with ``torch.where``), so a GPU step does not wait at every SepNorm site.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of a sum taken on every rank is the summed gradient."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ARG004 - autograd's signature
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ARG004 - autograd's signature
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum ``x`` over every process of the default group, differentiably.

    ``torch.distributed.nn.functional.all_reduce`` does this too but is deprecated (a
    FutureWarning in every torchrun log); this is the same sum, forward and backward.
    """
    return _AllReduceSum.apply(x)


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` over ``(B, D)`` vectors with statistics over every rank's batch.

    A (global) batch of a single vector, such as the last batch of an epoch holding one graph,
    has no batch statistics: the running ones are used for it, as in eval, instead of failing.
    The output is float32. Arguments are those of ``nn.BatchNorm1d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Normalize ``x`` ``(B, D)``."""
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            if not self.training:
                return super().forward(x)
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                return self._global_forward(x)
            if x.size(0) < 2:  # the shape is known on the host: no sync
                return self._with_running_stats(x)
            return super().forward(x)

    def _with_running_stats(self, x: Tensor) -> Tensor:
        # copies: the global path updates the running statistics in place after this
        mean, var = self.running_mean.clone(), self.running_var.clone()
        return F.batch_norm(x, mean, var, self.weight, self.bias, False, 0.0, self.eps)

    def _global_forward(self, x: Tensor) -> Tensor:
        D = x.size(1)
        # float64 sums: E[x^2] - E[x]^2 in float32 loses the variance of vectors far from 0
        x64 = x.double()
        stats = torch.cat([x64.new_tensor([x.size(0)]), x64.sum(0), (x64 * x64).sum(0)])
        stats = all_reduce_sum(stats)  # (1 + 2D,); every rank calls this, whatever its batch
        count, total, total_sq = stats[0], stats[1 : 1 + D], stats[1 + D :]
        enough = count >= 2  # on the device: chosen with torch.where, never read back
        mean = total / count
        var = (total_sq / count - mean * mean).clamp(min=0)
        mean, var, count = mean.to(x.dtype), var.to(x.dtype), count.to(x.dtype)
        running = self._with_running_stats(x)  # before the running statistics move
        with torch.no_grad():
            self.num_batches_tracked += enough.long()
            unbiased = var * count / (count - 1).clamp(min=1)
            for stat, value in ((self.running_mean, mean), (self.running_var, unbiased)):
                stat.copy_(torch.where(enough, stat.lerp(value, self.momentum), stat))
        normed = (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return torch.where(enough, normed, running)
