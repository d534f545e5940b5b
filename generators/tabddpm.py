"""TabDDPM (Kotelnikov et al., 2023, "TabDDPM: Modelling Tabular Data with Diffusion Models").

One denoising network learns two diffusions at once:

- numbers (one linear offset per column, mapped to normal scores by their own empirical quantiles)
  go through Gaussian diffusion; the network predicts the added noise (Ho et al., 2020);
- every categorical block (categories, missing flags) goes through multinomial diffusion
  (Hoogeboom et al., 2021): towards the uniform distribution over its K values; the network
  predicts the clean category and is trained on the KL between the true and the predicted
  posterior of the previous step.

Both use the cosine schedule (Nichol & Dhariwal, 2021). The network is an MLP on the noisy row
plus a sinusoidal embedding of the step. Categorical blocks are grouped by width (``SpanLayout``),
so each step is a few batched ops whatever the number of columns.

Sampling runs the reverse chain from noise. A categorical condition is imposed inside the chain:
its block is held at the wanted value at every step, so the other columns are denoised
consistently with it (imputation by replacement), rather than drawn freely and filtered.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from scipy.special import ndtr, ndtri
from torch import nn
from torch.nn import functional as F

from generators.base import (
    EpochCallback,
    FitReport,
    Generator,
    GeneratorConfig,
    prefixed,
    resolve_device,
    update_average,
)
from generators.conditions import Condition
from generators.layout import EncodedTable, SpanLayout
from generators.registry import register
from generators.schema import DatasetSpec
from generators.transforms import TableTransformer

QUANTILES = 1000
SCORE_BOUND = 5.2  # normal scores are clipped here (probabilities 1e-7 from 0 and 1)
SAMPLE_CHUNK = 10_000
EPS = 1e-12


class TabDDPMConfig(GeneratorConfig):
    epochs: int = Field(300, ge=1)
    batch_size: int = Field(500, ge=2)
    timesteps: int = Field(100, ge=2, description="Diffusion steps (the paper uses 100 or 1000)")
    hidden_dims: tuple[int, ...] = (256, 256, 256)
    time_dim: int = Field(128, ge=2)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    ema_decay: float | None = 0.999  # sample from an average of the weights


def cosine_schedule(steps: int, s: float = 0.008) -> np.ndarray:
    """Cumulative signal share (alpha-bar) after each of ``steps`` steps."""
    t = np.arange(steps + 1) / steps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = np.clip(1 - alpha_bar[1:] / alpha_bar[:-1], 0, 0.999)
    return np.cumprod(1 - betas)


def _step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)  # (B, 2 * half)


class _Denoiser(nn.Module):
    def __init__(self, width: int, dims: tuple[int, ...], time_dim: int):
        super().__init__()
        self.time_dim = time_dim
        self.time = nn.Sequential(
            nn.Linear(2 * (time_dim // 2), dims[0]), nn.SiLU(), nn.Linear(dims[0], dims[0])
        )
        self.project = nn.Linear(width, dims[0])
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(nn.ReLU(), *layers, nn.Linear(dims[-1], width))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(x) + self.time(_step_embedding(t, self.time_dim)))


@register("tabddpm")
class TabDDPM(Generator):
    """Gaussian + multinomial diffusion for mixed tables."""

    config_class = TabDDPMConfig
    config: TabDDPMConfig
    resumable = True

    def __init__(self, config: Any = None):
        super().__init__(config)
        self.layout: SpanLayout | None = None
        self.trainee: _Denoiser | None = None
        self.net: _Denoiser | None = None  # the one that samples (the average, if kept)
        self.quantiles: np.ndarray | None = None  # (QUANTILES, scalars) per-column knots

    def _fit_transformer(
        self, data: pd.DataFrame, spec: DatasetSpec, seed: int
    ) -> TableTransformer:
        return TableTransformer.fit_linear(data, spec, seed)

    # -- schedule and pieces -------------------------------------------------------------------
    def _schedule(self, device: torch.device) -> None:
        alpha_bar = cosine_schedule(self.config.timesteps)
        prev = np.concatenate([[1.0], alpha_bar[:-1]])
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
        self.alpha_bar, self.alpha_bar_prev = as_t(alpha_bar), as_t(prev)
        self.alpha = as_t(alpha_bar / prev)
        self.beta = 1 - self.alpha
        self.posterior_var = as_t((1 - alpha_bar / prev) * (1 - prev) / (1 - alpha_bar))

    def _build(self, device: torch.device) -> None:
        cfg = self.config
        self.layout = SpanLayout(self.transformer.spans)
        self.trainee = _Denoiser(self.layout.width, cfg.hidden_dims, cfg.time_dim).to(device)
        if cfg.ema_decay is None:
            self.net = self.trainee
        else:
            self.net = _Denoiser(self.layout.width, cfg.hidden_dims, cfg.time_dim).to(device)
            self.net.load_state_dict(self.trainee.state_dict())
            self.net.requires_grad_(False)
        self._schedule(device)

    def _to_scores(self, scalars: np.ndarray) -> np.ndarray:
        """Per-column empirical quantiles to normal scores; ties get the middle of their run."""
        p = np.linspace(0, 1, len(self.quantiles))
        out = np.empty_like(scalars, dtype=np.float64)
        for j in range(scalars.shape[1]):
            q, x = self.quantiles[:, j], scalars[:, j]
            out[:, j] = 0.5 * (np.interp(x, q, p) - np.interp(-x, -q[::-1], -p[::-1]))
        bound = ndtr(SCORE_BOUND)
        return ndtri(np.clip(out, 1 - bound, bound))

    def _from_scores(self, scores: np.ndarray) -> np.ndarray:
        p = np.linspace(0, 1, len(self.quantiles))
        u = ndtr(np.clip(scores, -SCORE_BOUND, SCORE_BOUND))
        return np.stack(
            [np.interp(u[:, j], p, self.quantiles[:, j]) for j in range(scores.shape[1])], axis=1
        ).reshape(len(scores), -1)

    def _groups(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The categorical part as (rows, blocks, K) views, one per width."""
        n = x.shape[0]
        return [x[:, s : s + c * k].reshape(n, c, k) for s, c, k in self.layout.groups]

    @staticmethod
    def _one_hot_draw(probs: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(probs.shape, generator=gen, device=probs.device)
        pick = (torch.log(probs + EPS) - torch.log(-torch.log(u.clamp_min(1e-10)))).argmax(-1)
        return F.one_hot(pick, probs.shape[-1]).to(probs.dtype)

    def _posterior(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_{t-1} | x_t, x_0) of a (rows, blocks, K) group; ``x0`` may be probabilities."""
        k = x_t.shape[-1]
        a = self.alpha[t][:, None, None]
        ab_prev = self.alpha_bar_prev[t][:, None, None]
        unnorm = (a * x_t + (1 - a) / k) * (ab_prev * x0 + (1 - ab_prev) / k)
        return unnorm / unnorm.sum(-1, keepdim=True)

    def _update_average(self, step: int) -> None:
        if self.net is not self.trainee:
            update_average(self.net, self.trainee, self.config.ema_decay, step)

    # -- Generator contract ----------------------------------------------------------------------
    def _fit(self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None) -> FitReport:
        cfg = self.config
        device = resolve_device(cfg.device)
        self._build(device)
        self.quantiles = np.quantile(table.scalars, np.linspace(0, 1, QUANTILES), axis=0)
        scored = EncodedTable(
            table.layout, self._to_scores(table.scalars).astype(np.float32), table.codes
        )
        data = scored.to(device)  # one-hot rows are built per batch
        n, batch = len(data), min(cfg.batch_size, len(data))
        blocks = sum(c for _, c, k in self.layout.groups if k > 1)  # 1-wide blocks are constant
        opt = torch.optim.AdamW(self.trainee.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        modules = {"trainee": self.trainee, "net": self.net}
        first, history, extra = self._resume_training(modules, {"net": opt}, {"order": gen})
        step = extra.get("step", 0)
        total_steps = cfg.epochs * max(1, n // batch)
        self.trainee.train()
        for epoch in range(first, cfg.epochs + 1):
            order = torch.randperm(n, generator=gen).to(device)
            totals, steps = np.zeros(2), 0
            for start in range(0, n - batch + 1, batch):
                x0 = data.batch(order[start : start + batch])
                t = torch.randint(0, cfg.timesteps, (batch,), device=device)
                loss_num, loss_cat = self._losses(x0, t, blocks)
                loss = loss_num + loss_cat
                opt.zero_grad(set_to_none=True)
                loss.backward()
                for group in opt.param_groups:  # linear decay to 0, as in the paper
                    group["lr"] = cfg.lr * (1 - step / total_steps)
                opt.step()
                step += 1
                self._update_average(step)
                totals += [loss_num.item(), loss_cat.item()]
                steps += 1
            losses = dict(zip(("gaussian", "multinomial"), (totals / steps).tolist(), strict=True))
            history.append({"epoch": epoch, **losses})
            self._end_epoch(
                epoch, cfg.epochs, history, modules, {"net": opt}, {"order": gen}, {"step": step}
            )
            if on_epoch is not None:
                on_epoch(epoch, cfg.epochs, losses)
        return FitReport(epochs=cfg.epochs, seconds=0.0, history=history)

    def _losses(
        self, x0: torch.Tensor, t: torch.Tensor, blocks: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise-prediction MSE on the numbers; mean KL of the categorical posteriors (the
        decoder's negative log-likelihood at the first step), averaged over blocks."""
        s = self.layout.scalars
        ab = self.alpha_bar[t][:, None]
        noise = torch.randn_like(x0[:, :s])
        noisy = [ab.sqrt() * x0[:, :s] + (1 - ab).sqrt() * noise]
        clean = self._groups(x0)
        for g in clean:
            k = g.shape[-1]
            noisy.append(self._one_hot_draw(ab[:, :, None] * g + (1 - ab[:, :, None]) / k))
        x_t = torch.cat([noisy[0]] + [g.reshape(len(x0), -1) for g in noisy[1:]], dim=1)
        out = self.trainee(x_t, t)
        loss_num = F.mse_loss(out[:, :s], noise) if s else out.new_zeros(())
        loss_cat = out.new_zeros(())
        first = (t == 0)[:, None]
        for g0, gt, logits in zip(clean, noisy[1:], self._groups(out), strict=True):
            if g0.shape[-1] == 1:
                continue
            predicted = torch.softmax(logits, dim=-1)
            true_post = self._posterior(gt, g0, t)
            model_post = self._posterior(gt, predicted, t)
            kl = (true_post * (torch.log(true_post + EPS) - torch.log(model_post + EPS))).sum(-1)
            nll = -(g0 * torch.log_softmax(logits, dim=-1)).sum(-1)
            loss_cat = loss_cat + torch.where(first, nll, kl).sum(1).mean()
        return loss_num, loss_cat / max(blocks, 1)

    def _sample_given(self, n: int, *, seed: int, conditions: list[Condition]) -> np.ndarray:
        return self._sample(n, seed=seed, conditions=conditions)

    @torch.no_grad()
    def _sample(
        self, n: int, *, seed: int, conditions: list[Condition] | None = None
    ) -> np.ndarray:
        device = next(self.net.parameters()).device
        gen = torch.Generator(device=device).manual_seed(seed)
        self.net.eval()
        s, width = self.layout.scalars, self.layout.width
        held = torch.zeros(width, device=device)  # model columns held at a condition's value
        mask = torch.zeros(width, dtype=torch.bool, device=device)
        for c in conditions or []:
            start = self.layout.position[c.span.start]
            mask[start : start + c.span.dim] = True
            held[start + c.index] = 1.0
        out = []
        for begin in range(0, n, SAMPLE_CHUNK):
            size = min(SAMPLE_CHUNK, n - begin)
            num = torch.randn(size, s, generator=gen, device=device)
            groups = [
                self._one_hot_draw(torch.full((size, c, k), 1.0 / k, device=device), gen)
                for _, c, k in self.layout.groups
            ]
            for step in reversed(range(self.config.timesteps)):
                x = torch.cat([num] + [g.reshape(size, -1) for g in groups], dim=1)
                x = torch.where(mask, held, x)
                current = self._groups(x)  # with any condition held
                t = torch.full((size,), step, device=device, dtype=torch.long)
                pred = self.net(x, t)
                a, ab = self.alpha[step], self.alpha_bar[step]
                num = (num - (1 - a) / (1 - ab).sqrt() * pred[:, :s]) / a.sqrt()
                if step > 0:
                    num = num + self.posterior_var[step].sqrt() * torch.randn(
                        num.shape, generator=gen, device=device
                    )
                groups = [
                    self._one_hot_draw(self._posterior(g, torch.softmax(logits, dim=-1), t), gen)
                    for g, logits in zip(current, self._groups(pred), strict=True)
                ]
            x = torch.cat([num] + [g.reshape(size, -1) for g in groups], dim=1)
            out.append(torch.where(mask, held, x).cpu().numpy().astype(np.float64))
        rows = np.concatenate(out, axis=0) if out else np.zeros((0, width))
        rows[:, :s] = self._from_scores(rows[:, :s])
        return self.layout.from_model(rows)

    def _meta(self) -> dict[str, Any]:
        return {"width": self.transformer.width}

    def _tensors(self) -> dict[str, torch.Tensor]:
        state = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        state["quantiles"] = torch.as_tensor(self.quantiles)
        return state

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        if meta["width"] != self.transformer.width:
            raise ValueError("checkpoint's width does not match its transforms")
        self._build(resolve_device(self.config.device))
        self.net.load_state_dict(prefixed(tensors, "net."))
        self.quantiles = tensors["quantiles"].numpy()
