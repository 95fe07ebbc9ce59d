//! The arithmetic: gate products, the cell update, the dense head, and the exponential they all
//! rest on, written once and compiled twice (with and without fused multiply-add).
//!
//! Every output element is computed by the same sequence of operations whatever the batch it
//! arrives in: a jet's gates start from the bias and add one input's weights at a time in a fixed
//! order, whether the jet is computed alone or in a tile of four. So a row's result never depends
//! on which other rows share its call, and merging calls across events changes no bit.

use crate::{Dense, LstmClassifier};
use std::cell::RefCell;

/// Gate columns per block of the stored weights (two AVX vectors).
pub(crate) const BLOCK: usize = 16;
/// Blocks per pass of gate columns: the one-row tile covers a pass with eight AVX-512
/// accumulators (or two tiles of eight AVX ones), independent chains that hide the latency of the
/// adds.
const WIDE: usize = 8;
/// Gate columns per pass: the padded gate count is a multiple of it.
pub(crate) const PASS: usize = WIDE * BLOCK;
/// Blocks per pass of a dense layer's outputs (padded to a multiple of 64).
pub(crate) const DENSE_WIDE: usize = 4;
/// Rows per tile in the multi-row tile (one block per pass: eight accumulators).
const ROWS: usize = 4;

/// `a · b + c`: fused (one rounding) or not (two), as the compiled variant says.
pub(crate) trait MulAdd {
    /// Whether the target has 32 vector registers of 16 floats (AVX-512): larger tiles.
    const WIDE_REGS: bool = false;
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// Fused multiply-add; only used inside functions compiled with the `fma` target feature.
pub(crate) struct Fused;
/// Fused multiply-add with AVX-512's registers: the same operations per element as [`Fused`]
/// (so the same bits), in larger tiles.
pub(crate) struct Fused512;

impl MulAdd for Fused512 {
    const WIDE_REGS: bool = true;
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}
/// Separate multiply and add, for CPUs without FMA.
pub(crate) struct Separate;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that n · LN2_HI is exact for the n used here (Cody–Waite reduction).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
// 1.5 · 2^23: adding it rounds a float of magnitude < 2^22 to an integer held in the low bits.
const ROUND: f32 = 12_582_912.0;

/// e^x, within about 2 ulp, branch-free (it vectorises); NaN stays NaN. The argument is
/// clamped to [-87.3, 88.3], where 2^n stays a normal float: e^x underflows to ~1e-38 instead of
/// 0 and saturates at ~2e38 instead of infinity, which sigmoid and tanh below absorb.
#[inline(always)]
pub(crate) fn exp<M: MulAdd>(x: f32) -> f32 {
    // Comparisons are false for NaN, so NaN passes through.
    let x = if x < -87.3 { -87.3 } else { x };
    let x = if x > 88.3 { 88.3 } else { x };
    let t = M::mul_add(x, LOG2E, ROUND);
    let n = t - ROUND;
    let r = M::mul_add(n, -LN2_HI, x);
    let r = M::mul_add(n, -LN2_LO, r);
    // Cephes expf's minimax polynomial on [-ln2/2, ln2/2].
    let mut p = 1.987_569_1e-4f32;
    p = M::mul_add(p, r, 1.398_199_9e-3);
    p = M::mul_add(p, r, 8.333_452e-3);
    p = M::mul_add(p, r, 4.166_579_6e-2);
    p = M::mul_add(p, r, 1.666_666_5e-1);
    p = M::mul_add(p, r, 0.5);
    let e = M::mul_add(p, r * r, r) + 1.0;
    // 2^n from n's bits in t: t = ROUND + n exactly, so bits(t) - bits(ROUND) = n.
    let n_bits = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scale = f32::from_bits((n_bits.wrapping_add(127) << 23) as u32);
    e * scale
}

#[inline(always)]
fn sigmoid<M: MulAdd>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<M>(-x))
}

#[inline(always)]
fn tanh<M: MulAdd>(x: f32) -> f32 {
    1.0 - 2.0 / (exp::<M>(2.0 * x) + 1.0)
}

