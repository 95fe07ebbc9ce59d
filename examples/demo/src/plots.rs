//! Draws [`Figure`]s as PNG and SVG with `plotters`, and writes the numbers behind each one as
//! JSON next to it.
//!
//! Text goes through `ab_glyph` (pure Rust) with a TrueType font read at run time, so the demo
//! links no fontconfig/freetype: the font is `$HEPINFER_PLOT_FONT`, else DejaVu Sans from
//! Debian's `fonts-dejavu-core` (installed by `scripts/install-deps.sh`), else the same file at
//! the paths other distributions use. Logarithmic axes are drawn as linear axes of log10 of the
//! values, with tick labels converted back, so one drawing path serves both.

use crate::figure::{Figure, Panel, Style};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Pixels of one panel.
const PANEL: (u32, u32) = (640, 460);
/// Height of one line of the provenance caption under the panels.
const CAPTION_LINE: u32 = 20;

/// Caption lines: one per global tag (an overlay's captions are joined by " | ").
fn caption_lines(fig: &Figure) -> Vec<&str> {
    fig.caption.split(" | ").collect()
}

/// Tableau 10: distinguishable, and readable by most colour-blind viewers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Where the font is looked for, in order, after `$HEPINFER_PLOT_FONT`.
const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers the plot font once per process; an error says which files were tried.
pub fn init_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let candidates: Vec<PathBuf> = std::env::var_os("HEPINFER_PLOT_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from))
            .collect();
        let (path, bytes) = candidates
            .iter()
            .find_map(|p| std::fs::read(p).ok().map(|b| (p, b)))
            .ok_or_else(|| {
                format!(
                    "no TrueType font for the plots: tried {} (install Debian's fonts-dejavu-core, \
                     or set HEPINFER_PLOT_FONT to a .ttf file)",
                    candidates
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        // plotters keeps registered fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{} is not a TrueType font", path.display()))
    })
    .clone()
}

/// Writes `<dir>/<name>.png`, `.svg` and `.json` for `fig`; returns the PNG path.
pub fn write(fig: &Figure, dir: &Path) -> Result<PathBuf, String> {
    init_font()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rows = fig.panels.len().div_ceil(fig.columns) as u32;
    let size = (
        PANEL.0 * fig.columns.min(fig.panels.len().max(1)) as u32,
        PANEL.1 * rows.max(1) + CAPTION_LINE * caption_lines(fig).len() as u32 + 8,
    );
    let png = dir.join(format!("{}.png", fig.name));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw(&root, fig).map_err(|e| format!("{}: {e}", png.display()))?;
        root.present()
            .map_err(|e| format!("{}: {e}", png.display()))?;
    }
    let svg = dir.join(format!("{}.svg", fig.name));
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw(&root, fig).map_err(|e| format!("{}: {e}", svg.display()))?;
        root.present()
            .map_err(|e| format!("{}: {e}", svg.display()))?;
    }
    let json = dir.join(format!("{}.json", fig.name));
    let text = serde_json::to_string_pretty(fig).map_err(|e| e.to_string())?;
    std::fs::write(&json, text).map_err(|e| format!("{}: {e}", json.display()))?;
    Ok(png)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (_, h) = root.dim_in_pixel();
    let lines = caption_lines(fig);
    let (body, caption) = root.split_vertically(h - CAPTION_LINE * lines.len() as u32 - 8);
    for (i, line) in lines.iter().enumerate() {
        caption.draw(&Text::new(
            line.to_string(),
            (8, 4 + CAPTION_LINE as i32 * i as i32),
            ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80)),
        ))?;
    }
    let rows = fig.panels.len().div_ceil(fig.columns);
    let areas = body.split_evenly((rows.max(1), fig.columns.min(fig.panels.len().max(1))));
    for (panel, area) in fig.panels.iter().zip(&areas) {
        draw_panel(area, panel)?;
    }
    Ok(())
}

/// A value on a possibly logarithmic axis.
fn axis(v: f64, log: bool) -> Option<f64> {
    let t = if log {
        if v > 0.0 {
            v.log10()
        } else {
            return None;
        }
    } else {
        v
    };
    t.is_finite().then_some(t)
}

/// Padded [lo, hi] of the values (in axis space), never empty.
fn range(values: impl Iterator<Item = f64>, log: bool, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero && !log && lo > 0.0 {
        lo = 0.0;
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        lo -= d;
        hi += d;
    }
    let pad = 0.06 * (hi - lo);
    (
        if from_zero && !log && lo == 0.0 {
            0.0
        } else {
            lo - pad
        },
        hi + pad,
    )
}

/// Tick label of axis value `v` on an axis spanning `span` (in axis units): enough decimals
/// for neighbouring ticks to differ, values near zero shown as 0.
fn tick(v: f64, log: bool, span: f64) -> String {
    if log {
        let x = 10f64.powf(v);
        return if !(1e-3..1e5).contains(&x) {
            format!("{x:.0e}")
        } else {
            let d = (2.0 - x.log10().floor()).clamp(0.0, 4.0) as usize;
            trim(format!("{x:.d$}"))
        };
    }
    if v.abs() < 1e-9 * span.max(1e-300) {
        return "0".into();
    }
    let step = span / 8.0;
    let d = (-step.log10().floor()).clamp(0.0, 6.0) as usize + 1;
    trim(format!("{v:.d$}"))
}

