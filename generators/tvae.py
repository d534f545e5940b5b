"""TVAE (Xu et al., 2019): a variational autoencoder on the same reversible matrix as CTGAN.

The encoder maps a row to a Gaussian posterior over a small latent space; the decoder maps a
latent point back to the row's encoding. The reconstruction loss follows the matrix's spans: a
Gaussian likelihood (with a learnt width per column) on each continuous offset, cross entropy on
each one-hot block (categories, modes, missing flags). Sampling decodes prior draws: offsets
through tanh, one-hot blocks by drawing from their softmax. The network works in the
width-grouped column order of ``SpanLayout``, so the loss is a few batched ops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from generators.base import EpochCallback, FitReport, Generator, GeneratorConfig, resolve_device
from generators.layout import EncodedTable, SpanLayout
from generators.registry import register


class TVAEConfig(GeneratorConfig):
    epochs: int = Field(300, ge=1)
    batch_size: int = Field(500, ge=2)
    embedding_dim: int = Field(128, ge=1)
    compress_dims: tuple[int, ...] = (128, 128)
    decompress_dims: tuple[int, ...] = (128, 128)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    loss_factor: float = Field(2.0, gt=0)  # weight of reconstruction against the KL term


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class _VAE(nn.Module):
    def __init__(self, data_dim: int, cfg: TVAEConfig):
        super().__init__()
        self.encoder = _mlp([data_dim, *cfg.compress_dims, 2 * cfg.embedding_dim])
        self.decoder = _mlp([cfg.embedding_dim, *cfg.decompress_dims, data_dim])
        self.log_sigma = nn.Parameter(torch.full((data_dim,), np.log(0.1), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_var = self.encoder(x).chunk(2, dim=1)  # (B, E) each
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        return self.decoder(z), mu, log_var


@register("tvae")
class TVAE(Generator):
    """Variational autoencoder for mixed tables."""

    config_class = TVAEConfig
    resumable = True
    config: TVAEConfig

    def __init__(self, config: Any = None):
        super().__init__(config)
        self.net: _VAE | None = None
        self.layout: SpanLayout | None = None  # the network sees columns in this order

    def _reconstruction(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Gaussian negative log-likelihood of the offsets (scalars come first in model order)
        plus the cross entropy of every one-hot block, per row."""
        s = self.layout.scalars
        log_sigma = self.net.log_sigma[:s]
        err = (x[:, :s] - torch.tanh(raw[:, :s])) ** 2 / (2 * torch.exp(2 * log_sigma))
        nll = (err + log_sigma).sum()
        cross_entropy = -(x[:, s:] * self.layout.log_probs(raw)[:, s:]).sum()
        return (nll + cross_entropy) / raw.shape[0]

    def _fit(self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None) -> FitReport:
        cfg = self.config
        device = resolve_device(cfg.device)
        self.layout = table.layout
        self.net = _VAE(table.layout.width, cfg).to(device)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        data = table.to(device)  # one-hot rows are built per batch
        n, batch = len(table), min(cfg.batch_size, len(table))
        gen = torch.Generator(device="cpu").manual_seed(seed)
        modules, optimisers, randomness = {"net": self.net}, {"net": opt}, {"order": gen}
        first, history, _ = self._resume_training(modules, optimisers, randomness)
        self.net.train()
        for epoch in range(first, cfg.epochs + 1):
            order = torch.randperm(n, generator=gen).to(device)
            totals, steps = np.zeros(2), 0
            for start in range(0, n - batch + 1, batch):  # full batches only
                x = data.batch(order[start : start + batch])
                raw, mu, log_var = self.net(x)
                recon = self._reconstruction(raw, x)
                kl = -0.5 * (1 + log_var - mu**2 - log_var.exp()).sum(dim=1).mean()
                loss = cfg.loss_factor * recon + kl
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    self.net.log_sigma.clamp_(np.log(0.01), np.log(1.0))
                totals += [recon.item(), kl.item()]
                steps += 1
            losses = dict(zip(("reconstruction", "kl"), (totals / steps).tolist(), strict=True))
            history.append({"epoch": epoch, **losses})
            self._end_epoch(epoch, cfg.epochs, history, modules, optimisers, randomness)
            if on_epoch is not None:
                on_epoch(epoch, cfg.epochs, losses)
        return FitReport(epochs=cfg.epochs, seconds=0.0, history=history)

    @torch.no_grad()
    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        device = next(self.net.parameters()).device
        gen = torch.Generator(device=device).manual_seed(seed)
        self.net.eval()
        out = []
        for start in range(0, n, 10_000):
            size = min(10_000, n - start)
            z = torch.randn(size, self.config.embedding_dim, generator=gen, device=device)
            # offsets through tanh; each block's argmax a draw from its softmax (Gumbel-max)
            rows = self.layout.draw(self.net.decoder(z), gen)  # in place: a fresh tensor
            out.append(rows.cpu().numpy())
        return self.layout.from_model(np.concatenate(out, axis=0))

    def _meta(self) -> dict[str, Any]:
        return {"data_dim": self.transformer.width}

    def _tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.layout = SpanLayout(self.transformer.spans)
        self.net = _VAE(meta["data_dim"], self.config).to(resolve_device(self.config.device))
        self.net.load_state_dict(tensors)
