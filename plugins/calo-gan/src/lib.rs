//! `calo-gan`: fast calorimeter simulation with a conditional GAN.
//!
//! Per call it takes particles (PDG code, energy, η, φ), draws each particle's noise from a
//! counter-based generator keyed by (run, event, particle index) ([`rng`]), runs the generator
//! served by the host (record `CaloGanRcd`) on all particles of the call in one batch, and returns
//! the cell energies of the three calorimeter layers per particle. Same event key and inputs give
//! bit-identical showers on any thread. The model card is `model/MODEL.md`.
//!
//! η and φ are accepted (the framework places the shower) but do not change the cells: the toy
//! calorimeter's showers do not depend on them and the model does not take them.

pub mod rng;

use hepinfer_plugin_api::{
    export_plugin, Call, DType, Dim, ErrorKind, LogLevel, ModelSpec, Plugin, PluginError,
    PluginInfo, PluginLogger, Tensor, TensorBuf, TensorSpec, TensorView,
};
use rng::Z_DIM;
use serde::Deserialize;

/// Lowest energy the generator was trained on, GeV.
pub const E_MIN_GEV: f32 = 1.0;
/// Highest energy the generator was trained on, GeV.
pub const E_MAX_GEV: f32 = 100.0;
/// Output layers: name, rows, columns.
pub const LAYERS: [(&str, usize, usize); 3] =
    [("layer0", 3, 96), ("layer1", 12, 12), ("layer2", 12, 6)];
/// Particle types the generator knows, as PDG codes in the order of its one-hot condition.
pub const PDG_CODES: [i32; 3] = [-11, 22, 211];

/// What to do with an energy outside the trained range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EnergyPolicy {
    /// The call fails, naming the particle.
    #[default]
    Refuse,
    /// The energy is clamped into [1, 100] GeV and counted in `n_clamped`.
    Clamp,
}

/// Instance configuration (JSON); every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `refuse` (default) or `clamp`.
    pub energy_policy: EnergyPolicy,
    /// Second key word of the noise generator: another seed gives another, equally valid sample.
    pub seed: u32,
    /// Most particles in one call (one model batch); more are refused.
    pub max_particles: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            energy_policy: EnergyPolicy::Refuse,
            seed: 0,
            max_particles: 100_000,
        }
    }
}

/// Index of `pdg` in the one-hot condition.
pub fn particle_class(pdg: i32) -> Option<usize> {
    PDG_CODES.iter().position(|&p| p == pdg)
}

/// The generator's conditions: `energy` [n, 1] GeV and `particle` one-hot [n, 3].
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    /// Energies in GeV, after clamping.
    pub energy: Vec<f32>,
    /// One-hot particle types, flat [n, 3].
    pub particle: Vec<f32>,
    /// How many energies were clamped.
    pub n_clamped: usize,
}

/// Checks the particles and makes the generator's conditions. Errors name the input, the
/// element and what was expected.
pub fn conditions(pdg: &[i32], energy: &[f32], policy: EnergyPolicy) -> Result<Conditions, String> {
    let n = pdg.len();
    let mut c = Conditions {
        energy: Vec::with_capacity(n),
        particle: vec![0.0; 3 * n],
        n_clamped: 0,
    };
    for (i, (&p, &e)) in pdg.iter().zip(energy).enumerate() {
        let k = particle_class(p).ok_or_else(|| {
            format!(
                "input 'pdg': element {i} is {p}, expected one of -11 (e+), 22 (gamma), 211 (pi+)"
            )
        })?;
        c.particle[3 * i + k] = 1.0;
        if e <= 0.0 || e.is_nan() {
            return Err(format!(
                "input 'energy': element {i} is {e} GeV, energies must be positive"
            ));
        }
        let e = if (E_MIN_GEV..=E_MAX_GEV).contains(&e) {
            e
        } else if policy == EnergyPolicy::Clamp {
            c.n_clamped += 1;
            e.clamp(E_MIN_GEV, E_MAX_GEV)
        } else {
            return Err(format!(
                "input 'energy': element {i} is {e} GeV, outside the trained range \
                 [{E_MIN_GEV}, {E_MAX_GEV}] GeV (configure energy_policy: \"clamp\" to clamp and count)"
            ));
        };
        c.energy.push(e);
    }
    Ok(c)
}

/// The plugin.
pub struct CaloGan {
    config: Config,
}

fn per_particle(name: &str, dtype: DType, doc: &str) -> TensorSpec {
    TensorSpec::new(name, dtype, vec![Dim::named("n_particles")], doc)
}

