"""CTGAN (Xu et al., 2019, "Modeling Tabular Data using Conditional GAN"), in plain PyTorch.

- Mode-specific normalisation of continuous columns (``generators.transforms``).
- A conditional vector over discrete columns with training-by-sampling: each step picks a discrete
  column uniformly and a category by log-frequency, feeds it to the generator, draws real rows
  having it, and penalises the generator (cross entropy) when its output ignores the condition.
- PacGAN: the critic judges ``pac`` rows at once, which discourages mode collapse.
- WGAN loss with gradient penalty (Gulrajani et al., 2017).

Missing values are modelled, never dropped: a missing flag is a discrete column the conditional
vector may pick, so rare missingness patterns are seen during training.
"""

from __future__ import annotations

import itertools
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from generators import distributed
from generators.base import (
    Checkpointing,
    EpochCallback,
    FitReport,
    Generator,
    GeneratorConfig,
    mixed_precision,
    prefixed,
    resolve_device,
    update_average,
)
from generators.conditions import Condition
from generators.layout import EncodedTable, SpanLayout, negative_gumbel_
from generators.registry import register
from generators.schema import DatasetSpec
from generators.transforms import Span, TableTransformer

SAMPLE_CHUNK = 2_000  # rows per generator call when sampling: they stay in the CPU cache


class CTGANConfig(GeneratorConfig):
    epochs: int = 300
    batch_size: int = 500
    pac: int = 10
    embedding_dim: int = 128
    generator_dim: tuple[int, ...] = (256, 256)
    discriminator_dim: tuple[int, ...] = (256, 256)
    # bf16: the training step's matrix products in bfloat16 (autocast; weights and optimiser in
    # float32), on CUDA or a CPU with native bfloat16; sampling always runs in float32
    precision: Literal["fp32", "bf16"] = "fp32"
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    generator_decay: float = 1e-6
    discriminator_decay: float = 1e-6
    discriminator_steps: int = 1
    gradient_penalty: float = 10.0
    gumbel_tau: float = 0.2
    log_frequency: bool = True
    # Sample from an exponential moving average of the generator's weights (Yazici et al., 2019):
    # the raw generator oscillates around the equilibrium; its average sits closer to it.
    ema_decay: float | None = 0.995
    # Differential privacy (DP-SGD on the critic, Opacus): the critic is the only part that sees
    # real rows, so the generator inherits its guarantee. See ``_fit_private`` for what changes.
    dp_epsilon: float | None = Field(None, gt=0)
    dp_delta: float | None = Field(None, gt=0, lt=1)  # default 1 / (10 n), always below 1 / n
    dp_max_grad_norm: float = Field(1.0, gt=0)
    # DP-SGD keeps one gradient per row: a critic step runs in passes of as many rows as fit this
    # many MiB of per-row gradients (one-hot-wide tables: 15,000 columns cost 16 MB a row), the
    # passes' clipped gradients summed before the one noisy update (same step, same accounting)
    dp_grad_memory_mb: float = Field(1024.0, gt=0)
    # Data parallel: this many processes, one per GPU of the machine (NCCL; gloo on CPU), each
    # on batch_size / data_parallel rows of every step, gradients averaged (generators.distributed)
    data_parallel: int = Field(1, ge=1, le=64)

    @model_validator(mode="after")
    def _check_dp(self) -> CTGANConfig:
        if self.dp_delta is not None and self.dp_epsilon is None:
            raise ValueError("dp_delta is set but dp_epsilon is not")
        if self.precision != "fp32" and self.dp_epsilon is not None:
            raise ValueError("precision bf16 and dp_epsilon cannot be combined (fp32 DP-SGD only)")
        if self.data_parallel > 1 and self.dp_epsilon is not None:
            raise ValueError("data_parallel and dp_epsilon cannot be combined (one accountant)")
        if self.data_parallel > 1 and self.batch_size // self.data_parallel < self.pac:
            raise ValueError(
                f"batch_size {self.batch_size} over data_parallel {self.data_parallel} leaves "
                f"fewer rows a process than pac {self.pac}"
            )
        return self

    @property
    def private(self) -> bool:
        return self.dp_epsilon is not None


