//! What a plot shows, independent of how it is drawn: [`Figure`]s of [`Panel`]s of [`Series`].
//! Workloads fill them from what they measured; `plots` draws them (PNG, SVG), writes the numbers
//! behind them (JSON) and `report` puts them on the page. Keeping the data separate lets the
//! global-tag comparison overlay two runs' figures ([`Figure::overlay`]).

use serde::Serialize;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// A line through the points.
    Line,
    /// Markers with vertical error bars (when `yerr` is given).
    Markers,
    /// A histogram drawn as steps: `x` are the bin lower edges plus the last upper edge, `y` one
    /// value per bin (one fewer than `x`).
    Steps,
}

/// One curve or set of points.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// How it is drawn.
    pub style: Style,
    /// Abscissae.
    pub x: Vec<f64>,
    /// Ordinates.
    pub y: Vec<f64>,
    /// Symmetric uncertainties of `y` (empty: none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub yerr: Vec<f64>,
    /// Dashed line: the reference (toy simulation, old global tag) in overlays.
    pub dashed: bool,
    /// Index into the palette; series of the same quantity keep their colour across overlays.
    pub colour: usize,
}

impl Series {
    /// A line through (x, y).
    pub fn line(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>, colour: usize) -> Self {
        Series {
            name: name.into(),
            style: Style::Line,
            x,
            y,
            yerr: Vec::new(),
            dashed: false,
            colour,
        }
    }

    /// Points with error bars.
    pub fn markers(
        name: impl Into<String>,
        x: Vec<f64>,
        y: Vec<f64>,
        yerr: Vec<f64>,
        colour: usize,
    ) -> Self {
        Series {
            style: Style::Markers,
            yerr,
            ..Series::line(name, x, y, colour)
        }
    }

    /// A histogram: `edges` has one more entry than `counts`.
    pub fn steps(
        name: impl Into<String>,
        edges: Vec<f64>,
        counts: Vec<f64>,
        colour: usize,
    ) -> Self {
        Series {
            style: Style::Steps,
            ..Series::line(name, edges, counts, colour)
        }
    }

    /// The same series drawn dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// One set of axes.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    /// Title above the axes.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Legend in the lower right corner (default upper right).
    pub legend_lower: bool,
    /// Physical bounds of y (an efficiency's 0-100 %): error bars and the axis stop there.
    pub y_bounds: Option<(f64, f64)>,
    /// The curves.
    pub series: Vec<Series>,
}

impl Panel {
    /// Linear axes, no series yet.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: false,
            log_x: false,
            legend_lower: false,
            y_bounds: None,
            series: Vec::new(),
        }
    }

    /// With a logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// With a logarithmic x axis.
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    /// With the legend in the lower right corner.
    pub fn legend_lower(mut self) -> Self {
        self.legend_lower = true;
        self
    }

    /// With y limited to [lo, hi].
    pub fn bounded(mut self, lo: f64, hi: f64) -> Self {
        self.y_bounds = Some((lo, hi));
        self
    }

    /// With `series` added.
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }
}

/// One image: panels in a grid, a caption saying where the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// File stem (`btag-rnn_roc`): `<name>.png`, `<name>.svg`, `<name>.json`.
    pub name: String,
    /// Plugin that produced it.
    pub plugin: String,
    /// The panels, row by row.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub columns: usize,
    /// Provenance line drawn under the plot: global tag(s) and payload hashes.
    pub caption: String,
}

impl Figure {
    /// A one-panel figure.
    pub fn single(plugin: &str, name: &str, panel: Panel) -> Self {
        Figure::grid(plugin, name, vec![panel], 1)
    }

    /// A figure of `panels`, `columns` per row.
    pub fn grid(plugin: &str, name: &str, panels: Vec<Panel>, columns: usize) -> Self {
        Figure {
            name: format!("{plugin}_{name}"),
            plugin: plugin.into(),
            panels,
            columns: columns.max(1),
            caption: String::new(),
        }
    }

