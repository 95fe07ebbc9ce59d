//! The report: one static HTML page (`report.html`) beside the plots, with the run's summary,
//! the comparison of the two global tags when there is one, every figure and every table. No
//! script, no server, no external resource: it opens from the file system.

use crate::compare::PluginComparison;
use crate::figure::Figure;
use crate::workload::{Merit, Table};
use std::fmt::Write as _;
use std::path::Path;

/// One plugin's part of the page.
pub struct PluginSection<'a> {
    /// Plugin name.
    pub plugin: &'a str,
    /// Terminal line(s): per global tag, (tag, quality line).
    pub quality: Vec<(String, String)>,
    /// Figures (already written as `<name>.png`).
    pub figures: &'a [Figure],
    /// Tables.
    pub tables: &'a [Table],
    /// Figures of merit of the (first) global tag, when not comparing.
    pub merits: &'a [Merit],
    /// The comparison, when there is one.
    pub comparison: Option<&'a PluginComparison>,
}

/// What the whole page shows.
pub struct Page<'a> {
    /// Title line.
    pub title: String,
    /// Facts about the run: (name, value).
    pub facts: Vec<(String, String)>,
    /// The per-plugin statistics table: header and rows.
    pub stats: (Vec<String>, Vec<Vec<String>>),
    /// Per plugin.
    pub sections: Vec<PluginSection<'a>>,
    /// Global-tag labels (A, and B when comparing).
    pub tags: Vec<String>,
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fmt_value(v: f64, e: f64) -> String {
    if v.is_nan() {
        return "–".into();
    }
    let digits = if v.abs() >= 100.0 { 1 } else { 4 };
    if e.is_nan() {
        format!("{v:.digits$}")
    } else {
        format!("{v:.digits$} ± {e:.digits$}")
    }
}

fn table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    out.push_str("<table><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
}

const STYLE: &str = "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;\
color:#222;max-width:1400px}h1{font-size:24px}h2{font-size:20px;border-bottom:2px solid #1f77b4;\
padding-bottom:4px;margin-top:36px}h3{font-size:16px}table{border-collapse:collapse;margin:8px 0 16px}\
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}th{background:#eef3f8}\
img{max-width:100%;border:1px solid #ddd;margin:6px 0}.changed{background:#fde0dc;font-weight:bold}\
.within{background:#fff4d6}.identical{background:#e3f4e1}.note{font-size:13px;color:#555}\
.links{font-size:12px}";