/// Drops trailing zeros after a decimal point.
fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').into()
    } else {
        s
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let xs = p
        .series
        .iter()
        .flat_map(|s| s.x.iter().filter_map(|&v| axis(v, p.log_x)));
    let (x0, x1) = range(xs, p.log_x, false);
    let histogram = p.series.iter().any(|s| s.style == Style::Steps);
    let clamp = |v: f64| p.y_bounds.map_or(v, |(lo, hi)| v.clamp(lo, hi));
    let ys = p.series.iter().flat_map(|s| {
        s.y.iter().enumerate().flat_map(move |(i, &y)| {
            let e = s.yerr.get(i).copied().unwrap_or(0.0);
            [clamp(y - e), clamp(y + e)]
                .into_iter()
                .filter_map(move |v| axis(v, p.log_y))
        })
    });
    let (y0, y1) = range(ys, p.log_y, histogram);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let (lx, ly) = (p.log_x, p.log_y);
    let (sx, sy) = (x1 - x0, y1 - y0);
    let fx = move |v: &f64| tick(*v, lx, sx);
    let fy = move |v: &f64| tick(*v, ly, sy);
    // On a log axis, one label per decade when there are several decades.
    let labels = |log: bool, span: f64| {
        if log && span >= 2.0 {
            span.floor() as usize + 1
        } else {
            10
        }
    };
    chart
        .configure_mesh()
        .x_labels(labels(lx, sx))
        .y_labels(labels(ly, sy))
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for s in &p.series {
        let colour = PALETTE[s.colour % PALETTE.len()];
        let style = colour.stroke_width(2);
        let pts: Vec<(f64, f64)> = match s.style {
            Style::Steps => {
                // (edge_i, y_i) -> (edge_i+1, y_i) for every bin.
                let mut v = Vec::new();
                for (i, &y) in s.y.iter().enumerate() {
                    let (Some(a), Some(b), Some(yy)) = (
                        s.x.get(i).and_then(|&e| axis(e, lx)),
                        s.x.get(i + 1).and_then(|&e| axis(e, lx)),
                        axis(y, ly),
                    ) else {
                        continue;
                    };
                    v.push((a, yy));
                    v.push((b, yy));
                }
                v
            }
            _ => {
                s.x.iter()
                    .zip(&s.y)
                    .filter_map(|(&x, &y)| Some((axis(x, lx)?, axis(y, ly)?)))
                    .collect()
            }
        };
        let anno = match (s.style, s.dashed) {
            (Style::Markers, _) => {
                for (i, (&x, &y)) in s.x.iter().zip(&s.y).enumerate() {
                    let e = s.yerr.get(i).copied().unwrap_or(0.0);
                    if let (Some(xx), Some(lo), Some(hi)) =
                        (axis(x, lx), axis(clamp(y - e), ly), axis(clamp(y + e), ly))
                    {
                        if e > 0.0 {
                            chart.draw_series(std::iter::once(PathElement::new(
                                vec![(xx, lo), (xx, hi)],
                                colour.stroke_width(1),
                            )))?;
                        }
                    }
                }
                let marker = move |c: (f64, f64)| -> DynElement<'static, DB, (f64, f64)> {
                    if s.dashed {
                        Circle::new(c, 4, colour.stroke_width(2)).into_dyn()
                    } else {
                        Circle::new(c, 4, colour.filled()).into_dyn()
                    }
                };
                chart.draw_series(pts.iter().map(|&c| marker(c)))?
            }
            (_, true) => chart.draw_series(DashedLineSeries::new(pts, 8, 5, style))?,
            (_, false) => chart.draw_series(LineSeries::new(pts, style))?,
        };
        let (dashed, markers) = (s.dashed, s.style == Style::Markers);
        anno.label(s.name.as_str()).legend(move |(x, y)| {
            if markers && dashed {
                Circle::new((x + 9, y), 4, colour.stroke_width(2)).into_dyn()
            } else if markers {
                Circle::new((x + 9, y), 4, colour.filled()).into_dyn()
            } else if dashed {
                PathElement::new(vec![(x, y), (x + 7, y)], colour.stroke_width(2)).into_dyn()
            } else {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)).into_dyn()
            }
        });
    }
    if !p.series.is_empty() {
        chart
            .configure_series_labels()
            .position(if p.legend_lower {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            })
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_back_the_values() {
        assert_eq!(tick(2.0, true, 3.0), "100");
        assert_eq!(tick(0.5, false, 1.0), "0.5");
        assert_eq!(tick(12.5, false, 100.0), "12.5");
        assert_eq!(tick(-3e-17, false, 0.8), "0");
        assert_eq!(tick(100.1, false, 0.5), "100.1");
        assert_eq!(tick(0.5, true, 1.0), "3.16");
    }

    #[test]
    fn writes_png_svg_and_json() {
        use crate::figure::Series;
        let dir = std::env::temp_dir().join(format!("hepinfer-demo-plots-{}", std::process::id()));
        let x: Vec<f64> = (1..50).map(|i| i as f64 / 50.0).collect();
        let y: Vec<f64> = x.iter().map(|v| 1.0 / v.powi(3)).collect();
        let f = Figure {
            caption: "global tag TEST · Rcd 0123456789ab".into(),
            ..Figure::single(
                "p",
                "roc",
                Panel::new("ROC", "signal efficiency", "rejection")
                    .log_y()
                    .with(Series::line("new", x.clone(), y.clone(), 0))
                    .with(Series::line("old", x, y.iter().map(|v| v * 0.8).collect(), 0).dashed())
                    .with(Series::markers("pts", vec![0.5], vec![10.0], vec![2.0], 1)),
            )
        };
        let png = write(&f, &dir).expect("write");
        for ext in ["png", "svg", "json"] {
            let len = std::fs::metadata(png.with_extension(ext)).expect(ext).len();
            assert!(len > 1000, "{ext}: {len} bytes");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn log_axis_drops_non_positive_values() {
        assert_eq!(axis(0.0, true), None);
        assert_eq!(axis(1000.0, true), Some(3.0));
        assert_eq!(axis(-2.0, false), Some(-2.0));
    }
}
