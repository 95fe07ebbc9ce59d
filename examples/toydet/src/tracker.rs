//! Toy silicon tracker: charged particles from a smeared beam spot, propagated as helices in a
//! uniform solenoid field through a barrel of cylindrical layers.
//!
//! The geometry follows the radii of the TrackML detector's pixel, short-strip and long-strip
//! barrels. Each particle leaves at most one hit per layer (its first, outgoing crossing; loopers
//! stop after half a turn). Hits are smeared in r·φ and z, lost with a per-layer inefficiency, and
//! mixed with uniformly distributed noise hits. Every hit carries the id of the particle that made
//! it (`0` for noise), so tracking can be scored with TrackML's double-majority matching.
//!
//! No multiple scattering or energy loss is simulated: the helices are exact.
//!
//! Events are generated in memory with [`generate_event`] / [`generate_events`] (for the demo event
//! loop and the plugin tests) or written to `.npz` with [`write_npz`] / [`cli_main`].

use std::collections::HashMap;
use std::f64::consts::PI;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

use crate::npz::NpzWriter;

/// Errors of the tracker generator.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// A configuration value is out of its allowed range.
    #[error("invalid tracker configuration: {0}")]
    InvalidConfig(String),
    /// Writing the output file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// File that could not be written.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
}

/// One cylindrical barrel layer, centred on the beam line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layer {
    /// Radius in mm.
    pub radius_mm: f64,
    /// Half length along z in mm: hits with |z| beyond it are outside the layer.
    pub half_length_mm: f64,
    /// Gaussian position resolution along r·φ in mm.
    pub sigma_rphi_mm: f64,
    /// Gaussian position resolution along z in mm.
    pub sigma_z_mm: f64,
}

/// The default barrel: TrackML pixel (4), short-strip (4) and long-strip (2) barrel radii.
///
/// Resolutions are pitch/√12 of 50 µm × 56 µm pixels, 80 µm × 1.2 mm short strips and
/// 120 µm × 10.8 mm long strips.
pub fn trackml_barrel() -> Vec<Layer> {
    let pix = |r| Layer {
        radius_mm: r,
        half_length_mm: 491.0,
        sigma_rphi_mm: 0.015,
        sigma_z_mm: 0.016,
    };
    let sst = |r| Layer {
        radius_mm: r,
        half_length_mm: 1083.0,
        sigma_rphi_mm: 0.023,
        sigma_z_mm: 0.35,
    };
    let lst = |r| Layer {
        radius_mm: r,
        half_length_mm: 1083.0,
        sigma_rphi_mm: 0.035,
        sigma_z_mm: 3.1,
    };
    vec![
        pix(32.0),
        pix(72.0),
        pix(116.0),
        pix(172.0),
        sst(260.0),
        sst(360.0),
        sst(500.0),
        sst(660.0),
        lst(820.0),
        lst(1020.0),
    ]
}

/// Parameters of the tracker simulation. [`TrackerConfig::default`] is the documented default.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Charged particles per event (pile-up knob; 10–10,000 are the intended range).
    pub n_particles: usize,
    /// Solenoid field along +z in tesla.
    pub bfield_t: f64,
    /// Lower edge of the pT spectrum in GeV.
    pub pt_min_gev: f64,
    /// Upper edge of the pT spectrum in GeV (spectrum ∝ 1/pT² between the edges).
    pub pt_max_gev: f64,
    /// Particles are produced uniformly in η within ±`eta_max`.
    pub eta_max: f64,
    /// Transverse Gaussian width of the beam spot in mm.
    pub beam_sigma_xy_mm: f64,
    /// Longitudinal Gaussian width of the beam spot in mm.
    pub beam_sigma_z_mm: f64,
    /// Mean number of particles per collision vertex (vertices = round(n_particles / this)).
    pub particles_per_vertex: f64,
    /// Probability that a crossing leaves no hit, the same on every layer.
    pub inefficiency: f64,
    /// Noise hits on each layer: Poisson with mean `noise_fraction` × the signal hits on it.
    pub noise_fraction: f64,
    /// The barrel layers, ordered by increasing radius.
    pub layers: Vec<Layer>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            n_particles: 1000,
            bfield_t: 2.0,
            pt_min_gev: 0.5,
            pt_max_gev: 100.0,
            eta_max: 2.0,
            beam_sigma_xy_mm: 0.015,
            beam_sigma_z_mm: 55.0,
            particles_per_vertex: 25.0,
            inefficiency: 0.03,
            noise_fraction: 0.05,
            layers: trackml_barrel(),
        }
    }
}

