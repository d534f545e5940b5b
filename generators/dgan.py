"""DGAN: patient histories in the manner of DoppelGANger (Lin et al., 2020, "Using GANs for
Sharing Networked Time Series Data"), in plain PyTorch.

- **Static attributes first**: an MLP turns noise into a patient's static columns (age, sex,
  treatment, outcome); the sequence generator is conditioned on them at every step, so the
  visits belong to the patient they follow.
- **Batched recurrent generation**: a GRU emits ``steps_per_cell`` visits per cell, which
  shortens the recurrence (96 samples of an ECG are 12 cells at 8) and is what lets GANs keep
  long-range shape.
- **Variable length by a generation flag** (fixed when every real patient has the same length): each visit carries a probability of continuing;
  a patient's presence at visit t is the product of the flags up to t (soft while training,
  drawn when sampling), and every value after the last visit is zero, as in the real padding.
- **Irregular times and missing values**: the gap since the previous visit is generated like a
  measurement (mode-specific normalisation, in the data's units) and made positive when
  decoded, so times increase; a missing measurement is its column's missing flag.
- **Two critics** (WGAN-GP): one judges whole patients (static + every visit + presence), an
  auxiliary one the static attributes alone (DoppelGANger's fix for attributes that the
  sequence critic under-weighs). With ``summary_critic_weight`` a third judges each patient's
  static attributes with the summaries of its history that a clinical model reads (last, mean,
  min, max, trend of every measurement; ``generators.summaries``).

``generators.sequence`` holds the encoding; this module the networks and the training.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from generators.base import (
    MAX_CONDITION_ROUNDS,
    Checkpointing,
    FitReport,
    pack_checkpoint,
    prefixed,
    resolve_device,
    set_threads,
    unpack_checkpoint,
    update_average,
)
from generators.conditions import ConditionError
from generators.layout import SpanLayout, negative_gumbel_
from generators.registry import register
from generators.schema import DatasetSpec
from generators.sequence import (
    SequenceEncoder,
    check_sequences,
    follow_up_bounds,
    keep_constraints,
)
from generators.summaries import PatientSummaries

EpochCallback = Callable[[int, int, dict[str, float]], None]
SAMPLE_CHUNK = 2_000  # patients per generator call when sampling


class DGANConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = "auto"
    threads: int | None = None
    epochs: int = 400
    batch_size: int = 100
    static_noise: int = 32
    step_noise: int = 16
    static_dim: tuple[int, ...] = (128, 128)
    rnn_hidden: int = 128
    steps_per_cell: int = Field(0, ge=0)  # 0: about 12 cells for the longest patient
    critic_dim: tuple[int, ...] = (256, 256)
    lr: float = 1e-3
    gradient_penalty: float = 10.0
    static_critic_weight: float = 1.0
    gumbel_tau: float = 0.2
    # numeric measurements as each patient's range (generated with the static attributes) and
    # a shape within it (DoppelGANger's auto-normalisation); False: raw values by mixture modes
    patient_scaling: bool = False
    # weight of an auxiliary outcome classifier (AC-GAN, Odena et al. 2017): trained on the real
    # visits to predict the spec's target (a static category), its cross entropy on generated
    # visits against the generated outcome pulls every synthetic history towards its own outcome;
    # 0: off
    outcome_weight: float = Field(0.0, ge=0)
    # a visit's numbers encoded in their likeliest mixture mode, trained on a plain softmax of
    # the modes and sampled in the mode the network scores highest (categories and missing
    # flags are still drawn): a drawn mode decodes the offset in another mode's units, a jump
    # between neighbouring visits. Smoother series on ECG200 and PBC2, a little nearer to the
    # training patients (benchmarks/README.md): off by default
    likeliest_modes: bool = False
    # sample from an exponential moving average of the generators' weights (Yazici et al. 2019,
    # as CTGAN does): the raw generator oscillates around the equilibrium. On PBC2 better on
    # every score over three splits (discriminative 0.330 -> 0.247; benchmarks/README.md).
    # None: the last weights
    ema_decay: float | None = Field(0.995, gt=0, lt=1)
    # a static column the spec declares as a bound of the visit time (``year <= years``: no
    # visit after death or censoring) generated as the time left after the last visit, so every
    # patient keeps the rule by construction and no generated visit is censored away. False:
    # the bound generated as itself and the visits after it cut when sampling
    follow_up: bool = True
    # one Gumbel draw per patient for each visit's categories, missing flags and modes, shared
    # by all of its visits (common random numbers), in training and sampling: every visit is
    # still an exact draw from its own probabilities, but a category changes only where the
    # network moves them, as a patient's stage or edema does, instead of hopping between visits
    # on independent draws. On PBC2 the share of visits whose histologic stage changed went
    # 0.38 -> 0.16 (real 0.14) and the discriminative score 0.200 -> 0.113 over three splits
    # (benchmarks/README.md). False: an independent draw at every visit
    persistent_draws: bool = True
    # weight of a third critic on each patient's static attributes with the summaries a
    # clinical model reads from its history (per measurement: mean, min, max, last value, trend,
    # share measured; per category: the last one; ``generators.summaries``), which the
    # whole-history critic under-weighs on a few hundred patients. On ECG200 it carries the
    # beat's class into its shape (weight 1: TSTR 0.79 -> 0.91 x TRTR, mean of ten fits over
    # five folds); on PBC2 it did worse (discriminative 0.142 -> 0.258) and costs 60 % more time
    # an epoch (benchmarks/README.md), so 0 (off) by default: use it for fixed-length signals
    summary_critic_weight: float = Field(0.0, ge=0)


def _mlp(i: int, hidden: tuple[int, ...], o: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(i, h), nn.LeakyReLU(0.2)]
        i = h
    layers.append(nn.Linear(i, o))
    return nn.Sequential(*layers)


class _SequenceNet(nn.Module):
    """GRU over cells; each cell emits ``per_cell`` visits of ``width`` values and a flag."""

    def __init__(self, condition: int, noise: int, hidden: int, per_cell: int, width: int):
        super().__init__()
        self.per_cell, self.width = per_cell, width
        self.rnn = nn.GRU(condition + noise, hidden, batch_first=True)
        self.out = nn.Linear(hidden, per_cell * (width + 1))

    def forward(self, condition: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """(B, C) condition, (B, cells, N) noise -> (B, cells * per_cell, width + 1) raw."""
        cells = noise.shape[1]
        x = torch.cat([condition[:, None, :].expand(-1, cells, -1), noise], dim=2)
        h, _ = self.rnn(x)
        return self.out(h).reshape(noise.shape[0], cells * self.per_cell, self.width + 1)


@register("dgan")
class DGAN:
    """Static attributes, then visits conditioned on them (see the module doc)."""

    name: ClassVar[str]
    kind: ClassVar[str] = "sequence"
    resumable: ClassVar[bool] = (
        False  # no mid-training checkpoints (yet): an interrupted fit restarts
    )
    config_class: ClassVar[type[DGANConfig]] = DGANConfig

    def __init__(self, config: DGANConfig | dict[str, Any] | None = None):
        if isinstance(config, DGANConfig):
            config = config.model_dump()
        self.config = DGANConfig.model_validate(dict(config or {}))
        self.spec: DatasetSpec | None = None
        self.encoder: SequenceEncoder | None = None

    # -- networks -----------------------------------------------------------------------------
    def _build(self, device: torch.device) -> None:
        cfg, enc = self.config, self.encoder
        self.static_layout = SpanLayout(enc.static.spans)
        self.step_layout = SpanLayout(enc.steps.spans)
        self.length = enc.max_length
        self.per_cell = cfg.steps_per_cell or max(1, math.ceil(self.length / 12))
        self.cells = math.ceil(self.length / self.per_cell)
        ws, wt = enc.static.width, enc.steps.width
        self.static_net = _mlp(cfg.static_noise, cfg.static_dim, max(ws, 1)).to(device)
        self.sequence_net = _SequenceNet(ws, cfg.step_noise, cfg.rnn_hidden, self.per_cell, wt)
        self.sequence_net.to(device)

    def _generate(
        self, n: int, device: torch.device, generator: torch.Generator | None, hard: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(static (n, Ws), steps (n, L, Wt), presence (n, L)), all in model column order."""
        cfg = self.config
        ws, wt = self.encoder.static.width, self.encoder.steps.width
        z = torch.randn(n, cfg.static_noise, device=device, generator=generator)
        static = self.static_net(z)[:, :ws]
        if ws:
            static = self.static_layout.activate(static, cfg.gumbel_tau, generator, hard=hard)
        condition = static if not hard else self._soft(static)
        noise = torch.randn(n, self.cells, cfg.step_noise, device=device, generator=generator)
        raw = self.sequence_net(condition, noise)[:, : self.length]
        shared = None
        if cfg.persistent_draws:  # (n, 1, blocks) noise, the same at every visit
            blocks = wt - self.step_layout.scalars
            u = torch.rand(n, 1, blocks, device=device, generator=generator)
            shared = negative_gumbel_(u).expand(n, self.length, blocks).reshape(-1, blocks)
        values = self.step_layout.activate(
            raw[..., :wt].reshape(-1, wt),
            cfg.gumbel_tau,
            generator,
            hard=hard,
            likeliest_modes=cfg.likeliest_modes,
            noise=shared,
        )
        keep = torch.sigmoid(raw[..., wt])  # P(the patient has visit t | has visit t - 1)
        keep = torch.cat([torch.ones_like(keep[:, :1]), keep[:, 1:]], dim=1)  # >= 1 visit
        if self.encoder.fixed_length:  # every real patient has every visit: so do these
            keep = torch.ones_like(keep)
        if hard:
            u = torch.rand(keep.shape, device=device, generator=generator)
            keep = (u < keep).float()
        presence = torch.cumprod(keep, dim=1)
        steps = values.reshape(n, self.length, wt) * presence[..., None]
        return static, steps, presence

    def _soft(self, static: torch.Tensor) -> torch.Tensor:
        """Sampling conditions the visits on one-hot static categories, as training saw them
        (hard Gumbel-max leaves perturbed logits in the blocks)."""
        parts = [static[:, : self.static_layout.scalars]]
        for start, count, dim in self.static_layout.groups:
            block = static[:, start : start + count * dim].reshape(len(static), count, dim)
            parts.append(
                nn.functional.one_hot(block.argmax(2), dim).float().reshape(len(static), -1)
            )
        return torch.cat(parts, dim=1)

    # -- training -----------------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame,
        spec: DatasetSpec,
        *,
        seed: int = 0,
        on_epoch: EpochCallback | None = None,
        checkpointing: Checkpointing | None = None,
    ) -> FitReport:
        if checkpointing is not None:
            raise ValueError("dgan does not checkpoint mid-training (resumable is False)")
        if spec.sequence is None:
            raise ValueError("dgan needs a spec with sequence roles (id, time, static columns)")
        check_sequences(data, spec)
        cfg = self.config
        set_threads(cfg.threads)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        device = resolve_device(cfg.device)
        self.spec = spec
        self.encoder = SequenceEncoder.fit(
            data,
            spec,
            seed,
            patient_scaling=cfg.patient_scaling,
            likeliest_modes=cfg.likeliest_modes,
            follow_up=follow_up_bounds(spec) if cfg.follow_up else None,
        )
        encoded = self.encoder.encode(data, seed)
        self._build(device)
        n, length, wt = encoded.steps.shape
        real_static = torch.as_tensor(
            self.static_layout.to_model(encoded.static)
            if encoded.static.shape[1]
            else encoded.static,
            device=device,
        )
        real_steps = torch.as_tensor(
            self.step_layout.to_model(encoded.steps.reshape(-1, wt)).reshape(n, length, wt),
            device=device,
        )
        real_presence = torch.as_tensor(encoded.present, device=device)
        ws = real_static.shape[1]
        critic = _mlp(ws + length * (wt + 1), cfg.critic_dim, 1).to(device)
        static_critic = _mlp(max(ws, 1), cfg.critic_dim, 1).to(device)
        generators = [*self.static_net.parameters(), *self.sequence_net.parameters()]
        critics = [*critic.parameters(), *static_critic.parameters()]
        summarise = None
        if cfg.summary_critic_weight:  # (static, history summaries) judged together
            summarise = PatientSummaries(self.encoder.steps, self.step_layout, length)
            real_summary = torch.cat([real_static, summarise(real_steps, real_presence)], dim=1)
            summary_critic = _mlp(real_summary.shape[1], cfg.critic_dim, 1).to(device)
            critics += list(summary_critic.parameters())
        opt_g = torch.optim.Adam(generators, lr=cfg.lr, betas=(0.5, 0.9))
        opt_d = torch.optim.Adam(critics, lr=cfg.lr, betas=(0.5, 0.9))
        batch = min(cfg.batch_size, n)
        steps_per_epoch = max(1, n // batch)

        def whole(
            static: torch.Tensor, steps: torch.Tensor, presence: torch.Tensor
        ) -> torch.Tensor:
            return torch.cat([static, steps.reshape(len(steps), -1), presence], dim=1)

        def penalty(net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
            alpha = torch.rand(len(real), 1, device=device)
            mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(net(mixed).sum(), mixed, create_graph=True)
            return cfg.gradient_penalty * ((grad.norm(2, dim=1) - 1) ** 2).mean()

        def critic_loss(
            net: nn.Module, real: torch.Tensor, fake: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            """A WGAN-GP critic's loss on a batch, and its Wasserstein estimate (real - fake)."""
            fake = fake.detach()
            fake_score, real_score = net(fake).mean(), net(real).mean()
            return fake_score - real_score + penalty(net, real, fake), real_score - fake_score

        outcome = self._outcome_block()
        if outcome is not None:  # the auxiliary classifier: visits -> outcome category
            classifier = _mlp(length * (wt + 1), cfg.critic_dim, outcome[1] - outcome[0])
            classifier.to(device)
            opt_c = torch.optim.Adam(classifier.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
            real_outcome = real_static[:, outcome[0] : outcome[1]].argmax(1)

        def visits(steps: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
            return torch.cat([steps.reshape(len(steps), -1), presence], dim=1)

        # the averaged copies sample; the optimiser updates the live networks
        nets = (self.static_net, self.sequence_net)
        averages = None
        if cfg.ema_decay is not None:
            averages = [copy.deepcopy(net).requires_grad_(False) for net in nets]
        step = 0
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            totals, outcome_totals, summary_total = np.zeros(2), np.zeros(2), 0.0
            for _ in range(steps_per_epoch):
                rows = torch.as_tensor(rng.choice(n, size=batch, replace=False), device=device)
                real = whole(real_static[rows], real_steps[rows], real_presence[rows])
                fake_static, fake_steps, fake_presence = self._generate(batch, device, None, False)
                fake = whole(fake_static, fake_steps, fake_presence)
                pad = (lambda x: x) if ws else (lambda x: x.new_zeros(len(x), 1))
                real_s, fake_s = pad(real_static[rows]), pad(fake_static)
                loss_d, _ = critic_loss(critic, real, fake)
                loss_s, _ = critic_loss(static_critic, real_s, fake_s)
                total_d = loss_d + cfg.static_critic_weight * loss_s
                if summarise is not None:
                    real_m = real_summary[rows]
                    fake_m = torch.cat([fake_static, summarise(fake_steps, fake_presence)], dim=1)
                    loss_m, distance = critic_loss(summary_critic, real_m, fake_m)
                    total_d = total_d + cfg.summary_critic_weight * loss_m
                    summary_total += distance.item()
                opt_d.zero_grad(set_to_none=True)
                total_d.backward()
                opt_d.step()
                loss_g = (
                    -critic(fake).mean() - cfg.static_critic_weight * static_critic(fake_s).mean()
                )
                if summarise is not None:
                    loss_g = loss_g - cfg.summary_critic_weight * summary_critic(fake_m).mean()
                if outcome is not None:
                    fit_c = nn.functional.cross_entropy(
                        classifier(visits(real_steps[rows], real_presence[rows])),
                        real_outcome[rows],
                    )
                    opt_c.zero_grad(set_to_none=True)
                    fit_c.backward()
                    opt_c.step()
                    # the visits should tell the patient's own (generated) outcome; the outcome's
                    # frequency is left to the static critic (no gradient into the static draw)
                    wanted = fake_static[:, outcome[0] : outcome[1]].argmax(1).detach()
                    told = nn.functional.cross_entropy(
                        classifier(visits(fake_steps, fake_presence)), wanted
                    )
                    loss_g = loss_g + cfg.outcome_weight * told
                    outcome_totals += [fit_c.item(), told.item()]
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                step += 1
                if averages is not None:
                    for average, net in zip(averages, nets, strict=True):
                        update_average(average, net, cfg.ema_decay, step)
                totals += [loss_g.item(), loss_d.item()]
            losses = dict(
                zip(("generator", "critic"), (totals / steps_per_epoch).tolist(), strict=True)
            )
            if outcome is not None:  # cross entropy of the outcome classifier, real / generated
                real_ce, fake_ce = (outcome_totals / steps_per_epoch).tolist()
                losses.update(outcome_real=real_ce, outcome_generated=fake_ce)
            if summarise is not None:  # the summary critic's estimate of the Wasserstein distance
                losses["summary_distance"] = summary_total / steps_per_epoch
            history.append({"epoch": epoch, **losses})
            if on_epoch is not None:
                on_epoch(epoch, cfg.epochs, losses)
        if averages is not None:  # the model (its checkpoint, its samples) is the average
            for average, net in zip(averages, nets, strict=True):
                net.load_state_dict(average.state_dict())
        return FitReport(epochs=cfg.epochs, seconds=time.perf_counter() - start, history=history)

    def _outcome_block(self) -> tuple[int, int] | None:
        """Model-order columns of the target's one-hot block among the static attributes, when
        ``outcome_weight`` is on and the target is a static category; else None."""
        target = self.spec.target
        if not self.config.outcome_weight or target not in self.spec.sequence.static:
            return None
        span = next(
            (s for s in self.encoder.static.spans if s.column == target and s.discrete), None
        )
        if span is None:  # a numeric static target: nothing to classify
            return None
        start = self.static_layout.position[span.start]
        return start, start + span.dim

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, n: int, *, seed: int = 0, first_id: int = 0) -> pd.DataFrame:
        """``n`` synthetic patients as a long table (one row per visit), ids from ``first_id``,
        keeping the spec's constraints (``keep_constraints``)."""
        if self.encoder is None:
            raise RuntimeError("dgan: sample before fit")
        if not self.spec.constraints:
            return self._draw(n, seed, first_id)
        roles, frames, have, drawn = self.spec.sequence, [], 0, 0
        for round_ in range(MAX_CONDITION_ROUNDS):
            rate = have / drawn if drawn else 1.0
            size = int(min(np.ceil((n - have) / max(rate, 1e-3) * 1.1) + 16, 100 * max(n, 1)))
            batch = keep_constraints(self._draw(size, seed + 7919 * round_, 0), self.spec)
            ids = batch[roles.id].drop_duplicates().iloc[: n - have]
            kept = batch[batch[roles.id].isin(ids)].copy()
            kept[roles.id] = pd.factorize(kept[roles.id])[0] + have + first_id
            frames.append(kept)
            have, drawn = have + len(ids), drawn + size
            if have == n:
                return pd.concat(frames, ignore_index=True)
        rules = ", ".join(rule.describe() for rule in self.spec.constraints)
        raise ConditionError(
            f"dgan produced {have} of {n} patients keeping {rules} in {drawn} draws: its "
            "histories (almost) never keep them"
        )

    def _draw(self, n: int, seed: int, first_id: int) -> pd.DataFrame:
        device = next(self.sequence_net.parameters()).device
        generator = torch.Generator(device=device).manual_seed(seed)
        parts, next_id = [], first_id
        self.static_net.eval()
        self.sequence_net.eval()
        with torch.no_grad():
            for start in range(0, n, SAMPLE_CHUNK):
                size = min(SAMPLE_CHUNK, n - start)
                static, steps, presence = self._generate(size, device, generator, True)
                lengths = presence.sum(1).round().long().cpu().numpy()
                wt = steps.shape[2]
                flat = self.step_layout.from_model(steps.reshape(-1, wt).cpu().numpy())
                static_np = static.cpu().numpy()
                if static_np.shape[1]:
                    static_np = self.static_layout.from_model(static_np)
                parts.append(
                    self.encoder.decode(
                        static_np, flat.reshape(size, self.length, wt), lengths, next_id
                    )
                )
                next_id += size
        return pd.concat(parts, ignore_index=True)

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self) -> dict[str, bytes]:
        if self.encoder is None:
            raise RuntimeError("dgan: nothing to save before fit")
        meta = {
            "generator": self.name,
            "config": self.config.model_dump(mode="json"),
            "spec": self.spec.model_dump(mode="json"),
            "encoder": self.encoder.to_dict(),
        }
        tensors = {
            **{f"static.{k}": v for k, v in self.static_net.state_dict().items()},
            **{f"sequence.{k}": v for k, v in self.sequence_net.state_dict().items()},
        }
        return pack_checkpoint(meta, tensors)

    @classmethod
    def load(cls, files: dict[str, bytes]) -> DGAN:
        meta, tensors = unpack_checkpoint(files, cls.name)
        model = cls(meta["config"])
        model.spec = DatasetSpec.model_validate(meta["spec"])
        model.encoder = SequenceEncoder.from_dict(model.spec, meta["encoder"])
        model._build(resolve_device(model.config.device))
        for prefix, net in (("static.", model.static_net), ("sequence.", model.sequence_net)):
            net.load_state_dict(prefixed(tensors, prefix))
        return model