thread_local! {
    /// Each thread's buffers, reused across calls (a call of one jet would otherwise spend a
    /// fifth of its time in the allocator): the floats of [`forward`] and the row order.
    static BUFFERS: RefCell<(Vec<f32>, Vec<usize>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Buffers above this many floats (4 MB) are freed after the call rather than kept by the thread.
const KEEP_FLOATS: usize = 1 << 20;

/// Adds `v · W` to `acc` for `J` rows (the first `v[j].len()` of the `k_len` inputs) and `B` blocks of [`BLOCK`] gate columns starting at block
/// `blk`: `acc[j][c]` accumulates `v[j][k] · w[k][c]` for k = 0, 1, … in order (see the module
/// docs). `w` is stored pass by pass (`[unit / PASS][k][unit % PASS]`), so the one-row tile,
/// bound by how fast the weights arrive from the L2 cache, reads them as one contiguous stream.
#[inline(always)]
fn tile<M: MulAdd, const J: usize, const B: usize>(
    w: &[f32],
    k_len: usize,
    pass_blocks: usize,
    blk: usize,
    bias: &[f32],
    v: [&[f32]; J],
    out: [&mut [f32]; J],
) {
    let used = v[0].len();
    let mut acc = [[[0.0f32; BLOCK]; B]; J];
    let mut ws: [&[f32]; B] = [&[]; B];
    for q in 0..B {
        let b: &[f32; BLOCK] = bias[(blk + q) * BLOCK..(blk + q + 1) * BLOCK]
            .try_into()
            .expect("bias block");
        for a in acc.iter_mut() {
            a[q] = *b;
        }
        let b = blk + q;
        let stride = pass_blocks * BLOCK;
        let start = (b / pass_blocks) * k_len * stride + (b % pass_blocks) * BLOCK;
        ws[q] = &w[start..start + (k_len - 1) * stride + BLOCK];
    }
    for k in 0..used {
        for q in 0..B {
            let row: &[f32; BLOCK] = ws[q]
                [k * pass_blocks * BLOCK..k * pass_blocks * BLOCK + BLOCK]
                .try_into()
                .expect("weight block");
            for j in 0..J {
                let s = v[j][k];
                for c in 0..BLOCK {
                    acc[j][q][c] = M::mul_add(s, row[c], acc[j][q][c]);
                }
            }
        }
    }
    for (o, a) in out.into_iter().zip(acc) {
        for (q, aq) in a.iter().enumerate() {
            o[(blk + q) * BLOCK..(blk + q + 1) * BLOCK].copy_from_slice(aq);
        }
    }
}

/// One LSTM step's cell update from the gates (order i, o, f, c): `c ← f·c + i·tanh(g_c)`,
/// `h ← o·tanh(c)`.
#[inline(always)]
fn cell<M: MulAdd>(gates: &[f32], c: &mut [f32], h: &mut [f32]) {
    let n = c.len();
    let (gi, rest) = gates.split_at(n);
    let (go, rest) = rest.split_at(n);
    let (gf, rest) = rest.split_at(n);
    let gc = &rest[..n];
    for u in 0..n {
        let i = sigmoid::<M>(gi[u]);
        let o = sigmoid::<M>(go[u]);
        let f = sigmoid::<M>(gf[u]);
        let g = tanh::<M>(gc[u]);
        let cn = M::mul_add(f, c[u], i * g);
        c[u] = cn;
        h[u] = o * tanh::<M>(cn);
    }
}

/// One pass of gate columns (`pass`) for rows `first..first + J` (their first `used` inputs),
/// into `out` (one padded gate row per row, from row `first`), in tiles of `B` blocks that keep
/// 8–12 accumulators in registers.
#[inline(always)]
fn gates<M: MulAdd, const J: usize, const B: usize>(
    m: &LstmClassifier,
    v: &[f32],
    first: usize,
    used: usize,
    out: &mut [f32],
    pass: usize,
) {
    let (gp, k_len) = (m.gates_padded, m.features + m.hidden);
    let vs: [&[f32]; J] =
        std::array::from_fn(|q| &v[(first + q) * k_len..(first + q) * k_len + used]);
    for i in 0..WIDE / B {
        let blk = pass * WIDE + i * B;
        let mut rows = out[first * gp..].chunks_exact_mut(gp);
        let outs: [&mut [f32]; J] =
            std::array::from_fn(|_| rows.next().expect("a gate row per tile row"));
        tile::<M, J, B>(&m.w_gates, k_len, WIDE, blk, &m.b_gates, vs, outs);
    }
}

/// `out = act(x · W + b)` for one row, `out` as long as the padded layer.
#[inline(always)]
fn dense<M: MulAdd>(l: &Dense, x: &[f32], out: &mut [f32]) {
    for blk in (0..l.padded / BLOCK).step_by(DENSE_WIDE) {
        tile::<M, 1, DENSE_WIDE>(
            &l.w_pass,
            l.n_in,
            DENSE_WIDE,
            blk,
            &l.b_pad,
            [x],
            [&mut *out],
        );
    }
    if l.relu {
        for o in out.iter_mut() {
            // `max` would turn NaN into 0; this keeps it.
            if *o < 0.0 {
                *o = 0.0;
            }
        }
    }
}

/// The forward pass. `x` is `[rows, steps, features]`, `lens[r]` in 1..=steps; writes
/// `[rows, classes]` into `out`.
#[inline(always)]
pub(crate) fn forward<M: MulAdd>(
    m: &LstmClassifier,
    x: &[f32],
    steps: usize,
    lens: &[usize],
    out: &mut [f32],
) {
    let rows = lens.len();
    let (f, h) = (m.features, m.hidden);
    let k_len = f + h;
    let gp = m.gates_padded;
    // `try_with`: fresh buffers on a thread whose locals are being torn down.
    let (mut floats, mut order) = BUFFERS
        .try_with(|b| std::mem::take(&mut *b.borrow_mut()))
        .unwrap_or_default();
    // Longest first (stable): at step t the rows still running are a prefix.
    order.clear();
    order.extend(0..rows);
    order.sort_by_key(|&r| std::cmp::Reverse(lens[r]));
    let widest = m.layers.iter().map(|l| l.padded).max().unwrap_or(0).max(h);
    floats.clear();
    floats.resize(rows * (k_len + h + gp) + 2 * widest, 0.0);
    let (sv, rest) = floats.split_at_mut(rows * k_len);
    let (sc, rest) = rest.split_at_mut(rows * h);
    let (sgates, rest) = rest.split_at_mut(rows * gp);
    let (mut a, mut b) = rest.split_at_mut(widest);
    let s = Scratch {
        v: sv,
        c: sc,
        gates: sgates,
    };
    let mut active = rows;
    for t in 0..lens.get(order[0]).copied().unwrap_or(0) {
        while active > 0 && lens[order[active - 1]] <= t {
            active -= 1;
        }
        for (p, &r) in order[..active].iter().enumerate() {
            let src = &x[(r * steps + t) * f..(r * steps + t + 1) * f];
            s.v[p * k_len..p * k_len + f].copy_from_slice(src);
        }
        // At step 0 the hidden state is zero: its products would add only zeros, so the
        // recurrent weights (most of the bytes read per step) are skipped. Every row skips them,
        // so rows still get identical arithmetic whatever their batch.
        let used = if t == 0 { f } else { k_len };
        // Pass by pass (64 gate columns, 18 kB of weights), every row tile: a pass's weights
        // stay in L1 while all rows use them, so each step reads the weights from L2 once,
        // not once per tile. Every other step walks the passes backwards, starting with those
        // still in L1. Columns are independent: neither order changes a bit.
        let passes = gp / PASS;
        for i in 0..passes {
            let pass = if t % 2 == 1 { passes - 1 - i } else { i };
            let (v, g) = (&*s.v, &mut *s.gates);
            let mut p = 0;
            while p < active {
                let j = (active - p).min(ROWS);
                // Tiles of 4–12 accumulators: 16 floats each with AVX-512's 32 registers, 8
                // with AVX's 16 (a block of 16 columns is then two registers). Measured: a
                // four-row tile of two AVX-512 blocks compiles to code 7x slower than one block.
                match (j, M::WIDE_REGS) {
                    (4, true) => gates::<M, 4, 1>(m, v, p, used, g, pass),
                    (3, true) => gates::<M, 3, 1>(m, v, p, used, g, pass),
                    (2, true) => gates::<M, 2, 2>(m, v, p, used, g, pass),
                    (_, true) => gates::<M, 1, 8>(m, v, p, used, g, pass),
                    (4, false) => gates::<M, 4, 1>(m, v, p, used, g, pass),
                    (3, false) => gates::<M, 3, 1>(m, v, p, used, g, pass),
                    (2, false) => gates::<M, 2, 2>(m, v, p, used, g, pass),
                    (_, false) => gates::<M, 1, 4>(m, v, p, used, g, pass),
                }
                p += j;
            }
        }
        for row in 0..active {
            let (vr, cr) = (
                &mut s.v[row * k_len + f..(row + 1) * k_len],
                &mut s.c[row * h..(row + 1) * h],
            );
            cell::<M>(&s.gates[row * gp..row * gp + 4 * h], cr, vr);
        }
    }
    // Dense head and softmax per row, from each row's last hidden state.
    let classes = m.classes();
    for (p, &r) in order.iter().enumerate() {
        a[..h].copy_from_slice(&s.v[p * k_len + f..(p + 1) * k_len]);
        let mut width = h;
        for l in &m.layers {
            dense::<M>(l, &a[..width], &mut b[..l.padded]);
            std::mem::swap(&mut a, &mut b);
            width = l.n_out;
        }
        let z = &a[..classes];
        let top = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let o = &mut out[r * classes..(r + 1) * classes];
        let mut sum = 0.0f32;
        for (oi, &zi) in o.iter_mut().zip(z) {
            *oi = exp::<M>(zi - top);
            sum += *oi;
        }
        for oi in o.iter_mut() {
            *oi /= sum;
        }
    }
    if floats.capacity() <= KEEP_FLOATS {
        let _ = BUFFERS.try_with(|b| *b.borrow_mut() = (floats, order));
    }
}

/// Views of one call's buffers, one row per sequence (in descending-length order).
struct Scratch<'a> {
    /// Per row: `[x_t, h]`, the vector the gate weights multiply.
    v: &'a mut [f32],
    /// Per row: the cell state.
    c: &'a mut [f32],
    /// Per row: the gates of the current step.
    gates: &'a mut [f32],
}

/// [`forward`] compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn forward_fma(
    m: &LstmClassifier,
    x: &[f32],
    steps: usize,
    lens: &[usize],
    out: &mut [f32],
) {
    forward::<Fused>(m, x, steps, lens, out)
}