impl TrackerConfig {
    /// Checks every parameter; generation relies on these bounds.
    pub fn validate(&self) -> Result<(), TrackerError> {
        let bad = |m: String| Err(TrackerError::InvalidConfig(m));
        if self.n_particles == 0 || self.n_particles > 100_000 {
            return bad(format!(
                "n_particles must be in 1..=100000, got {}",
                self.n_particles
            ));
        }
        if !(self.bfield_t > 0.0 && self.bfield_t.is_finite()) {
            return bad(format!("bfield_t must be > 0, got {}", self.bfield_t));
        }
        if !(self.pt_min_gev > 0.0
            && self.pt_max_gev > self.pt_min_gev
            && self.pt_max_gev.is_finite())
        {
            return bad(format!(
                "need 0 < pt_min < pt_max, got {} and {}",
                self.pt_min_gev, self.pt_max_gev
            ));
        }
        if !(self.eta_max > 0.0 && self.eta_max <= 6.0) {
            return bad(format!("eta_max must be in (0, 6], got {}", self.eta_max));
        }
        let probs = [("inefficiency", self.inefficiency)];
        for (name, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must be in [0, 1], got {p}"));
            }
        }
        if !(0.0..=10.0).contains(&self.noise_fraction) {
            return bad(format!(
                "noise_fraction must be in [0, 10], got {}",
                self.noise_fraction
            ));
        }
        if !(self.particles_per_vertex >= 1.0 && self.particles_per_vertex.is_finite()) {
            return bad(format!(
                "particles_per_vertex must be >= 1, got {}",
                self.particles_per_vertex
            ));
        }
        for (name, s) in [
            ("beam_sigma_xy_mm", self.beam_sigma_xy_mm),
            ("beam_sigma_z_mm", self.beam_sigma_z_mm),
        ] {
            if !(s >= 0.0 && s.is_finite()) {
                return bad(format!("{name} must be >= 0, got {s}"));
            }
        }
        if self.layers.is_empty() || self.layers.len() > 255 {
            return bad("need 1..=255 layers".into());
        }
        let mut last = 0.0;
        for l in &self.layers {
            if !(l.radius_mm > last
                && l.half_length_mm > 0.0
                && l.sigma_rphi_mm >= 0.0
                && l.sigma_z_mm >= 0.0)
            {
                return bad(format!(
                    "layers must have increasing radii and positive sizes: {l:?}"
                ));
            }
            last = l.radius_mm;
        }
        Ok(())
    }
}

/// Truth of one generated particle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Particle {
    /// Id within its event, 1-based (hits of noise carry 0).
    pub id: u32,
    /// Transverse momentum in GeV.
    pub pt_gev: f64,
    /// Pseudorapidity at production.
    pub eta: f64,
    /// Azimuth of the momentum at production, in (-π, π].
    pub phi: f64,
    /// Electric charge in units of e (±1).
    pub charge: i8,
    /// Production vertex (x, y, z) in mm.
    pub vertex_mm: [f64; 3],
}

/// One measured hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Global x in mm.
    pub x_mm: f32,
    /// Global y in mm.
    pub y_mm: f32,
    /// Global z in mm.
    pub z_mm: f32,
    /// Index of the layer in [`TrackerConfig::layers`] (0 = innermost).
    pub layer: u8,
    /// Id of the particle that made the hit, 0 for noise.
    pub particle: u32,
}

