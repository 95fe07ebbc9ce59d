//! The generator's noise: a counter-based random number generator, so a shower's noise depends
//! only on (run, event, particle index) and never on the thread, the batch or the call order.
//!
//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the
//! generator of Random123, cuRAND and JAX) maps a 128-bit counter and a 64-bit key to 128 random
//! bits with no state. Here:
//!
//! - key = (run, seed) — `seed` is an instance configuration value (default 0);
//! - counter = (block, particle index, event low 32 bits, event high 32 bits).
//!
//! Each block gives two 64-bit words → two uniforms in (0, 1) with 53 random bits each
//! (`(w >> 11) + 0.5) · 2⁻⁵³`) → two standard normals by Box–Muller in float64
//! (`√(−2 ln u₁)·cos 2πu₂`, `√(−2 ln u₁)·sin 2πu₂`), rounded to float32. Sixteen blocks give the
//! 32 noise values of one particle.

use std::f64::consts::PI;

/// Noise values per particle (the generator's latent dimension).
pub const Z_DIM: usize = 32;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds: 128 random bits for `counter` under `key`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

fn uniform(hi: u32, lo: u32) -> f64 {
    let w = (u64::from(hi) << 32) | u64::from(lo);
    // Centre of one of 2^53 bins: never 0 (ln) nor 1.
    ((w >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// The 32 standard normal noise values of particle `index` of event (`run`, `event`).
pub fn particle_noise(run: u32, event: u64, index: u32, seed: u32) -> [f32; Z_DIM] {
    let mut z = [0.0f32; Z_DIM];
    let key = [run, seed];
    for block in 0..(Z_DIM / 2) as u32 {
        let r = philox4x32_10([block, index, event as u32, (event >> 32) as u32], key);
        let (u1, u2) = (uniform(r[0], r[1]), uniform(r[2], r[3]));
        let rad = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * PI * u2).sin_cos();
        z[2 * block as usize] = (rad * c) as f32;
        z[2 * block as usize + 1] = (rad * s) as f32;
    }
    z
}

/// Noise `[n, 32]` (flat) for particles `0..n` of event (`run`, `event`).
pub fn event_noise(run: u32, event: u64, n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .flat_map(|i| particle_noise(run, event, i, seed))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_known_answers() {
        // Random123 kat_vectors, philox4x32_10.
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn noise_is_standard_normal_and_keyed() {
        let z = event_noise(1, 42, 2000, 0);
        let n = z.len() as f64;
        let mean = z.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = z
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
        let tail = z.iter().filter(|v| v.abs() > 1.96).count() as f64 / n;
        assert!((tail - 0.05).abs() < 0.006, "two-sided 5 % tail: {tail}");
        // A particle's noise depends on its index only, not on how many were drawn.
        assert_eq!(
            &event_noise(1, 42, 3, 0)[32..64],
            &particle_noise(1, 42, 1, 0)
        );
        assert_ne!(particle_noise(1, 42, 0, 0), particle_noise(1, 43, 0, 0));
        assert_ne!(particle_noise(1, 42, 0, 0), particle_noise(2, 42, 0, 0));
        assert_ne!(particle_noise(1, 42, 0, 0), particle_noise(1, 42, 0, 1));
        assert_ne!(particle_noise(1, 1 << 32, 0, 0), particle_noise(1, 0, 0, 0));
    }
}