class _Residual(nn.Module):
    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(i, o), nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)  # (B, o + i)


class _GeneratorNet(nn.Module):
    def __init__(self, input_dim: int, dims: tuple[int, ...], data_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for d in dims:
            layers.append(_Residual(width, d))
            width += d
        layers.append(nn.Linear(width, data_dim))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class _FoldedGenerator:
    """A trained ``_GeneratorNet`` rewritten for sampling; the same outputs up to float rounding.

    - Batch norm (evaluation mode, an affine map) is folded into the weights before it.
    - A residual layer's input is the concatenation ``[h_k, ..., h_1, z, cond]``; instead of
      copying it at every layer, each layer's weights are split by the input they read, so every
      input is multiplied once, by the stacked weights of all the layers that read it, and added
      into one accumulator of all pre-activations.
    - ``cond`` is one-hot, so its product is a lookup of one weight row per sample row.

    On the flchain model this halves the generator's sampling time on the CI machine
    (``benchmarks/ctgan_step.py``).
    """

    def __init__(self, net: _GeneratorNet, embedding: int):
        *residuals, last = list(net.seq)
        weights, biases, self.dims = [], [], [m.fc.out_features for m in residuals]
        with torch.no_grad():
            for m in residuals:
                scale = m.bn.weight / torch.sqrt(m.bn.running_var + m.bn.eps)
                weights.append(m.fc.weight * scale[:, None])
                biases.append((m.fc.bias - m.bn.running_mean) * scale + m.bn.bias)
            weights.append(last.weight)
            biases.append(last.bias)
            layers = len(self.dims)
            # layer k reads [h_{k-1}, ..., h_0, z, cond]: z starts after the hidden blocks
            z_at = [sum(self.dims[:k]) for k in range(layers + 1)]
            self.bias = torch.cat(biases)
            self.from_z = torch.cat(
                [w[:, a : a + embedding] for w, a in zip(weights, z_at, strict=True)]
            ).t()
            # (cond width, all outputs): row c is what category c adds, bias included
            self.from_cond = (
                torch.cat([w[:, a + embedding :] for w, a in zip(weights, z_at, strict=True)]).t()
                + self.bias
            ).contiguous()
            self.from_hidden = []
            for j in range(layers):
                blocks = []
                for k in range(j + 1, layers + 1):
                    at = sum(self.dims[j + 1 : k])  # h_j's columns in layer k's input
                    blocks.append(weights[k][:, at : at + self.dims[j]])
                self.from_hidden.append(torch.cat(blocks).t().contiguous())
        self.starts = np.r_[0, np.cumsum(self.dims)].tolist()  # each layer's pre-activations

    def __call__(self, z: torch.Tensor, category: torch.Tensor | None) -> torch.Tensor:
        if category is None:
            acc = torch.addmm(self.bias, z, self.from_z)
        else:  # the lookup is the accumulator: addmm with a full-size base would copy it
            acc = torch.index_select(self.from_cond, 0, category).addmm_(z, self.from_z)
        for j, (start, stop) in enumerate(itertools.pairwise(self.starts)):
            acc[:, stop:].addmm_(torch.relu(acc[:, start:stop]), self.from_hidden[j])
        return acc[:, self.starts[-1] :]


class _ChunkNoise:
    """A sampling chunk's random numbers (the generator's input ``z`` and the blocks' Gumbel
    noise) from two seeded streams, one for each half of the chunk's rows.

    On CPU torch draws random numbers on one thread, which left one of two cores idle for a
    sixth of sampling (``benchmarks/ctgan_step.py``); the second half is drawn on a second
    thread. The rows depend on the seed only, never on the thread count or the device's
    threads: each half always comes from its own stream.
    """

    def __init__(self, seed: int, widths: tuple[int, int], device: torch.device):
        second = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
        self.streams = [
            torch.Generator(device=device).manual_seed(seed),
            torch.Generator(device=device).manual_seed(second),
        ]
        self.widths, self.device = widths, device
        parallel = device.type == "cpu" and torch.get_num_threads() > 1
        self.pool = ThreadPoolExecutor(1) if parallel else None

    def __enter__(self) -> _ChunkNoise:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def draw(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.empty(size, self.widths[0], device=self.device)
        gumbel = torch.empty(size, self.widths[1], device=self.device)
        half = size // 2
        second = (z[half:], gumbel[half:], self.streams[1])
        pending = self.pool.submit(self._fill, *second) if self.pool else None
        self._fill(z[:half], gumbel[:half], self.streams[0])
        if pending is None:
            self._fill(*second)
        else:
            pending.result()
        return z, gumbel

    @staticmethod
    def _fill(z: torch.Tensor, gumbel: torch.Tensor, stream: torch.Generator) -> None:
        z.normal_(generator=stream)
        negative_gumbel_(gumbel.uniform_(generator=stream))


class _Dropout(nn.Module):
    """Inverted dropout from one uniform draw: on CPU ``torch.bernoulli_`` (``nn.Dropout``) costs
    about 10x a uniform draw of the same size, and the critic runs four times a step."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, device=x.device, dtype=x.dtype) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))


class _Critic(nn.Module):
    def __init__(self, input_dim: int, dims: tuple[int, ...], pac: int):
        super().__init__()
        self.packed = input_dim * pac
        layers: list[nn.Module] = []
        width = self.packed
        for d in dims:
            layers += [nn.Linear(width, d), nn.LeakyReLU(0.2), _Dropout(0.5)]
            width = d
        layers.append(nn.Linear(width, 1))
        self.seq = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x.reshape(-1, self.packed))  # (B / pac, 1)


class ConditionSampler:
    """Conditional vectors over the discrete spans, and real rows that match them.

    Categories are numbered globally (span offset + category); ``rows`` holds, for each span,
    the row indices sorted by category, so picking a matching row is one vectorised gather.
    """

    def __init__(self, spans: list[Span], probs: list[list[float]]):
        self.spans = spans
        self.sizes = np.array([s.dim for s in spans], dtype=int)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(int)
        self.dim = int(self.sizes.sum())
        self.true_probs = [np.asarray(p, dtype=float) for p in probs]
        self.rows: np.ndarray | None = None

    @classmethod
    def from_table(
        cls, table: EncodedTable, spans: list[Span], log_frequency: bool
    ) -> ConditionSampler:
        n = len(table)
        codes = [table.code_of(s) for s in spans]
        counts = [
            np.bincount(c, minlength=s.dim).astype(float) for c, s in zip(codes, spans, strict=True)
        ]
        sampler = cls(spans, [c / n for c in counts])
        train = [np.log(c + 1) * (c > 0) if log_frequency else c for c in counts]
        sampler._train_cum = _padded_cumsum([t / t.sum() for t in train])
        sampler._true_cum = _padded_cumsum(sampler.true_probs)
        # rows sorted by category within each span; (start, count) per global category
        sampler.rows = (
            np.concatenate([np.argsort(c, kind="stable") for c in codes])
            if spans
            else np.zeros(0, int)
        )
        starts, cnts = [], []
        for j, c in enumerate(counts):
            starts.append(j * n + np.concatenate([[0], np.cumsum(c)[:-1]]))
            cnts.append(c)
        sampler.row_start = np.concatenate(starts).astype(int) if spans else np.zeros(0, int)
        sampler.row_count = np.concatenate(cnts).astype(int) if spans else np.zeros(0, int)
        return sampler

    def _draw(
        self, batch: int, rng: np.random.Generator, cum: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        col = rng.integers(len(self.spans), size=batch)
        cat = (cum[col] < rng.random(batch)[:, None]).sum(axis=1)
        cat = np.minimum(cat, self.sizes[col] - 1)
        return col, self.offsets[col] + cat

    def train_batch(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(span index, global category) per row, categories by (log-)frequency."""
        return self._draw(batch, rng, self._train_cum)

    def original_batch(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """Global categories by their true frequency, for sampling."""
        if not hasattr(self, "_true_cum"):
            self._true_cum = _padded_cumsum(self.true_probs)
        return self._draw(batch, rng, self._true_cum)[1]

    def matching_rows(self, category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pick = np.floor(rng.random(len(category)) * self.row_count[category]).astype(int)
        return self.rows[self.row_start[category] + pick]


def _padded_cumsum(probs: list[np.ndarray]) -> np.ndarray:
    width = max((len(p) for p in probs), default=1)
    out = np.ones((len(probs), width))
    for i, p in enumerate(probs):
        out[i, : len(p)] = np.cumsum(p)
    return out


@register("ctgan")
class CTGAN(Generator):
    """Conditional tabular GAN with PacGAN and WGAN-GP."""

    config_class = CTGANConfig
    resumable = True  # plain fits; a private fit starts afresh (its accountant is not saved)
    config: CTGANConfig

    def __init__(self, config: Any = None):
        super().__init__(config)
        self.generator: _GeneratorNet | None = None  # the one that samples (the average, if kept)
        self.trainee: _GeneratorNet | None = None  # the one the optimiser updates
        self.critic: _Critic | None = None
        self.sampler: ConditionSampler | None = None
        self.layout: SpanLayout | None = None  # the networks see columns in this order
        self.condition_columns: torch.Tensor | None = None  # global category -> model column

    def fit(
        self,
        data: pd.DataFrame,
        spec: DatasetSpec,
        *,
        seed: int = 0,
        on_epoch: EpochCallback | None = None,
        checkpointing: Checkpointing | None = None,
    ) -> FitReport:
        """As ``Generator.fit``; with ``data_parallel`` > 1 the fit runs in that many processes
        (no mid-training checkpoints then: each process has its own random streams)."""
        if self.config.data_parallel > 1 and distributed.current() is None:
            return self._fit_data_parallel(data, spec, seed, on_epoch)
        return super().fit(data, spec, seed=seed, on_epoch=on_epoch, checkpointing=checkpointing)

    def _fit_data_parallel(
        self, data: pd.DataFrame, spec: DatasetSpec, seed: int, on_epoch: EpochCallback | None
    ) -> FitReport:
        world = self.config.data_parallel
        results = distributed.launch(
            world,
            _fit_replica,
            self.config.model_dump(),
            data,
            spec,
            seed,
            on_message=None if on_epoch is None else (lambda m: on_epoch(*m)),
        )
        if len({r["fingerprint"] for r in results}) != 1:
            raise RuntimeError(f"ctgan data parallel: the {world} replicas' weights diverged")
        fitted = type(self).load(results[0]["files"])
        self.__dict__.update(fitted.__dict__)  # this object becomes the fitted model
        return FitReport(**results[0]["report"])

    @property
    def _pac(self) -> int:
        # Under DP a "sample" must be one patient, so the critic judges rows one at a time.
        return 1 if self.config.private else self.config.pac

    def _fit_transformer(
        self, data: pd.DataFrame, spec: DatasetSpec, seed: int
    ) -> TableTransformer:
        if self.config.private:
            return TableTransformer.from_spec(spec)
        return super()._fit_transformer(data, spec, seed)

    # -- pieces --------------------------------------------------------------------------------
    def _build(self, data_dim: int, cond_dim: int, device: torch.device) -> None:
        cfg = self.config
        self.layout = SpanLayout(self.transformer.spans)
        self.condition_columns = torch.as_tensor(
            self.layout.columns(self.sampler.spans), device=device
        )
        self.trainee = _GeneratorNet(cfg.embedding_dim + cond_dim, cfg.generator_dim, data_dim).to(
            device
        )
        self.critic = _Critic(data_dim + cond_dim, cfg.discriminator_dim, self._pac).to(device)
        if cfg.ema_decay is None:
            self.generator = self.trainee
        else:
            self.generator = _GeneratorNet(
                cfg.embedding_dim + cond_dim, cfg.generator_dim, data_dim
            ).to(device)
            self.generator.load_state_dict(self.trainee.state_dict())
            self.generator.requires_grad_(False)

    def _optimisers(self) -> tuple[torch.optim.Adam, torch.optim.Adam]:
        cfg = self.config
        opt_g = torch.optim.Adam(
            self.trainee.parameters(),
            lr=cfg.generator_lr,
            betas=(0.5, 0.9),
            weight_decay=cfg.generator_decay,
            fused=True,
        )
        opt_d = torch.optim.Adam(
            self.critic.parameters(),
            lr=cfg.discriminator_lr,
            betas=(0.5, 0.9),
            weight_decay=cfg.discriminator_decay,
            fused=True,
        )
        return opt_g, opt_d

    def _update_average(self, step: int) -> None:
        if self.generator is not self.trainee:
            update_average(self.generator, self.trainee, self.config.ema_decay, step)

    def _activate(
        self, raw: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.layout.activate(raw, self.config.gumbel_tau, generator)

    def _one_hot(self, category: np.ndarray, device: torch.device) -> torch.Tensor:
        cond = torch.zeros(len(category), self.sampler.dim, device=device)
        if self.sampler.dim:
            cond[torch.arange(len(category)), torch.as_tensor(category, device=device)] = 1.0
        return cond

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        pac, dim = self.config.pac, real.shape[1]
        alpha = (
            torch.rand(real.shape[0] // pac, 1, 1, device=real.device)
            .expand(-1, pac, dim)
            .reshape(-1, dim)
        )
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        score = self.critic(mixed)
        (grad,) = torch.autograd.grad(score.float().sum(), mixed, create_graph=True)
        norm = grad.reshape(-1, pac * dim).norm(2, dim=1)  # float32: ``mixed``'s own dtype
        return self.config.gradient_penalty * ((norm - 1) ** 2).mean()

    # -- Generator contract ----------------------------------------------------------------------
    def _fit(self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None) -> FitReport:
        if self.config.private:
            with warnings.catch_warnings():
                # expected and explained: no secure RNG (see _fit_private); Opacus' hooks on a
                # first layer whose input needs no gradient
                warnings.filterwarnings("ignore", message="Secure RNG turned off")
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                return self._fit_private(table, seed=seed, on_epoch=on_epoch)
        cfg = self.config
        group = distributed.current()  # None: one process
        world = 1 if group is None else group.world
        device = resolve_device(cfg.device) if group is None else group.device
        rng = np.random.default_rng(seed if group is None else [seed, group.rank])
        n = len(table)
        pac = cfg.pac
        batch = max(pac, min(cfg.batch_size, n) // world // pac * pac)  # rows a process, a step
        self.sampler = ConditionSampler.from_table(
            table, self.transformer.discrete_spans(), cfg.log_frequency
        )
        conditional = bool(self.sampler.spans)
        self._build(table.layout.width, self.sampler.dim, device)
        data = table.to(device)  # one-hot rows are built per batch
        opt_g, opt_d = self._optimisers()
        steps = max(1, n // (batch * world))
        modules = {"trainee": self.trainee, "generator": self.generator, "critic": self.critic}
        if group is not None:  # same weights everywhere, then each process its own noise
            group.broadcast(modules.values())
            torch.manual_seed(int(np.random.SeedSequence([seed, group.rank]).generate_state(1)[0]))
        optimisers = {"generator": opt_g, "critic": opt_d}
        first, history, extra = self._resume_training(modules, optimisers, {"numpy": rng})
        step = extra.get("step", 0)
        self.trainee.train()
        self.critic.train()
        # Each backward pass computes only the gradients its optimiser steps on: not the critic's
        # in the generator's step, nor the penalty's interpolated rows (about 1 ms of a 30 ms
        # step on the CI machine; the same gradients, so the same rows).
        critic_weights = list(self.critic.parameters())
        generator_weights = list(self.trainee.parameters())
        forward = mixed_precision(cfg.precision, device, self.name)
        for epoch in range(first, cfg.epochs + 1):
            totals = np.zeros(3)
            for _ in range(steps):
                # The last critic step's generated rows also serve the generator's step (as in
                # the DCGAN reference): one generator pass per step instead of two.
                for d in range(cfg.discriminator_steps):
                    z = torch.randn(batch, cfg.embedding_dim, device=device)
                    if conditional:
                        column, category = self.sampler.train_batch(batch, rng)
                        perm = rng.permutation(batch)
                        rows = self.sampler.matching_rows(category[perm], rng)
                        cond = self._one_hot(category, device)
                        cond_real = cond[torch.as_tensor(perm, device=device)]
                    else:
                        rows = rng.integers(n, size=batch)
                        cond = cond_real = torch.zeros(batch, 0, device=device)
                    real = data.batch(torch.as_tensor(rows, device=device))
                    last = d == cfg.discriminator_steps - 1
                    with forward, torch.set_grad_enabled(last):
                        raw = self.trainee(torch.cat([z, cond], dim=1))
                        fake = self._activate(raw)
                    fake_in = torch.cat([fake.detach(), cond], dim=1)
                    real_in = torch.cat([real, cond_real], dim=1)
                    with forward:
                        scores = self.critic(torch.cat([fake_in, real_in])).float()
                        penalty = self._gradient_penalty(real_in, fake_in)
                    fake_score, real_score = scores.chunk(2)
                    loss_d = fake_score.mean() - real_score.mean()
                    opt_d.zero_grad(set_to_none=True)
                    (loss_d + penalty).backward(inputs=critic_weights)
                    if group is not None:
                        group.average_gradients(self.critic)
                    opt_d.step()
                with forward:
                    score = self.critic(torch.cat([fake, cond], dim=1)).float()
                if conditional:  # each row's conditioned block should put its mass on the condition
                    wanted = self.condition_columns[torch.as_tensor(category, device=device)]
                    log_probs = self.layout.log_probs(raw.float())
                    cross_entropy = -log_probs[torch.arange(batch, device=device), wanted].mean()
                else:
                    cross_entropy = raw.new_zeros(())
                loss_g = -score.mean() + cross_entropy
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward(inputs=generator_weights)
                if group is not None:
                    group.average_gradients(self.trainee)
                opt_g.step()
                if group is not None:
                    group.average_buffers(self.trainee)
                    group.average_buffers(self.critic)
                step += 1
                self._update_average(step)
                totals += [loss_g.item(), loss_d.item(), cross_entropy.item()]
            if group is not None:
                totals = group.mean(totals)
            losses = dict(
                zip(("generator", "critic", "condition"), (totals / steps).tolist(), strict=True)
            )
            history.append({"epoch": epoch, **losses})
            self._end_epoch(
                epoch, cfg.epochs, history, modules, optimisers, {"numpy": rng}, {"step": step}
            )
            if on_epoch is not None:
                on_epoch(epoch, cfg.epochs, losses)
        return FitReport(epochs=cfg.epochs, seconds=0.0, history=history)

    def _fit_private(
        self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None
    ) -> FitReport:
        """DP-SGD on the critic at (dp_epsilon, dp_delta), accounted by Opacus (RDP).

        What differs from the plain fit, and why:
        - the transforms come from the spec's declared bounds and values (``_fit_transformer``);
        - no conditional vector: training-by-sampling draws rows by category frequencies, which
          are data; real rows are Poisson-sampled uniformly, as the accountant assumes;
        - pac 1 and the standard (non-saturating) GAN loss: the gradient penalty needs a second
          backward pass per sample, which DP-SGD's per-sample gradients do not support;
        - each step the critic sees real and generated rows in one batch, every row's gradient
          clipped to ``dp_max_grad_norm`` and Gaussian noise added before the update.
        """
        from opacus import PrivacyEngine
        from torch.utils.data import DataLoader, TensorDataset

        cfg = self.config
        device = resolve_device(cfg.device)
        n = len(table)
        delta = cfg.dp_delta if cfg.dp_delta is not None else 1.0 / (10 * n)
        if delta >= 1.0 / n:
            raise ValueError(f"dp_delta {delta:g} must be below 1/n = {1 / n:g} for {n} rows")
        batch = min(cfg.batch_size, n)
        self.sampler = ConditionSampler([], [])
        self._build(table.layout.width, 0, device)
        opt_g, opt_d = self._optimisers()
        loader = DataLoader(
            TensorDataset(torch.as_tensor(table.dense())),
            batch_size=batch,
            generator=torch.Generator().manual_seed(seed),
        )
        # Opacus' secure mode needs torchcsprng, which has no build for this torch; the noise
        # comes from torch's seeded generator instead (reported as secure_rng: false).
        engine = PrivacyEngine(accountant="rdp", secure_mode=False)
        critic, opt_d, loader = engine.make_private_with_epsilon(
            module=self.critic,
            optimizer=opt_d,
            data_loader=loader,
            target_epsilon=cfg.dp_epsilon,
            target_delta=delta,
            epochs=cfg.epochs,
            max_grad_norm=cfg.dp_max_grad_norm,
            noise_generator=torch.Generator(device=device).manual_seed(seed + 1),
        )
        empty = torch.zeros(batch, 0, device=device)
        row_bytes = 4 * sum(p.numel() for p in self.critic.parameters())
        rows_a_pass = max(1, int(cfg.dp_grad_memory_mb * 2**20 // row_bytes))
        history: list[dict[str, float]] = []
        step = 0
        self.trainee.train()
        critic.train()
        for epoch in range(1, cfg.epochs + 1):
            totals, steps = np.zeros(2), 0
            for (real,) in loader:
                real = real.to(device)
                with torch.no_grad():
                    z = torch.randn(batch, cfg.embedding_dim, device=device)
                    fake = self._activate(self.trainee(torch.cat([z, empty], dim=1)))
                labels = torch.cat([torch.ones(len(real)), torch.zeros(batch)]).to(device)
                loss_d = self._private_critic_step(
                    critic, opt_d, torch.cat([real, fake], dim=0), labels, rows_a_pass
                )

                critic.disable_hooks()  # the generator's step needs no per-sample gradients
                z = torch.randn(batch, cfg.embedding_dim, device=device)
                fake = self._activate(self.trainee(torch.cat([z, empty], dim=1)))
                loss_g = F.binary_cross_entropy_with_logits(
                    critic(fake).squeeze(1), torch.ones(batch, device=device)
                )
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                critic.enable_hooks()
                opt_d.zero_grad(set_to_none=True)  # drop the critic gradients of that pass
                step += 1
                steps += 1
                self._update_average(step)
                totals += [loss_g.item(), loss_d.item()]
            losses = dict(
                zip(("generator", "critic"), (totals / max(steps, 1)).tolist(), strict=True)
            )
            history.append({"epoch": epoch, **losses})
            if on_epoch is not None:
                on_epoch(epoch, cfg.epochs, losses)
        critic.remove_hooks()
        privacy = {
            "epsilon": float(engine.get_epsilon(delta)),
            "delta": delta,
            "target_epsilon": cfg.dp_epsilon,
            "noise_multiplier": float(opt_d.noise_multiplier),
            "max_grad_norm": cfg.dp_max_grad_norm,
            "sample_rate": batch / n,
            "steps": step,
            "accountant": "rdp (Opacus)",
            "secure_rng": False,
            "preprocessing": "spec bounds and values only (nothing fitted on the data)",
        }
        return FitReport(epochs=cfg.epochs, seconds=0.0, history=history, privacy=privacy)

    @staticmethod
    def _private_critic_step(
        critic: nn.Module,
        opt_d: torch.optim.Optimizer,
        rows: torch.Tensor,
        labels: torch.Tensor,
        rows_a_pass: int,
    ) -> torch.Tensor:
        """One DP-SGD step of the critic over ``rows`` in passes of ``rows_a_pass``: each pass's
        per-row gradients are clipped and summed into the optimiser (its step skipped), then
        freed; the last pass adds the noise, updates and accounts the step once. Each row's
        gradient is that of its own loss whatever the pass (Opacus scales a mean by the pass's
        rows), so the step equals one pass over all rows, in a bounded memory."""
        passes = list(zip(rows.split(rows_a_pass), labels.split(rows_a_pass), strict=True))
        opt_d.zero_grad(set_to_none=True)
        total = torch.zeros((), device=rows.device)
        for k, (x, y) in enumerate(passes):
            loss = F.binary_cross_entropy_with_logits(critic(x).squeeze(1), y)
            loss.backward()
            if k < len(passes) - 1:
                opt_d.signal_skip_step(do_skip=True)
            opt_d.step()  # clips each row's gradient; on the last pass: noise, update, account
            if k < len(passes) - 1:
                opt_d.zero_grad(set_to_none=True)  # frees the pass's per-row gradients only
            total = total + loss.detach() * len(x)
        return total / len(rows)

    def _sample_given(self, n: int, *, seed: int, conditions: list[Condition]) -> np.ndarray:
        """The first condition on a column the conditional vector covers goes in as the vector
        itself (what the generator was trained to honour); the rest are met by replacement."""
        spans = [s.column for s in self.sampler.spans]
        for c in conditions:
            if c.column in spans:
                j = spans.index(c.column)
                return self._sample(n, seed=seed, category=int(self.sampler.offsets[j]) + c.index)
        return self._sample(n, seed=seed)

    @torch.no_grad()
    def _sample(self, n: int, *, seed: int, category: int | None = None) -> np.ndarray:
        device = next(self.generator.parameters()).device
        rng = np.random.default_rng(seed)
        self.generator.eval()
        folded = _FoldedGenerator(self.generator, self.config.embedding_dim)
        conditional = bool(self.sampler.spans)
        out = torch.empty(n, self.layout.width)  # in the matrix's column order
        to_matrix = torch.as_tensor(self.layout.inverse, device=device)
        widths = (self.config.embedding_dim, self.layout.width - self.layout.scalars)
        with _ChunkNoise(seed, widths, device) as noise:
            for start in range(0, n, SAMPLE_CHUNK):
                size = min(SAMPLE_CHUNK, n - start)
                z, gumbel = noise.draw(size)
                if category is not None:
                    cond = torch.full((size,), category, device=device)
                elif conditional:
                    cond = torch.as_tensor(self.sampler.original_batch(size, rng), device=device)
                else:
                    cond = None
                rows = self.layout.draw(folded(z, cond), noise=gumbel)
                if device.type == "cpu":  # straight into place: no intermediate copy
                    torch.index_select(rows, 1, to_matrix, out=out[start : start + size])
                else:
                    out[start : start + size] = rows.index_select(1, to_matrix).cpu()
        return out.numpy()

    def _meta(self) -> dict[str, Any]:
        return {
            "data_dim": self.transformer.width,
            "condition_spans": [s.column for s in self.sampler.spans],
            "condition_probs": [p.tolist() for p in self.sampler.true_probs],
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        state = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        state.update({f"critic.{k}": v for k, v in self.critic.state_dict().items()})
        if self.trainee is not self.generator:
            state.update({f"trainee.{k}": v for k, v in self.trainee.state_dict().items()})
        return state

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        spans = self.transformer.discrete_spans() if meta["condition_spans"] else []
        if [s.column for s in spans] != meta["condition_spans"]:
            raise ValueError("checkpoint's condition spans do not match its transforms")
        self.sampler = ConditionSampler(spans, meta["condition_probs"])
        device = resolve_device(self.config.device)
        self._build(meta["data_dim"], self.sampler.dim, device)
        self.generator.load_state_dict(prefixed(tensors, "generator."))
        self.critic.load_state_dict(prefixed(tensors, "critic."))
        if self.trainee is not self.generator:
            self.trainee.load_state_dict(prefixed(tensors, "trainee."))


def _fit_replica(
    settings: dict[str, Any],
    data: pd.DataFrame,
    spec: DatasetSpec,
    seed: int,
    send: Any,
) -> dict[str, Any]:
    """One process of a data-parallel fit (``distributed.launch``): rank 0 reports progress and
    returns the fitted model; every rank returns its weights' fingerprint."""
    group = distributed.current()
    if settings.get("threads") is None and group.device.type == "cpu":
        settings = {**settings, "threads": torch.get_num_threads()}  # the launcher's share
    model = CTGAN(settings)
    lead = group.rank == 0
    report = model.fit(data, spec, seed=seed, on_epoch=(lambda *m: send(m)) if lead else None)
    return {
        "fingerprint": distributed.fingerprint([model.trainee, model.generator, model.critic]),
        "files": model.save() if lead else None,
        "report": {"epochs": report.epochs, "seconds": report.seconds, "history": report.history},
    }