/// One event: its hits (in random order) and the truth of its particles.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackerEvent {
    /// All hits, signal and noise, shuffled so that their order carries no truth.
    pub hits: Vec<Hit>,
    /// Every generated particle, including those that left no hit.
    pub particles: Vec<Particle>,
}

/// Radius of curvature in mm of a track of transverse momentum `pt_gev` in a field `b_t`:
/// pT [GeV] = 0.3 · B [T] · R [m].
pub fn curvature_radius_mm(pt_gev: f64, b_t: f64) -> f64 {
    1000.0 * pt_gev / (0.3 * b_t)
}

/// Position (x, y, z) in mm where the helix of `p` first crosses the cylinder of `radius_mm`
/// going outwards, or `None` if the track curls up before reaching it.
pub fn helix_crossing(p: &Particle, b_t: f64, radius_mm: f64) -> Option<[f64; 3]> {
    let rho = curvature_radius_mm(p.pt_gev, b_t);
    let q = f64::from(p.charge);
    let [x0, y0, z0] = p.vertex_mm;
    // Positive charges turn clockwise in a field along +z: the azimuth of the momentum after a
    // turning angle t is φ0 − q·t and the centre of the circle lies to the right of the motion.
    let (xc, yc) = (x0 + q * rho * p.phi.sin(), y0 - q * rho * p.phi.cos());
    let pos = |t: f64| {
        let phi = p.phi - q * t;
        (xc - q * rho * phi.sin(), yc + q * rho * phi.cos(), phi)
    };
    let r0 = x0.hypot(y0);
    if radius_mm <= r0 || radius_mm > (xc.hypot(yc) + rho) * (1.0 - 1e-12) {
        return None;
    }
    // Start from the exact answer for a vertex on the beam line, then Newton on |P(t)|² = R².
    let mut t = 2.0 * (radius_mm / (2.0 * rho)).min(1.0).asin();
    for _ in 0..30 {
        let (x, y, phi) = pos(t);
        let f = x * x + y * y - radius_mm * radius_mm;
        let df = 2.0 * rho * (x * phi.cos() + y * phi.sin());
        if df.abs() < 1e-300 {
            break;
        }
        let step = f / df;
        t -= step;
        if step.abs() < 1e-13 {
            break;
        }
    }
    // Only the outgoing half turn counts; a Newton step that wandered off means no crossing.
    if !(t > 0.0 && t <= PI) {
        return None;
    }
    let (x, y, _) = pos(t);
    if ((x * x + y * y).sqrt() - radius_mm).abs() > 1e-6 * radius_mm.max(1.0) {
        return None;
    }
    Some([x, y, z0 + rho * t * p.eta.sinh()])
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// The random stream of event `index` for a user `seed`: events are independent of how many
/// are generated and can be produced in any order (e.g. from an event number).
pub fn event_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Generates one event from `rng` (validate `cfg` first, or use [`generate_events`]).
pub fn generate_event(cfg: &TrackerConfig, rng: &mut ChaCha8Rng) -> TrackerEvent {
    let n_vtx = ((cfg.n_particles as f64 / cfg.particles_per_vertex).round() as usize).max(1);
    let vertices: Vec<[f64; 3]> = (0..n_vtx)
        .map(|_| {
            [
                cfg.beam_sigma_xy_mm * gauss(rng),
                cfg.beam_sigma_xy_mm * gauss(rng),
                cfg.beam_sigma_z_mm * gauss(rng),
            ]
        })
        .collect();
    let (inv_lo, inv_hi) = (1.0 / cfg.pt_min_gev, 1.0 / cfg.pt_max_gev);
    let mut particles = Vec::with_capacity(cfg.n_particles);
    let mut hits = Vec::with_capacity(cfg.n_particles * cfg.layers.len());
    let mut signal_per_layer = vec![0usize; cfg.layers.len()];
    for id in 1..=cfg.n_particles as u32 {
        let u: f64 = rng.gen();
        // Inverse CDF of dN/dpT ∝ 1/pT² on [pt_min, pt_max].
        let p = Particle {
            id,
            pt_gev: 1.0 / (inv_lo - u * (inv_lo - inv_hi)),
            eta: rng.gen_range(-cfg.eta_max..=cfg.eta_max),
            phi: rng.gen_range(-PI..PI),
            charge: if rng.gen::<bool>() { 1 } else { -1 },
            vertex_mm: vertices[rng.gen_range(0..n_vtx)],
        };
        for (li, layer) in cfg.layers.iter().enumerate() {
            let Some([x, y, z]) = helix_crossing(&p, cfg.bfield_t, layer.radius_mm) else {
                break; // curled up: no outer layer can be reached either
            };
            // Draw the smearing before the acceptance decisions so that the random stream of a
            // particle does not depend on them.
            let (du, dz, lost) = (gauss(rng), gauss(rng), rng.gen::<f64>() < cfg.inefficiency);
            if z.abs() > layer.half_length_mm || lost {
                continue;
            }
            let phi = y.atan2(x) + layer.sigma_rphi_mm * du / layer.radius_mm;
            hits.push(Hit {
                x_mm: (layer.radius_mm * phi.cos()) as f32,
                y_mm: (layer.radius_mm * phi.sin()) as f32,
                z_mm: (z + layer.sigma_z_mm * dz) as f32,
                layer: li as u8,
                particle: id,
            });
            signal_per_layer[li] += 1;
        }
        particles.push(p);
    }
    for (li, layer) in cfg.layers.iter().enumerate() {
        let mean = cfg.noise_fraction * signal_per_layer[li] as f64;
        let n_noise = match Poisson::new(mean) {
            Ok(d) => d.sample(rng) as usize,
            Err(_) => 0, // mean 0 (no signal or no noise requested)
        };
        for _ in 0..n_noise {
            let phi: f64 = rng.gen_range(-PI..PI);
            hits.push(Hit {
                x_mm: (layer.radius_mm * phi.cos()) as f32,
                y_mm: (layer.radius_mm * phi.sin()) as f32,
                z_mm: rng.gen_range(-layer.half_length_mm..layer.half_length_mm) as f32,
                layer: li as u8,
                particle: 0,
            });
        }
    }
    hits.shuffle(rng);
    TrackerEvent { hits, particles }
}

/// Generates events `0..n_events` of `seed` (event `i` uses [`event_rng`]`(seed, i)`).
pub fn generate_events(
    cfg: &TrackerConfig,
    n_events: usize,
    seed: u64,
) -> Result<Vec<TrackerEvent>, TrackerError> {
    cfg.validate()?;
    Ok((0..n_events as u64)
        .map(|i| generate_event(cfg, &mut event_rng(seed, i)))
        .collect())
}

/// Writes events to an `.npz` file in the format documented in the crate `README.md`
/// (flat hit and particle arrays with per-event offsets).
pub fn write_npz(
    cfg: &TrackerConfig,
    events: &[TrackerEvent],
    seed: u64,
    path: &Path,
) -> Result<(), TrackerError> {
    let n_hits: usize = events.iter().map(|e| e.hits.len()).sum();
    let n_parts: usize = events.iter().map(|e| e.particles.len()).sum();
    let (mut hit_off, mut part_off) = (vec![0i64], vec![0i64]);
    let mut hits = Vec::with_capacity(3 * n_hits);
    let mut layer = Vec::with_capacity(n_hits);
    let mut hit_particle = Vec::with_capacity(n_hits);
    let (mut pid, mut pt, mut eta, mut phi, mut charge, mut vtx) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for e in events {
        for h in &e.hits {
            hits.extend_from_slice(&[h.x_mm, h.y_mm, h.z_mm]);
            layer.push(i32::from(h.layer));
            hit_particle.push(i64::from(h.particle));
        }
        for p in &e.particles {
            pid.push(i64::from(p.id));
            pt.push(p.pt_gev as f32);
            eta.push(p.eta as f32);
            phi.push(p.phi as f32);
            charge.push(i32::from(p.charge));
            vtx.extend(p.vertex_mm.iter().map(|&v| v as f32));
        }
        hit_off.push(hit_off[hit_off.len() - 1] + e.hits.len() as i64);
        part_off.push(part_off[part_off.len() - 1] + e.particles.len() as i64);
    }
    let mut w = NpzWriter::new();
    w.add("hit_offsets", &hit_off, &[hit_off.len()]);
    w.add("hits", &hits, &[n_hits, 3]);
    w.add("hit_layer", &layer, &[n_hits]);
    w.add("hit_particle", &hit_particle, &[n_hits]);
    w.add("particle_offsets", &part_off, &[part_off.len()]);
    w.add("particle_id", &pid, &[n_parts]);
    w.add("particle_pt", &pt, &[n_parts]);
    w.add("particle_eta", &eta, &[n_parts]);
    w.add("particle_phi", &phi, &[n_parts]);
    w.add("particle_charge", &charge, &[n_parts]);
    w.add("particle_vertex", &vtx, &[n_parts, 3]);
    let radii: Vec<f32> = cfg.layers.iter().map(|l| l.radius_mm as f32).collect();
    let half: Vec<f32> = cfg.layers.iter().map(|l| l.half_length_mm as f32).collect();
    w.add("layer_radius", &radii, &[radii.len()]);
    w.add("layer_half_length", &half, &[half.len()]);
    w.add("bfield", &[cfg.bfield_t as f32], &[1]);
    w.add("seed", &[seed as i64], &[1]);
    w.write_file(path).map_err(|source| TrackerError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Parses `--key value` options; `-o` is an alias of `--output`. Shared with the calorimeter CLI.
pub(crate) fn parse_options(
    args: &[String],
    known: &[&str],
) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let key = match a.as_str() {
            "-o" => "output",
            s => s
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument '{s}'"))?,
        };
        if !known.contains(&key) {
            return Err(format!(
                "unknown option '{a}' (known: {})",
                known.join(", ")
            ));
        }
        let v = it
            .next()
            .ok_or_else(|| format!("option '{a}' needs a value"))?;
        out.insert(key.to_string(), v.clone());
    }
    Ok(out)
}

/// Reads option `key` as a `T`, or `default` when it is absent.
pub(crate) fn opt<T: std::str::FromStr>(
    o: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, String> {
    match o.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("--{key}: cannot parse '{v}'")),
    }
}

