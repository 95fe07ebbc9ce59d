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

    The network predicts cell energies as fractions of the incident energy (ReLU: exact zeros as
    after zero suppression), so that the output scales with E by construction.
    """

    def __init__(self, hidden=256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(Z_DIM + 4, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, N_TOTAL),
        )

    def forward(self, noise, energy, particle):
        cond = torch.cat([noise, energy_feature(energy), particle], dim=1)
        cells = torch.relu(self.net(cond)) * (energy * 0.05)
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
