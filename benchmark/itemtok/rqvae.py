"""RQ-VAE (Zeghidour et al. 2021; as TIGER, Rajput et al. 2023, uses it for semantic IDs): an MLP
encoder maps an item's text embedding to a small latent, `levels` codebooks quantise it
residually (each level picks the nearest code to what the levels before left), and an MLP
decoder rebuilds the embedding from the sum of the chosen codes.

Training (TIGER's loss): reconstruction MSE plus, per level, the codebook term
||sg[r] - e||^2 and beta times the commitment term ||r - sg[e]||^2; gradients pass the quantiser
straight through. As in TIGER the codebooks start from k-means of the first latents (residual
k-means, benchmark.itemtok.residual), and, as common RQ-VAE code does against codebook collapse,
a code no item picked during an epoch is moved onto a random residual of that level. Inputs are
centred and scaled to unit mean variance for training; errors are reported in the input's units.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.itemtok.config import TokenizerConfig
from benchmark.itemtok.residual import residual_kmeans


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RQVAE(nn.Module):
    def __init__(self, dim: int, hidden: tuple[int, ...], latent: int, levels: int, codebook_size: int,
                 beta: float):
        super().__init__()
        self.encoder = _mlp([dim, *hidden, latent])
        self.decoder = _mlp([latent, *reversed(hidden), dim])
        self.codebooks = nn.Parameter(torch.zeros(levels, codebook_size, latent))
        self.beta = beta

    def quantise(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Codes (B, levels), the quantised latent (B, latent), the codebook + commitment loss and
        each level's residual (what that level quantised)."""
        residual, quantised = z, torch.zeros_like(z)
        codes, residuals, loss = [], [], z.new_zeros(())
        for codebook in self.codebooks:
            idx = torch.cdist(residual.detach(), codebook.detach()).argmin(dim=1)
            chosen = codebook[idx]
            loss = loss + F.mse_loss(chosen, residual.detach()) + self.beta * F.mse_loss(residual, chosen.detach())
            codes.append(idx)
            residuals.append(residual.detach())
            quantised = quantised + chosen
            residual = residual - chosen.detach()
        return torch.stack(codes, dim=1), quantised, loss, residuals

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        z = self.encoder(x)
        codes, quantised, vq_loss, residuals = self.quantise(z)
        rebuilt = self.decoder(z + (quantised - z).detach())  # straight-through estimator
        return rebuilt, codes, F.mse_loss(rebuilt, x) + vq_loss, residuals


def train_rqvae(x: np.ndarray, config: TokenizerConfig, codebook_size: int,
                ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Codes (n, levels) int64, the reconstruction (n, d) in x's units, and training figures."""
    start = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = float(np.sqrt(np.mean(x.var(axis=0)))) or 1.0
    inputs = torch.as_tensor((x - mean) / scale, dtype=torch.float32)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = RQVAE(x.shape[1], config.hidden, config.latent_dim, config.levels, codebook_size, config.beta)
    with torch.no_grad():
        _, init, _ = residual_kmeans(net.encoder(inputs).numpy(), config.levels, codebook_size, config.seed)
        net.codebooks.copy_(torch.as_tensor(np.stack(init), dtype=torch.float32))
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    losses, resets = [], 0
    for _ in range(config.epochs):
        net.train()
        used = torch.zeros(config.levels, codebook_size, dtype=torch.bool)
        total = 0.0
        for idx in torch.from_numpy(rng.permutation(len(inputs))).split(config.batch_size):
            _, codes, loss, residuals = net(inputs[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            used.scatter_(1, codes.T, True)
        losses.append(total / len(inputs))
        resets += _reset_dead_codes(net, used, residuals, rng)
    net.eval()
    with torch.no_grad():
        rebuilt, codes, _, _ = net(inputs)
    stats = {"train_seconds": round(time.perf_counter() - start, 3), "final_loss": losses[-1],
             "dead_code_resets": resets}
    return codes.numpy().astype(np.int64), rebuilt.double().numpy() * scale + mean, stats


def _reset_dead_codes(net: RQVAE, used: torch.Tensor, residuals: list[torch.Tensor], rng: np.random.Generator) -> int:
    """Move every code unused this epoch onto a random residual of its level from the last batch."""
    count = 0
    with torch.no_grad():
        for level, residual in enumerate(residuals):
            dead = torch.nonzero(~used[level]).flatten()
            if len(dead):
                picks = torch.from_numpy(rng.integers(len(residual), size=len(dead)))
                net.codebooks[level, dead] = residual[picks]
                count += len(dead)
    return count
