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

from typing import Any

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
        # where each span sits: scalar index, or (group, block within the group)
        self.scalar_slot = {s.start: k for k, s in enumerate(scalars)}
        self.slot: dict[int, tuple[int, int]] = {}
        for s in blocks:
            g = next(i for i, (start, count, dim) in enumerate(self.groups) if dim == s.dim)
            self.slot[s.start] = (g, (self.position[s.start] - self.groups[g][0]) // s.dim)
        # per group, which blocks are categories or missing flags (True) rather than a number's
        # modes (False): ``draw(..., likeliest_modes=True)`` leaves the latter undisturbed
        self.discrete = [np.zeros(count, dtype=bool) for _, count, _ in self.groups]
        for s in blocks:
            g, k = self.slot[s.start]
            self.discrete[g][k] = s.discrete
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
        likeliest_modes: bool = False,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """tanh on the scalars, Gumbel-softmax at temperature ``tau`` on every block.

        ``hard`` (for sampling): each block's argmax is a draw from its softmax (the Gumbel-max
        trick), which is all decoding reads, so the softmax is skipped and the block holds the
        perturbed logits. ``likeliest_modes``: a number's mode blocks get no Gumbel noise, a
        plain softmax at ``tau`` while training and their logits when ``hard`` (see ``draw``).
        ``noise``: the blocks' Gumbel noise drawn by the caller, as in ``draw``.
        """
        if hard:
            return self.draw(raw.clone(), generator, likeliest_modes=likeliest_modes, noise=noise)
        n = raw.shape[0]
        parts = [torch.tanh(raw[:, : self.scalars])]
        for g, (start, count, dim) in enumerate(self.groups):
            logits = raw[:, start : start + count * dim].reshape(n, count, dim)
            if noise is None:
                u = torch.rand(
                    logits.shape, generator=generator, device=raw.device, dtype=raw.dtype
                )
                part = negative_gumbel_(u)
            else:
                part = self._slice(noise, start, count, dim).reshape(n, count, dim)
            part = self._mode_noise(part, g, likeliest_modes)
            parts.append(torch.softmax((logits - part) / tau, dim=2).reshape(n, count * dim))
        return torch.cat(parts, dim=1)

    def draw(
        self,
        raw: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        likeliest_modes: bool = False,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``activate(raw, hard=True)`` in place: ``raw`` is overwritten and returned, so sampling
        allocates no second matrix (the same random draws in the same order, the same values).

        ``noise``: the blocks' noise drawn by the caller, ``negative_gumbel_`` of uniforms of
        shape (rows, width - scalars); ``generator`` is then not used.

        ``likeliest_modes``: a number's mode blocks keep their logits, so decoding takes the
        mode the network scores highest instead of drawing one. The scalar offset was generated
        for that mode; a drawn mode that differs decodes the offset in the wrong mode's units,
        which in a series shows as a jump between neighbouring visits. Categories and missing
        flags are drawn as always (the same random stream is consumed either way).
        """
        raw[:, : self.scalars].tanh_()
        for g, (start, count, dim) in enumerate(self.groups):
            block = raw[:, start : start + count * dim]
            if noise is None:
                u = torch.rand(block.shape, generator=generator, device=raw.device, dtype=raw.dtype)
                part = negative_gumbel_(u)
            else:
                part = self._slice(noise, start, count, dim)
            block -= self._mode_noise(part, g, likeliest_modes)
        return raw

    def _slice(self, noise: torch.Tensor, start: int, count: int, dim: int) -> torch.Tensor:
        """A group's columns of the caller's noise, which covers the blocks alone (no scalars)."""
        return noise[:, start - self.scalars : start - self.scalars + count * dim]

    def _mode_noise(self, noise: torch.Tensor, g: int, likeliest_modes: bool) -> torch.Tensor:
        """Group ``g``'s Gumbel noise, zero on a number's mode blocks with ``likeliest_modes``."""
        if not likeliest_modes or self.discrete[g].all():
            return noise
        _, count, dim = self.groups[g]
        keep = torch.as_tensor(self.discrete[g], dtype=noise.dtype, device=noise.device)
        return (noise.reshape(-1, count, dim) * keep[:, None]).reshape(noise.shape)

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


def negative_gumbel_(u: torch.Tensor) -> torch.Tensor:
    """Uniforms in (0, 1) turned, in place, into minus Gumbel noise: ``log(-log u)``; a block
    minus it has its argmax distributed as the block's softmax (the Gumbel-max trick)."""
    return u.clamp_min_(1e-10).log_().neg_().clamp_min_(1e-10).log_()


class EncodedTable:
    """Training rows in model order without the one-hot blocks materialised.

    ``scalars`` (rows, S) holds the tanh columns; ``codes[g]`` (rows, blocks of group g) the
    category of each block. A 2,000-code diagnosis column costs one integer per row here instead
    of 2,000 floats; models expand batches (``batch``) as they train.
    """

    def __init__(self, layout: SpanLayout, scalars: np.ndarray, codes: list[np.ndarray]):
        self.layout, self.scalars, self.codes = layout, scalars, codes

    def __len__(self) -> int:
        return len(self.scalars)

    @classmethod
    def encode(
        cls, transformer: Any, df: Any, seed: int = 0, only: set[str] | None = None
    ) -> EncodedTable:
        """``layout.to_model(transformer.transform(df, seed))``, one column at a time and
        without the one-hot blocks: the same values, a fraction of the memory. With ``only``,
        just those columns are encoded (``df`` may lack the others; their slots stay 0)."""
        from generators.transforms import DiscreteTransform

        layout = SpanLayout(transformer.spans)
        rng = np.random.default_rng(seed)
        n = len(df)
        scalars = np.zeros((n, layout.scalars), dtype=np.float32)
        codes = [np.zeros((n, count), dtype=np.int64) for _, count, _ in layout.groups]
        spans = iter(transformer.spans)
        for t in transformer.transforms:
            if only is not None and t.column not in only:
                for _ in t.dims:
                    next(spans)
                continue
            values = transformer._input(t, df)
            if isinstance(t, DiscreteTransform):  # one block: its codes, no one-hot
                span = next(spans)
                g, slot = layout.slot[span.start]
                codes[g][:, slot] = t.codes(values)
                continue
            block = t.encode(values, rng)  # a few columns: scalar, modes, missing flag
            offset = 0
            for _ in t.dims:
                span = next(spans)
                part = block[:, offset : offset + span.dim]
                offset += span.dim
                if span.activation == "tanh":
                    scalars[:, layout.scalar_slot[span.start]] = part[:, 0]
                else:
                    g, slot = layout.slot[span.start]
                    codes[g][:, slot] = part.argmax(axis=1)
        return cls(layout, scalars, codes)

    def code_of(self, span: Span) -> np.ndarray:
        g, slot = self.layout.slot[span.start]
        return self.codes[g][:, slot]

    def scalar_of(self, span: Span) -> np.ndarray:
        return self.scalars[:, self.layout.scalar_slot[span.start]]

    def dense(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Rows in model order with their one-hot blocks (for batches, or small tables)."""
        parts = [self.scalars[rows]]
        for (_, count, dim), codes in zip(self.layout.groups, self.codes, strict=True):
            picked = codes[rows]
            parts.append(np.eye(dim, dtype=np.float32)[picked].reshape(len(picked), count * dim))
        return np.concatenate(parts, axis=1)

    def to(self, device: torch.device) -> TorchTable:
        return TorchTable(self, device)


class TorchTable:
    """An ``EncodedTable`` on a device; ``batch`` builds one-hot rows for the rows asked."""

    def __init__(self, table: EncodedTable, device: torch.device):
        self.groups = table.layout.groups
        self.scalars = torch.as_tensor(table.scalars, device=device)
        self.codes = [torch.as_tensor(c, device=device) for c in table.codes]

    def __len__(self) -> int:
        return len(self.scalars)

    def batch(self, rows: torch.Tensor) -> torch.Tensor:
        parts = [self.scalars[rows]]
        for (_, count, dim), codes in zip(self.groups, self.codes, strict=True):
            parts.append(F.one_hot(codes[rows], dim).reshape(len(rows), count * dim).float())
        return torch.cat(parts, dim=1)