/// Writes `<dir>/report.html`.
pub fn write(dir: &Path, page: &Page<'_>) -> Result<std::path::PathBuf, String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(&page.title)
    );
    h.push_str("<table>");
    for (k, v) in &page.facts {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    h.push_str("</table>\n");
    table(&mut h, &page.stats.0, &page.stats.1);
    let comparing = page.tags.len() == 2;
    if comparing {
        h.push_str("<h2>What changes from ");
        let _ = writeln!(h, "{} to {}</h2>", esc(&page.tags[0]), esc(&page.tags[1]));
        let header: Vec<String> = [
            "plugin",
            "verdict",
            "records with other payloads",
            "events changed",
            "max |A−B|",
            "mean |A−B|",
        ]
        .map(String::from)
        .to_vec();
        h.push_str("<table><tr>");
        for c in &header {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr>");
        for s in &page.sections {
            let Some(c) = s.comparison else { continue };
            let class = match c.verdict.as_str() {
                "changed" => "changed",
                "within tolerance" => "within",
                _ => "identical",
            };
            let records: Vec<String> = c.payload_changes.iter().map(|p| p.record.clone()).collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{} of {} ({:.1} %)</td>\
                 <td>{:.3e}</td><td>{:.3e}</td></tr>",
                esc(s.plugin),
                esc(&c.verdict),
                esc(&if records.is_empty() {
                    "none".into()
                } else {
                    records.join(", ")
                }),
                c.diff.changed,
                c.diff.events,
                100.0 * c.diff.changed_fraction(),
                c.diff.max_abs_diff,
                c.diff.mean_abs_diff
            );
        }
        h.push_str("</table>\n");
    }
    for s in &page.sections {
        let _ = writeln!(h, "<h2 id=\"{0}\">{0}</h2>", esc(s.plugin));
        for (tag, q) in &s.quality {
            let _ = writeln!(h, "<p><b>{}</b>: {}</p>", esc(tag), esc(q));
        }
        if let Some(c) = s.comparison {
            let _ = writeln!(
                h,
                "<h3>Event by event ({})</h3><p class=\"note\">Same events through both global \
                 tags; an event counts as changed when some value of <code>{}</code> differs by \
                 more than the tolerance.</p>",
                esc(&c.verdict),
                esc(&c.output)
            );
            let _ = writeln!(
                h,
                "<p>{} of {} events changed ({:.1} %); {} of {} values of <code>{}</code> \
                 changed ({:.1} %).</p>",
                c.diff.changed,
                c.diff.events,
                100.0 * c.diff.changed_fraction(),
                c.diff.values_changed,
                c.diff.values,
                esc(&c.output),
                100.0 * c.diff.values_changed_fraction()
            );
            let rows: Vec<Vec<String>> = c
                .diff
                .per_run
                .iter()
                .map(|(run, (ch, n))| vec![run.to_string(), format!("{ch} of {n}")])
                .collect();
            table(
                &mut h,
                &["run".to_string(), "events changed".to_string()],
                &rows,
            );
            if !c.diff.worst_events.is_empty() {
                let rows: Vec<Vec<String>> = c
                    .diff
                    .worst_events
                    .iter()
                    .map(|(e, r, d)| vec![e.to_string(), r.to_string(), format!("{d:.3e}")])
                    .collect();
                h.push_str("<p>Most changed events:</p>");
                table(
                    &mut h,
                    &["event", "run", "max |A−B|"].map(String::from),
                    &rows,
                );
            }
            for p in &c.payload_changes {
                let show = |iovs: &[(u64, String)]| {
                    iovs.iter()
                        .map(|(s, hsh)| format!("since {s}: {}", &hsh[..12.min(hsh.len())]))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let _ = writeln!(
                    h,
                    "<p class=\"note\">{}: {} — {}: {}; {}: {}</p>",
                    esc(&p.record),
                    esc(&p.detail),
                    esc(&page.tags[0]),
                    esc(&show(&p.iovs_a)),
                    esc(&page.tags[1]),
                    esc(&show(&p.iovs_b))
                );
            }
            let rows: Vec<Vec<String>> = c
                .merits
                .iter()
                .map(|(a, b)| {
                    vec![
                        a.name.clone(),
                        fmt_value(a.value, a.error),
                        fmt_value(b.value, b.error),
                        fmt_value(b.value - a.value, f64::NAN),
                    ]
                })
                .collect();
            table(
                &mut h,
                &[
                    "figure of merit".to_string(),
                    page.tags[0].clone(),
                    page.tags[1].clone(),
                    "B − A".to_string(),
                ],
                &rows,
            );
        } else if !s.merits.is_empty() {
            let rows: Vec<Vec<String>> = s
                .merits
                .iter()
                .map(|m| vec![m.name.clone(), fmt_value(m.value, m.error)])
                .collect();
            table(&mut h, &["figure of merit".into(), "value".into()], &rows);
        }
        for t in s.tables {
            let _ = writeln!(h, "<h3>{}</h3>", esc(&t.title));
            table(&mut h, &t.header, &t.rows);
            let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(&t.note));
        }
        for f in s.figures {
            let _ = writeln!(
                h,
                "<div><img src=\"{n}.png\" alt=\"{n}\"><div class=\"links\"><a href=\"{n}.svg\">SVG</a> · \
                 <a href=\"{n}.json\">numbers (JSON)</a></div></div>",
                n = esc(&f.name)
            );
        }
    }
    h.push_str("</body></html>\n");
    let path = dir.join("report.html");
    std::fs::write(&path, h).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