/// [`forward`] compiled with AVX-512, AVX2 and FMA: the same bits as [`forward_fma`].
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn forward_avx512(
    m: &LstmClassifier,
    x: &[f32],
    steps: usize,
    lens: &[usize],
    out: &mut [f32],
) {
    forward::<Fused512>(m, x, steps, lens, out)
}

/// [`forward`] for any CPU.
pub(crate) fn forward_portable(
    m: &LstmClassifier,
    x: &[f32],
    steps: usize,
    lens: &[usize],
    out: &mut [f32],
) {
    forward::<Separate>(m, x, steps, lens, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst_exp_error<M: MulAdd>() -> f64 {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let got = f64::from(exp::<M>(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        worst
    }

    #[test]
    fn exp_is_accurate_to_a_few_ulp_over_its_range() {
        // One f32 ulp is 1.2e-7 relative at worst.
        for (name, err) in [
            ("fused", worst_exp_error::<Fused>()),
            ("separate", worst_exp_error::<Separate>()),
        ] {
            assert!(err < 3.6e-7, "{name}: worst relative error {err:e}");
        }
        assert!(exp::<Separate>(f32::NAN).is_nan());
        assert!(exp::<Separate>(-1e9) > 0.0 && exp::<Separate>(-1e9) < 1e-37);
        assert!(exp::<Separate>(1e9).is_finite());
        // The activations saturate cleanly.
        assert_eq!(sigmoid::<Separate>(100.0), 1.0);
        assert!(sigmoid::<Separate>(-100.0) < 1e-37);
        assert_eq!(tanh::<Separate>(50.0), 1.0);
        assert_eq!(tanh::<Separate>(-50.0), -1.0);
        assert!((tanh::<Separate>(0.3) - 0.3f32.tanh()).abs() < 1.5e-7);
    }
}
