"""Interaction-network edge classifier for the toy tracker (the network only; see MODEL.md)."""

import math

import torch
from torch import nn


def mlp(n_in, n_hidden, n_out, final_norm=True):
    """Two linear layers with LayerNorm + ReLU (LayerNorm keeps summed messages well scaled)."""
    layers = [nn.Linear(n_in, n_hidden), nn.LayerNorm(n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out)]
    if final_norm:
        layers += [nn.LayerNorm(n_out), nn.ReLU()]
    return nn.Sequential(*layers)


class Block(nn.Module):
    """One residual message-passing step: update edges from their ends, then nodes from edges."""

    def __init__(self, hidden):
        super().__init__()
        self.edge_net = mlp(3 * hidden, hidden, hidden)
        self.node_net = mlp(3 * hidden, hidden, hidden)
        self.attention = nn.Linear(hidden, 1)

    def forward(self, h, e, src, dst, idx_src, idx_dst):
        e = e + self.edge_net(torch.cat([h[src], h[dst], e], dim=1))
        # Messages are weighted by a learned edge weight in (0, 1) so that, as iterations go on,
        # the many fake edges of a hit stop drowning its true neighbours (HEP.TrkX attention).
        m = e * torch.sigmoid(self.attention(e))
        # scatter_add exports to ONNX ScatterElements(reduction="add"): sums over incoming
        # (messages to the outer hit) and outgoing edges separately.
        m_in = torch.zeros_like(h).scatter_add(0, idx_dst, m)
        m_out = torch.zeros_like(h).scatter_add(0, idx_src, m)
        h = h + self.node_net(torch.cat([h, m_in, m_out], dim=1))
        return h, e


class EdgeClassifier(nn.Module):
    """Interaction network: encoders, `n_iter` residual edge/node updates, edge score head.

    Inputs are the preprocess.py node features x [n, 3] = (r/1000, phi/pi, z/1000) and the edge
    index [2, E] (src = inner hit, dst = outer hit). Only rotation-invariant quantities enter the
    network: (r, z) per node and differences per edge, so absolute phi is never used.
    """

    def __init__(self, hidden=32, n_iter=5):
        super().__init__()
        self.hidden = hidden
        self.n_iter = n_iter
        self.node_enc = mlp(2, hidden, hidden)
        self.edge_enc = mlp(5, hidden, hidden)
        self.blocks = nn.ModuleList([Block(hidden) for _ in range(n_iter)])
        self.head = mlp(3 * hidden, hidden, 1, final_norm=False)

    def forward(self, x, edge_index):
        r = x[:, 0]
        z = x[:, 2]
        src, dst = edge_index[0], edge_index[1]
        # dphi from the difference of the angles, wrapped into [-pi, pi]: sin(a)cos(b) - ... of
        # nearby angles cancels, so two runtimes' sin/cos kernels would disagree at 1e-4.
        dphi = (x[dst, 1] - x[src, 1]) * math.pi
        dphi = torch.where(dphi > math.pi, dphi - 2.0 * math.pi, dphi)
        dphi = torch.where(dphi < -math.pi, dphi + 2.0 * math.pi, dphi)
        sdphi = torch.sin(dphi)
        dr = r[dst] - r[src]
        dz = z[dst] - z[src]
        drs = torch.clamp(dr, min=1e-3)  # layers are >= 40 mm apart; guards odd inputs
        z0 = z[src] - r[src] * dz / drs
        # Signed curvature (1/m) of the circle through the beam line and both hits:
        # 2 sin(dphi) / chord; |kappa| <= 1.2 /m above 0.5 GeV. Matching curvature and z0 on
        # consecutive edges is what tells a track from a fake.
        shalf = torch.sin(0.5 * dphi)
        chord = torch.sqrt(torch.clamp(dr ** 2 + 4.0 * r[src] * r[dst] * shalf ** 2, min=1e-6))
        kappa = 2.0 * sdphi / chord
        edge_in = torch.stack([dr * 5.0, dz, sdphi * 10.0, kappa, z0 * 4.0], dim=1)
        h = self.node_enc(torch.stack([r * 2.0, z], dim=1))
        e = self.edge_enc(edge_in)
        idx_src = src.unsqueeze(1).expand(-1, self.hidden)
        idx_dst = dst.unsqueeze(1).expand(-1, self.hidden)
        for block in self.blocks:
            h, e = block(h, e, src, dst, idx_src, idx_dst)
        logit = self.head(torch.cat([h[src], h[dst], e], dim=1)).squeeze(1)
        return torch.sigmoid(logit)