    /// Overlays `new` on `old` (same figure from two global tags): every series of `old`
    /// dashed and named `<old_label>: ...`, every series of `new` solid `<new_label>: ...`, in
    /// the same colours so that the old and new curve of one quantity pair up.
    pub fn overlay(old: &Figure, new: &Figure, old_label: &str, new_label: &str) -> Figure {
        let mut out = old.clone();
        for (p, q) in out.panels.iter_mut().zip(&new.panels) {
            for s in &mut p.series {
                s.name = format!("{old_label}: {}", s.name);
                s.dashed = true;
            }
            p.series.extend(q.series.iter().map(|s| Series {
                name: format!("{new_label}: {}", s.name),
                dashed: false,
                ..s.clone()
            }));
        }
        out.caption = format!("{} | {}", old.caption, new.caption);
        out
    }
}

/// Binomial efficiency k/n and its uncertainty (normal approximation, floored at 1/n so that
/// 0 and 1 do not claim zero uncertainty).
pub fn efficiency(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (k, n) = (k as f64, n as f64);
    let e = k / n;
    (e, (e * (1.0 - e) / n).sqrt().max(1.0 / n))
}

/// ROC curve of `signal` vs `background` scores: for thresholds at every 1/`steps` quantile of
/// the signal, (signal efficiency, background rejection 1/ε_bkg). Points where no background
/// passes are left out (the rejection is unbounded there); ties pass together.
pub fn roc(signal: &[f32], background: &[f32], steps: usize) -> (Vec<f64>, Vec<f64>) {
    let mut s: Vec<f32> = signal.iter().copied().filter(|v| v.is_finite()).collect();
    let mut b: Vec<f32> = background
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    s.sort_by(f32::total_cmp);
    b.sort_by(f32::total_cmp);
    let (mut eff, mut rej) = (Vec::new(), Vec::new());
    if s.is_empty() || b.is_empty() {
        return (eff, rej);
    }
    for i in 1..=steps {
        // Threshold keeping the top i/steps of the signal.
        let keep = ((s.len() as f64) * i as f64 / steps as f64).round() as usize;
        if keep == 0 {
            continue;
        }
        let cut = s[s.len() - keep];
        let pass_s = s.len() - s.partition_point(|&v| v < cut);
        let pass_b = b.len() - b.partition_point(|&v| v < cut);
        if pass_b == 0 {
            continue;
        }
        eff.push(pass_s as f64 / s.len() as f64);
        rej.push(b.len() as f64 / pass_b as f64);
    }
    (eff, rej)
}

/// Background rejection at signal efficiency `target`, interpolated on the ROC curve
/// (NaN when the curve does not reach it).
pub fn rejection_at(signal: &[f32], background: &[f32], target: f64) -> f64 {
    let (e, r) = roc(signal, background, 400);
    e.iter()
        .zip(&r)
        .find(|(&ei, _)| ei >= target)
        .map_or(f64::NAN, |(_, &ri)| ri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_of_separated_scores() {
        let s: Vec<f32> = (0..100).map(|i| 0.5 + i as f32 / 200.0).collect();
        let b: Vec<f32> = (0..100).map(|i| i as f32 / 200.0 + 0.25).collect();
        let (e, r) = roc(&s, &b, 10);
        // At 50 % signal efficiency (cut 0.75) no background passes: left out.
        assert!(e.iter().all(|&x| x > 0.5));
        assert!((e[e.len() - 1] - 1.0).abs() < 1e-12);
        // Keeping all signal (cut 0.5) keeps background ≥ 0.5: 50 of 100.
        assert!((r[r.len() - 1] - 2.0).abs() < 1e-12);
        assert!(r.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn overlay_pairs_colours_and_dashes_the_old() {
        let f = Figure::single(
            "p",
            "roc",
            Panel::new("t", "x", "y").with(Series::line("b", vec![0.0], vec![1.0], 3)),
        );
        let o = Figure::overlay(&f, &f, "A", "B");
        let s = &o.panels[0].series;
        assert_eq!(s.len(), 2);
        assert!(s[0].dashed && !s[1].dashed);
        assert_eq!((s[0].colour, s[1].colour), (3, 3));
        assert_eq!(s[1].name, "B: b");
    }
}