impl Plugin for CaloGan {
    fn info() -> PluginInfo {
        let n = || Dim::named("n_particles");
        let layer_spec = |(name, r, c): (&str, usize, usize)| {
            TensorSpec::new(
                name,
                DType::F32,
                vec![n(), Dim::fixed(r as i64), Dim::fixed(c as i64)],
                "cell energies in GeV",
            )
        };
        let mut outputs: Vec<TensorSpec> = LAYERS.iter().map(|&l| layer_spec(l)).collect();
        outputs.push(TensorSpec::new(
            "n_clamped",
            DType::I64,
            vec![Dim::fixed(1)],
            "particles whose energy was clamped into [1, 100] GeV (energy_policy: clamp)",
        ));
        PluginInfo {
            name: "calo-gan".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Calorimeter fast simulation: conditional WGAN generator, noise from \
                          Philox4x32-10 keyed by (run, event, particle)"
                .into(),
            inputs: vec![
                per_particle(
                    "pdg",
                    DType::I32,
                    "PDG code: -11 (e+), 22 (gamma), 211 (pi+)",
                ),
                per_particle("energy", DType::F32, "incident energy in GeV, 1-100"),
                per_particle(
                    "eta",
                    DType::F32,
                    "pseudorapidity of the impact (not used by the model)",
                ),
                per_particle(
                    "phi",
                    DType::F32,
                    "azimuth of the impact (not used by the model)",
                ),
            ]
            .into(),
            outputs: outputs.into(),
            models: vec![ModelSpec {
                name: "generator".into(),
                record: "CaloGanRcd".into(),
                label: "".into(),
                inputs: vec![
                    TensorSpec::new(
                        "noise",
                        DType::F32,
                        vec![Dim::named("batch"), Dim::fixed(Z_DIM as i64)],
                        "standard normal noise",
                    ),
                    TensorSpec::new(
                        "energy",
                        DType::F32,
                        vec![Dim::named("batch"), Dim::fixed(1)],
                        "energy in GeV",
                    ),
                    TensorSpec::new(
                        "particle",
                        DType::F32,
                        vec![Dim::named("batch"), Dim::fixed(3)],
                        "one-hot e+, gamma, pi+",
                    ),
                ]
                .into(),
                doc: "model/MODEL.md".into(),
            }]
            .into(),
            config_doc:
                r#"{"energy_policy": "refuse"|"clamp", "seed": 0, "max_particles": 100000}"#.into(),
        }
    }

    fn create(config: &str, _logger: PluginLogger) -> Result<Self, PluginError> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| PluginError::config(format!("calo-gan config: {e}")))?;
        if config.max_particles == 0 {
            return Err(PluginError::config(
                "calo-gan config: max_particles must be > 0",
            ));
        }
        Ok(CaloGan { config })
    }

    fn process(&self, call: &mut Call<'_>) -> Result<(), PluginError> {
        let pdg = call.i32("pdg")?;
        let energy = call.f32("energy")?;
        let n = pdg.len();
        if n > self.config.max_particles {
            return Err(PluginError::input(format!(
                "input 'pdg': {n} particles in one call, above this instance's max_particles = {}",
                self.config.max_particles
            )));
        }
        let cond =
            conditions(pdg, energy, self.config.energy_policy).map_err(PluginError::input)?;
        let layers = if n == 0 {
            LAYERS
                .iter()
                .map(|&(name, r, c)| Tensor::f32(name, vec![0, r as i64, c as i64], Vec::new()))
                .collect()
        } else {
            let key = call.event();
            let noise = rng::event_noise(key.run, key.event, n, self.config.seed);
            run_generator(call, &noise, &cond)?
        };
        for t in layers {
            call.output(t);
        }
        if cond.n_clamped > 0 {
            call.log(
                LogLevel::Debug,
                &format!(
                    "calo-gan: {} of {n} energies clamped into [1, 100] GeV",
                    cond.n_clamped
                ),
            );
        }
        call.output(Tensor::new(
            "n_clamped",
            vec![1],
            TensorBuf::I64(vec![cond.n_clamped as i64].into()),
        ));
        Ok(())
    }
}

/// Runs the generator on `noise` [n, 32] and the conditions, one batch; returns the three layers
/// named and shaped as the plugin's outputs.
pub fn run_generator(
    call: &Call<'_>,
    noise: &[f32],
    cond: &Conditions,
) -> Result<Vec<Tensor>, PluginError> {
    let n = cond.energy.len() as i64;
    let (ns, es, ps) = ([n, Z_DIM as i64], [n, 1], [n, 3]);
    let out = call.run_model(
        "generator",
        &[
            TensorView::f32("noise", &ns, noise),
            TensorView::f32("energy", &es, &cond.energy),
            TensorView::f32("particle", &ps, &cond.particle),
        ],
    )?;
    if out.len() != LAYERS.len() {
        return Err(model_error(format!("{} outputs", out.len())));
    }
    out.into_iter()
        .zip(LAYERS)
        .map(|(mut t, (name, r, c))| {
            if t.shape.as_slice() != [n, r as i64, c as i64] || t.as_f32().is_none() {
                return Err(model_error(format!(
                    "output {} of shape {:?}",
                    t.name,
                    t.shape.as_slice()
                )));
            }
            t.name = name.into();
            Ok(t)
        })
        .collect()
}

fn model_error(what: String) -> PluginError {
    PluginError::new(
        ErrorKind::Model,
        format!("calo-gan: the generator returned {what}, expected layer0 [n,3,96], layer1 [n,12,12], layer2 [n,12,6] f32"),
    )
}

export_plugin!(CaloGan);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_one_hot_and_checks() {
        let c = conditions(&[22, -11, 211], &[1.0, 50.0, 100.0], EnergyPolicy::Refuse).unwrap();
        assert_eq!(c.energy, vec![1.0, 50.0, 100.0]);
        assert_eq!(c.particle, vec![0., 1., 0., 1., 0., 0., 0., 0., 1.]);
        assert_eq!(c.n_clamped, 0);
        let e = conditions(&[22, 13], &[5.0, 5.0], EnergyPolicy::Refuse).unwrap_err();
        assert!(e.contains("'pdg': element 1 is 13"), "{e}");
        let e = conditions(&[22, 22], &[5.0, 150.0], EnergyPolicy::Refuse).unwrap_err();
        assert!(e.contains("'energy': element 1 is 150 GeV, outside"), "{e}");
        let c = conditions(&[22, 22, 22], &[0.5, 150.0, 7.0], EnergyPolicy::Clamp).unwrap();
        assert_eq!((c.energy, c.n_clamped), (vec![1.0, 100.0, 7.0], 2));
        let e = conditions(&[22], &[-1.0], EnergyPolicy::Clamp).unwrap_err();
        assert!(e.contains("must be positive"), "{e}");
    }
}