/// Usage text of `toydet tracker`.
pub const USAGE: &str = "toydet tracker --n EVENTS --seed S -o FILE.npz [--particles N (1000)] \
[--pt-min GeV (0.5)] [--pt-max GeV (100)] [--eta-max (2.0)] [--ineff P (0.03)] \
[--noise FRACTION (0.05)] [--bfield T (2.0)]";

/// Command line of `toydet tracker` (the arguments after the kind): generates `--n` events of
/// `--particles` particles each from `--seed` and writes them to `-o FILE.npz`.
pub fn cli_main(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let known = [
        "n",
        "seed",
        "output",
        "particles",
        "pt-min",
        "pt-max",
        "eta-max",
        "ineff",
        "noise",
        "bfield",
    ];
    let o = parse_options(args, &known)?;
    let output = o
        .get("output")
        .ok_or_else(|| format!("missing -o FILE.npz\nusage: {USAGE}"))?;
    let d = TrackerConfig::default();
    let cfg = TrackerConfig {
        n_particles: opt(&o, "particles", d.n_particles)?,
        pt_min_gev: opt(&o, "pt-min", d.pt_min_gev)?,
        pt_max_gev: opt(&o, "pt-max", d.pt_max_gev)?,
        eta_max: opt(&o, "eta-max", d.eta_max)?,
        inefficiency: opt(&o, "ineff", d.inefficiency)?,
        noise_fraction: opt(&o, "noise", d.noise_fraction)?,
        bfield_t: opt(&o, "bfield", d.bfield_t)?,
        ..d
    };
    let n: usize = opt(&o, "n", 1)?;
    let seed: u64 = opt(&o, "seed", 0)?;
    let events = generate_events(&cfg, n, seed).map_err(|e| e.to_string())?;
    write_npz(&cfg, &events, seed, Path::new(output)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(n: usize) -> TrackerConfig {
        let mut cfg = TrackerConfig {
            n_particles: n,
            inefficiency: 0.0,
            noise_fraction: 0.0,
            beam_sigma_xy_mm: 0.0,
            ..Default::default()
        };
        for l in &mut cfg.layers {
            l.sigma_rphi_mm = 0.0;
            l.sigma_z_mm = 0.0;
        }
        cfg
    }

    #[test]
    fn hit_radii_lie_on_the_layers() {
        let cfg = TrackerConfig {
            n_particles: 300,
            ..Default::default()
        };
        let ev = &generate_events(&cfg, 1, 7).unwrap()[0];
        assert!(ev.hits.len() > 1000, "too few hits: {}", ev.hits.len());
        for h in &ev.hits {
            let l = cfg.layers[h.layer as usize];
            let r = f64::from(h.x_mm).hypot(f64::from(h.y_mm));
            assert!(
                (r - l.radius_mm).abs() < 1e-3,
                "hit at r={r} on layer r={}",
                l.radius_mm
            );
            assert!(f64::from(h.z_mm).abs() <= l.half_length_mm + 5.0 * l.sigma_z_mm);
        }
    }

    /// Radius of the circle through three points.
    fn circumradius(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
        let d = |p: [f64; 2], q: [f64; 2]| (p[0] - q[0]).hypot(p[1] - q[1]);
        let cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        d(a, b) * d(b, c) * d(c, a) / (2.0 * cross.abs())
    }

    #[test]
    fn helix_curvature_matches_pt() {
        let cfg = exact(200);
        let ev = &generate_events(&cfg, 1, 3).unwrap()[0];
        let mut checked = 0;
        for p in &ev.particles {
            let mut hs: Vec<_> = ev.hits.iter().filter(|h| h.particle == p.id).collect();
            if hs.len() < 8 || p.pt_gev > 5.0 {
                continue; // straight tracks: the sagitta is below f32 precision
            }
            hs.sort_by_key(|h| h.layer);
            let xy = |h: &Hit| [f64::from(h.x_mm), f64::from(h.y_mm)];
            let r_mm = circumradius(xy(hs[0]), xy(hs[hs.len() / 2]), xy(hs[hs.len() - 1]));
            let pt_fit = 0.3 * cfg.bfield_t * r_mm / 1000.0;
            assert!(
                (pt_fit / p.pt_gev - 1.0).abs() < 0.01,
                "pT {} fitted {}",
                p.pt_gev,
                pt_fit
            );
            // The turning direction follows the charge: positive tracks bend clockwise.
            let (a, b) = (xy(hs[0]), xy(hs[hs.len() - 1]));
            let turn = (a[0] * b[1] - a[1] * b[0]).signum();
            assert_eq!(
                turn,
                -f64::from(p.charge),
                "charge {} turns the wrong way",
                p.charge
            );
            checked += 1;
        }
        assert!(checked > 50, "only {checked} tracks checked");
    }

    #[test]
    fn z_follows_eta() {
        let cfg = exact(100);
        let ev = &generate_events(&cfg, 1, 11).unwrap()[0];
        for h in ev.hits.iter().filter(|h| h.layer == 0) {
            let p = ev.particles[h.particle as usize - 1];
            let rho = curvature_radius_mm(p.pt_gev, cfg.bfield_t);
            let arc = 2.0 * rho * (cfg.layers[0].radius_mm / (2.0 * rho)).asin();
            let z = p.vertex_mm[2] + arc * p.eta.sinh();
            assert!(
                (z - f64::from(h.z_mm)).abs() < 0.01,
                "z {} expected {z}",
                h.z_mm
            );
        }
    }

    #[test]
    fn low_pt_tracks_curl_up() {
        let p = Particle {
            id: 1,
            pt_gev: 0.2,
            eta: 0.0,
            phi: 0.3,
            charge: 1,
            vertex_mm: [0.0; 3],
        };
        // 2·R = 2·333 mm: reaches 500 mm but never 700 mm.
        assert!(helix_crossing(&p, 2.0, 500.0).is_some());
        assert!(helix_crossing(&p, 2.0, 700.0).is_none());
    }

    #[test]
    fn inefficiency_and_noise_are_applied() {
        let cfg = TrackerConfig {
            n_particles: 2000,
            eta_max: 0.5,
            ..Default::default()
        };
        let ev = &generate_events(&cfg, 1, 5).unwrap()[0];
        let noise = ev.hits.iter().filter(|h| h.particle == 0).count() as f64;
        let signal = ev.hits.len() as f64 - noise;
        assert!(
            (noise / signal - cfg.noise_fraction).abs() < 0.01,
            "noise fraction {}",
            noise / signal
        );
        // Within |η|<0.5 almost every particle with pT above 0.7 GeV crosses all 10 layers.
        let fast: Vec<_> = ev
            .particles
            .iter()
            .filter(|p| p.pt_gev > 0.7)
            .map(|p| p.id)
            .collect();
        let on_fast = ev
            .hits
            .iter()
            .filter(|h| h.particle != 0 && fast.contains(&h.particle))
            .count();
        let eff = on_fast as f64 / (10 * fast.len()) as f64;
        assert!(
            (eff - (1.0 - cfg.inefficiency)).abs() < 0.01,
            "hit efficiency {eff}"
        );
    }

    #[test]
    fn same_seed_same_events_other_seed_other_events() {
        let cfg = TrackerConfig {
            n_particles: 50,
            ..Default::default()
        };
        let a = generate_events(&cfg, 3, 42).unwrap();
        assert_eq!(a, generate_events(&cfg, 3, 42).unwrap());
        assert_ne!(a, generate_events(&cfg, 3, 43).unwrap());
        // Event i does not depend on how many events are generated.
        assert_eq!(a[1], generate_event(&cfg, &mut event_rng(42, 1)));
    }

    #[test]
    fn pile_up_range_10_to_10000() {
        for n in [10, 10_000] {
            let cfg = TrackerConfig {
                n_particles: n,
                ..Default::default()
            };
            let ev = &generate_events(&cfg, 1, 2).unwrap()[0];
            assert_eq!(ev.particles.len(), n);
            // ~8.3 signal hits per particle plus 5 % noise.
            let per = ev.hits.len() as f64 / n as f64;
            assert!(
                per > 6.0 && per < 10.5,
                "{per} hits per particle at n = {n}"
            );
        }
    }

    #[test]
    fn invalid_config_is_an_error() {
        let cfg = TrackerConfig {
            n_particles: 0,
            ..Default::default()
        };
        assert!(matches!(
            generate_events(&cfg, 1, 1),
            Err(TrackerError::InvalidConfig(_))
        ));
        let cfg = TrackerConfig {
            inefficiency: 1.5,
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn cli_writes_npz_and_rejects_bad_options() {
        let dir = std::env::temp_dir().join(format!("toydet-tracker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.npz");
        let args: Vec<String> = ["--n", "2", "--seed", "1", "--particles", "20", "-o"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut with_path = args.clone();
        with_path.push(path.display().to_string());
        cli_main(&with_path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        assert!(cli_main(&args).is_err()); // -o without value
        assert!(cli_main(&["--bogus".to_string(), "1".to_string()]).is_err());
        assert!(cli_main(&[
            "--particles".to_string(),
            "x".to_string(),
            "-o".into(),
            "f".into()
        ])
        .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
