"""The model's own column order: blocks of equal width side by side, so activations are batched.

A table with 20 categorical columns and 10 mode-normalised numbers has 30 softmax blocks; a loop
over them costs 30 small kernels per op per step, forward and backward, which dominates a GAN
step on CPU. Gathering the blocks into a padded tensor costs a scatter in every backward pass.
Instead the model works in a permuted column order, fixed once: the tanh scalars first, then the
blocks grouped by width. Each group is a ``(rows, blocks, width)`` view, so the activation is one
softmax per distinct width (a handful), with no gather in the gradient. The training matrix is
permuted once on entry and generated rows once on exit.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from generators.transforms import Span


class SpanLayout:
    def __init__(self, spans: list[Span]):
        scalars = [s for s in spans if s.activation == "tanh"]
        blocks = sorted((s for s in spans if s.activation != "tanh"), key=lambda s: s.dim)
        order: list[int] = [i for s in scalars for i in range(s.start, s.stop)]
        self.scalars = len(order)
        self.groups: list[tuple[int, int, int]] = []  # (start, blocks, width) in model order
        self.position: dict[int, int] = {}  # a block's start in the matrix -> in model order
        for s in blocks:
            if self.groups and self.groups[-1][2] == s.dim:
                start, count, dim = self.groups[-1]
                self.groups[-1] = (start, count + 1, dim)
            else:
                self.groups.append((len(order), 1, s.dim))
            self.position[s.start] = len(order)
            order.extend(range(s.start, s.stop))
        self.order = np.asarray(order, dtype=int)  # model column k is matrix column order[k]
        self.inverse = np.argsort(self.order)
        self.width = len(order)

    def to_model(self, matrix: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(matrix[:, self.order])

    def from_model(self, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rows[:, self.inverse])

    def activate(
        self,
        raw: torch.Tensor,
        tau: float,
        generator: torch.Generator | None = None,
        *,
        hard: bool = False,
    ) -> torch.Tensor:
        """tanh on the scalars, Gumbel-softmax at temperature ``tau`` on every block.

        ``hard`` (for sampling): each block's argmax is a draw from its softmax (the Gumbel-max
        trick), which is all decoding reads, so the softmax is skipped and the block holds the
        perturbed logits.
        """
        n = raw.shape[0]
        parts = [torch.tanh(raw[:, : self.scalars])]
        for start, count, dim in self.groups:
            logits = raw[:, start : start + count * dim].reshape(n, count, dim)
            u = torch.rand(logits.shape, generator=generator, device=raw.device, dtype=raw.dtype)
            perturbed = logits - torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))
            if not hard:
                perturbed = torch.softmax(perturbed / tau, dim=2)
            parts.append(perturbed.reshape(n, count * dim))
        return torch.cat(parts, dim=1)

    def log_probs(self, raw: torch.Tensor) -> torch.Tensor:
        """(rows, width) log-softmax of every block in place; scalar columns are 0."""
        n = raw.shape[0]
        parts = [raw.new_zeros(n, self.scalars)]
        for start, count, dim in self.groups:
            logits = raw[:, start : start + count * dim].reshape(n, count, dim)
            parts.append(F.log_softmax(logits, dim=2).reshape(n, count * dim))
        return torch.cat(parts, dim=1)

    def columns(self, spans: list[Span]) -> np.ndarray:
        """Model-order column of every category of ``spans``, numbered as the spans run."""
        return np.concatenate(
            [self.position[s.start] + np.arange(s.dim) for s in spans] or [np.zeros(0, int)]
        ).astype(int)
