"""Per-patient summaries of encoded histories, differentiable, for DGAN's summary critic.

What a clinical prediction model reads from a patient's history is mostly a handful of
summaries: the last value of each lab, its mean, its lowest and highest, its trend, how often it
was measured, the last category of each finding. A critic that sees whole histories (static +
every visit) has to find these itself among hundreds of inputs, and on a few hundred patients it
under-weighs how they go with the static attributes (the outcome above all). ``PatientSummaries``
computes them from the model's own tensors (model column order, the visits' presence), in a way
gradients flow through, so a third critic can judge (static attributes, summaries) jointly,
as DoppelGANger's auxiliary critic judges the static attributes alone.

Per numeric measurement (the gap since the previous visit included), over the visits where it
was measured: mean, min, max, last value, and the least-squares slope over the visit index times
the longest history (the change over a history); with missing values also the share of visits
that measured it. Values are decoded from the mode-specific normalisation (offset and mode
probabilities; log scale for log-modelled labs) and standardised by the column's fitted mixture,
so every feature is of order one. Per category: the last visit's one-hot. Patients with no
measurement of a column get zeros for it.
"""

from __future__ import annotations

import numpy as np
import torch

from generators.layout import SpanLayout
from generators.transforms import DiscreteTransform, TableTransformer

_MASKED = 1e3  # standard units a visit not measured is pushed above the min / below the max


class PatientSummaries:
    """``summaries(steps, presence)``: (patients, features) from (patients, L, Wt) visits in
    model order and (patients, L) presence; ``names`` says what each feature is."""

    def __init__(self, transformer: TableTransformer, layout: SpanLayout, length: int):
        self.length = length
        self.numbers: list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.categories: list[np.ndarray] = []
        self.names: list[str] = []
        spans = iter(transformer.spans)
        for t in transformer.transforms:
            own = [next(spans) for _ in t.dims]
            if isinstance(t, DiscreteTransform):
                self.categories.append(layout.position[own[0].start] + np.arange(own[0].dim))
                self.names += [f"{t.column}_last={c}" for c in t.categories]
                continue
            offset = layout.scalar_slot[own[0].start]
            modes = layout.position[own[1].start] + np.arange(own[1].dim)
            missing = layout.position[own[2].start] + 1 if t.has_missing else None
            means, stds, weights = (
                np.asarray(v, dtype=float) for v in (t.means, t.stds, t.weights)
            )
            weights = weights / weights.sum()
            centre = float(weights @ means)
            spread = float(np.sqrt(max(weights @ (stds**2 + means**2) - centre**2, 1e-12)))
            # a visit's value in the column's standard units: sum_k p_k (4 s_k offset + m_k)
            scale = np.stack([4 * stds / spread, (means - centre) / spread])
            self.numbers.append((offset, modes, scale, missing))
            stats = ["mean", "min", "max", "last", "slope"] + (["measured"] if missing else [])
            self.names += [f"{t.column}_{s}" for s in stats]
        self._tensors: dict[torch.device, list[tuple[torch.Tensor, ...]]] = {}

    @property
    def width(self) -> int:
        return len(self.names)

    def _on(self, device: torch.device) -> list[tuple[torch.Tensor, ...]]:
        if device not in self._tensors:
            self._tensors[device] = [
                (torch.as_tensor(modes, device=device), torch.as_tensor(scale, device=device))
                for _, modes, scale, _ in self.numbers
            ]
        return self._tensors[device]

    def __call__(self, steps: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        n, length, _ = steps.shape
        index = torch.arange(length, device=steps.device, dtype=steps.dtype)
        parts: list[torch.Tensor] = []
        for (offset, _, _, missing), (modes, scale) in zip(
            self.numbers, self._on(steps.device), strict=True
        ):
            p = steps[..., modes]  # (n, L, K) mode probabilities (one-hot in real data)
            scale = scale.to(steps.dtype)
            value = (p * (steps[..., offset, None] * scale[0] + scale[1])).sum(2)
            seen = presence if missing is None else presence * (1 - steps[..., missing])
            count = seen.sum(1)
            total = count.clamp(min=1e-6)
            mean = (seen * value).sum(1) / total
            # min, max and last read the visits measured for sure (soft while training, where
            # presence and missing flags are probabilities; a mask, so no gradient through it)
            sure = (seen > 0.5).to(steps.dtype)
            any_sure = sure.amax(1)
            low = (value + (1 - sure) * _MASKED).amin(1) * any_sure
            high = (value - (1 - sure) * _MASKED).amax(1) * any_sure
            last = value.gather(1, _last(sure, index)[:, None])[:, 0] * any_sure
            # the trend over the visits measured for sure: a visit barely present would
            # otherwise fix a whole line (a weighted fit through two points ignores the weights)
            n_sure = sure.sum(1, keepdim=True).clamp(min=1)
            t_bar = (sure * index).sum(1, keepdim=True) / n_sure
            dt = (index - t_bar) * sure
            centred = value - (sure * value).sum(1, keepdim=True) / n_sure
            slope = (dt * centred).sum(1) / (dt * (index - t_bar)).sum(1).clamp(min=1e-6)
            stats = [mean, low, high, last, slope * max(self.length - 1, 1)]
            if missing is not None:
                stats.append(count / presence.sum(1).clamp(min=1e-6))
            parts.append(torch.stack(stats, dim=1))
        if self.categories:
            last_visit = _last((presence > 0.5).to(steps.dtype), index)  # present for sure
            at_last = steps[torch.arange(n, device=steps.device), last_visit]  # (n, Wt)
            for columns in self.categories:
                parts.append(at_last[:, columns])
        if not parts:
            return steps.new_zeros(n, 0)
        return torch.cat(parts, dim=1)


def _last(mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(n,) index of each row's last visit where ``mask`` (n, L) is 1; 0 where it is nowhere."""
    return (mask * (index + 1)).argmax(1)
