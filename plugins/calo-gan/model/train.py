"""Trains the calo-gan conditional WGAN-GP on toydet showers and exports the generator.

    python train.py [--iters 3000] [--out .]

Reproducible: fixed seeds for the data (toydet seed 2001, 60,000 showers) and torch; one CPU
thread. Writes calo_gan.onnx, calo_gan.pt (TorchScript generator) and train_log.json.
"""

import argparse
import json
import pathlib
import tempfile
import time

import numpy as np
import torch

import gan
import toydet_data

SEED = 2001
N_SHOWERS = 60000
BATCH = 128
N_CRITIC = 3
GP_WEIGHT = 10.0
MOMENT_WEIGHT = 10.0
MOMENT_BATCH = 1536
CALIB_STEPS = 400
CALIB_BATCH = 6144


def load(path):
    """Tensors (cells [N, 504] GeV, energy [N, 1] GeV, one-hot [N, 3]) from a toydet calo npz."""
    d = np.load(path)
    n = len(d["energy"])
    cells = np.concatenate([d[f"layer{l}"].reshape(n, -1) for l in range(3)], axis=1)
    onehot = np.eye(3, dtype=np.float32)[d["particle"]]
    return torch.from_numpy(cells), torch.from_numpy(d["energy"][:, None]), torch.from_numpy(onehot)


def moment_loss(fake, real, energy, onehot):
    """Relative mismatch of mean and spread of total/E per particle type and log-energy bin
    (5 bins over 1-100 GeV), the quantities the model card promises. Fakes are generated at the
    real showers' conditions, so the two samples have the same (E, type) mixture in every bin."""
    loss = fake.new_zeros(())
    rf = fake.sum(1) / energy[:, 0]
    rr = real.sum(1) / energy[:, 0]
    ebin = torch.clamp((torch.log(energy[:, 0]) / 4.6052 * 5).long(), 0, 4)
    for k in range(3):
        for b in range(5):
            m = (onehot[:, k] > 0) & (ebin == b)
            if m.sum() > 10:
                mr, sr = rr[m].mean(), rr[m].std()
                loss = loss + (rf[m].mean() / mr - 1).abs() + (rf[m].std() / sr - 1).abs()
    return loss / 15


def calibrate(gen, cells, energy, onehot, steps=CALIB_STEPS):
    """Second stage: only the response head is trained, on the moment loss alone with large
    batches, to remove the residual bias of the adversarial stage in the mean response (a few
    per cent for pions) without touching the shower shapes. Its own random stream, so it can be
    rerun alone on a saved generator (--from-generator) with the same result."""
    g = torch.Generator().manual_seed(SEED + 1)
    for p in gen.parameters():
        p.requires_grad_(False)
    for p in gen.response.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(gen.response.parameters(), lr=1e-3)
    n = len(energy)
    for step in range(steps):
        idx = torch.randint(0, n, (CALIB_BATCH,), generator=g)
        e, p = energy[idx], onehot[idx]
        z = torch.randn(len(e), gan.Z_DIM, generator=g)
        fake = torch.cat([l.flatten(1) for l in gen(z, e, p)], 1)
        loss = moment_loss(fake, cells[idx], e, p)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            print(json.dumps({"calibration_step": step, "moment": loss.item()}), flush=True)
    for p in gen.parameters():
        p.requires_grad_(True)
    return loss.item()


def export(gen, out):
    gen.eval()
    noise = torch.zeros(2, gan.Z_DIM)
    energy = torch.tensor([[10.0], [50.0]])
    particle = torch.eye(3)[:2]
    torch.onnx.export(
        gen,
        (noise, energy, particle),
        str(out / "calo_gan.onnx"),
        input_names=["noise", "energy", "particle"],
        output_names=["layer0", "layer1", "layer2"],
        dynamic_axes={k: {0: "batch"} for k in ["noise", "energy", "particle", "layer0", "layer1", "layer2"]},
        opset_version=17,
        dynamo=False,
    )
    torch.jit.save(torch.jit.script(gen), str(out / "calo_gan.pt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=3000, help="generator updates")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent))
    ap.add_argument("--from-generator", help="skip the adversarial stage: calibrate this saved .pt")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        cells, energy, onehot = load(toydet_data.generate("calo", pathlib.Path(tmp) / "train.npz", N_SHOWERS, SEED))
    n = len(energy)
    gen, critic = gan.Generator(), gan.Critic()
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.9))
    g = torch.Generator().manual_seed(SEED)
    log, t0 = [], time.time()

    def batch():
        idx = torch.randint(0, n, (BATCH,), generator=g)
        return cells[idx], energy[idx], onehot[idx]

    def fake_of(e, p):
        z = torch.randn(len(e), gan.Z_DIM, generator=g)
        return torch.cat([l.flatten(1) for l in gen(z, e, p)], 1)

    iters = 0 if args.from_generator else args.iters
    if args.from_generator:
        gen.load_state_dict(torch.jit.load(args.from_generator).state_dict())
    for it in range(iters):
        for _ in range(N_CRITIC):
            real, e, p = batch()
            with torch.no_grad():
                fake = fake_of(e, p)
            eps = torch.rand(BATCH, 1, generator=g)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grad = torch.autograd.grad(critic(mix, e, p).sum(), mix, create_graph=True)[0]
            gp = ((grad.norm(dim=1) - 1) ** 2).mean()
            w = critic(real, e, p).mean() - critic(fake, e, p).mean()
            loss_c = -w + GP_WEIGHT * gp
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        real, e, p = batch()
        fake = fake_of(e, p)
        # The moment loss uses its own large batch: per-bin spreads need many showers.
        big = torch.randint(0, n, (MOMENT_BATCH,), generator=g)
        mom = moment_loss(fake_of(energy[big], onehot[big]), cells[big], energy[big], onehot[big])
        loss_g = -critic(fake, e, p).mean() + MOMENT_WEIGHT * mom
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if it % 100 == 0 or it == args.iters - 1:
            log.append({"iter": it, "wasserstein": w.item(), "gp": gp.item(), "moment": mom.item(),
                        "t": round(time.time() - t0, 1)})
            print(json.dumps(log[-1]), flush=True)
    adv_s = time.time() - t0
    calib = calibrate(gen, cells, energy, onehot)
    train_s = time.time() - t0
    export(gen, out)
    log_name = "calibration_log.json" if args.from_generator else "train_log.json"
    (out / log_name).write_text(json.dumps({
        "seed": SEED, "showers": N_SHOWERS, "iters": args.iters, "n_critic": N_CRITIC, "batch": BATCH,
        "moment_weight": MOMENT_WEIGHT, "moment_batch": MOMENT_BATCH,
        "train_seconds": round(train_s), "adversarial_seconds": round(adv_s),
        "calibration_steps": CALIB_STEPS, "calibration_batch": CALIB_BATCH, "final_moment": calib,
        "from_generator": args.from_generator, "torch": torch.__version__, "log": log}, indent=1))
    print(f"done in {train_s:.0f}s")


if __name__ == "__main__":
    main()
