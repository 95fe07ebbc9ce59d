"""Conditional WGAN-GP for the toy calorimeter: generator and critic (see MODEL.md)."""

import torch
from torch import nn

Z_DIM = 32
N_CELLS = (3 * 96, 12 * 12, 12 * 6)
N_TOTAL = sum(N_CELLS)


def energy_feature(energy):
    """Energy in GeV -> (log E - log 1) / (log 100 - log 1) - 0.5, i.e. [-0.5, 0.5] over 1-100 GeV."""
    # Literals, not the module constants: TorchScript cannot close over Python floats.
    return torch.log(torch.clamp(energy, min=1e-3)) / 4.605170185988092 - 0.5


class Generator(nn.Module):
    """(noise [N, Z], energy [N, 1] GeV, one-hot [N, 3]) -> layers in GeV, non-negative.

    A shared body feeds two heads: the total response (sum of cells / E, softplus) and the shape
    (ReLU cell weights normalised to sum 1; ReLU gives exact zeros as after zero suppression).
    cells = E * response * shape, so the energy scale and its spread are one explicit output
    that the moment loss can pin down, while the body keeps shape and response correlated.
    """

    def __init__(self, hidden=256):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(Z_DIM + 4, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        )
        self.shape = nn.Linear(hidden, N_TOTAL)
        self.response = nn.Linear(hidden, 1)

    def forward(self, noise, energy, particle):
        h = self.body(torch.cat([noise, energy_feature(energy), particle], dim=1))
        w = torch.relu(self.shape(h))
        frac = w / (w.sum(1, keepdim=True) + 1e-6)
        cells = frac * (nn.functional.softplus(self.response(h)) * energy)
        l0 = cells[:, :288].reshape(-1, 3, 96)
        l1 = cells[:, 288:432].reshape(-1, 12, 12)
        l2 = cells[:, 432:].reshape(-1, 12, 6)
        return l0, l1, l2


def summary_features(cells, energy):
    """Per-shower physics summaries the critic sees explicitly: total/E and layer fractions,
    plus per-layer energy/E (CaloGAN feeds layer energies to its discriminator too)."""
    n0, n1, _ = N_CELLS
    e0 = cells[:, :n0].sum(1, keepdim=True)
    e1 = cells[:, n0:n0 + n1].sum(1, keepdim=True)
    e2 = cells[:, n0 + n1:].sum(1, keepdim=True)
    tot = e0 + e1 + e2
    return torch.cat([tot / energy, e0 / energy, e1 / energy, e2 / energy, e0 / (tot + 1e-3), e2 / (tot + 1e-3)], 1)


class Critic(nn.Module):
    """Wasserstein critic on log-scaled cells, conditions and summary features."""

    def __init__(self, hidden=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(N_TOTAL + 6 + 4, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, cells, energy, particle):
        x = torch.log1p(cells / 0.01)  # cells in GeV; 10 MeV scale, compresses the core
        return self.net(torch.cat([x / 5.0, summary_features(cells, energy), energy_feature(energy), particle], 1))
