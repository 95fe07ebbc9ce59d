//! `hepinfer-demo --plots`: every plugin's plots exist as PNG, SVG and JSON, hold data, are
//! labelled with the global tag and the payload hashes that ran, and the report page renders in
//! headless Chromium into a non-trivial screenshot.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One 200-event run shared by the tests of this file.
fn run() -> &'static Path {
    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| run_demo(&["--events", "200", "--events-per-run", "50"]).0)
        .path()
}

#[test]
fn every_plugin_has_non_empty_labelled_plots() {
    let dir = run();
    let summary = json(dir, "summary.json");
    let plugins = summary["plugins"][0].as_array().expect("plugins");
    assert_eq!(plugins.len(), PLUGINS.len());
    for p in plugins {
        let name = p["plugin"].as_str().expect("plugin");
        let figures = p["figures"].as_array().expect("figures");
        assert!(!figures.is_empty(), "{name}: no figures");
        // The payloads that served the run, as the outputs' provenance reported them.
        let hashes: Vec<String> = p["payloads"]
            .as_array()
            .expect("payloads")
            .iter()
            .map(|e| e[1].as_str().expect("hash")[..12].to_string())
            .collect();
        assert!(!hashes.is_empty(), "{name}: no payload seen");
        for f in figures {
            let f = f.as_str().expect("figure name");
            for ext in ["png", "svg"] {
                let len = std::fs::metadata(dir.join(format!("{f}.{ext}")))
                    .unwrap_or_else(|e| panic!("{f}.{ext}: {e}"))
                    .len();
                assert!(len > 5_000, "{f}.{ext}: only {len} bytes");
            }
            let (w, h, colours, ink) = png_stats(&dir.join(format!("{f}.png")));
            assert!(w >= 640 && h >= 400, "{f}.png: {w}x{h}");
            assert!(
                colours > 20 && ink > 0.02,
                "{f}.png: {colours} colours, {:.1} % ink",
                100.0 * ink
            );
            let fig = json(dir, &format!("{f}.json"));
            let caption = fig["caption"].as_str().expect("caption");
            assert!(
                caption.contains("global tag HEPINFER_DEMO_V1"),
                "{f}: caption {caption}"
            );
            for h in &hashes {
                assert!(
                    caption.contains(h.as_str()),
                    "{f}: caption {caption} lacks payload {h}"
                );
            }
            let svg = std::fs::read_to_string(dir.join(format!("{f}.svg"))).expect("svg");
            assert!(
                svg.contains("HEPINFER_DEMO_V1"),
                "{f}.svg: no global tag text"
            );
            // Every panel holds at least one series with at least two points.
            for panel in fig["panels"].as_array().expect("panels") {
                let points: usize = panel["series"]
                    .as_array()
                    .expect("series")
                    .iter()
                    .map(|s| s["y"].as_array().map_or(0, Vec::len))
                    .max()
                    .unwrap_or(0);
                assert!(
                    points >= 2,
                    "{f}: panel {} has {points} points",
                    panel["title"]
                );
            }
        }
    }
}

#[test]
fn the_plots_hold_the_physics_asked_for() {
    let dir = run();
    let roc = json(dir, "btag-rnn_roc.json");
    let p = &roc["panels"][0];
    assert_eq!(p["log_y"], true, "b-tag ROC: log rejection");
    assert!(p["series"][0]["name"]
        .as_str()
        .unwrap()
        .starts_with("light jets"));
    // Rejection falls as the efficiency rises.
    let y: Vec<f64> = p["series"][0]["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(y.first() > y.last() && y[y.len() - 1] >= 1.0, "{y:?}");
    assert!(dir.join("jet-cnn_roc.json").exists());
    let trk = json(dir, "track-gnn_efficiency.json");
    assert_eq!(
        trk["panels"].as_array().unwrap().len(),
        2,
        "efficiency vs pT and η"
    );
    let pile = json(dir, "track-gnn_pileup.json");
    let x = &pile["panels"][0]["series"][0]["x"];
    assert_eq!(
        x.as_array().unwrap().len(),
        4,
        "fake rate at the four densities: {x}"
    );
    let calo = json(dir, "calo-gan_response.json");
    let panels = calo["panels"].as_array().unwrap();
    assert_eq!(
        panels.len(),
        6,
        "response and resolution for 3 particle types"
    );
    for panel in panels {
        let names: Vec<&str> = panel["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["calo-gan", "toy simulation (reference)"],
            "{}",
            panel["title"]
        );
    }
}

/// The Chromium binary: `$HEPINFER_CHROMIUM`, else `chromium` on PATH (Debian's package,
/// installed by scripts/install-deps.sh).
fn chromium() -> String {
    let exe = std::env::var("HEPINFER_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&exe)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{exe}` not found: the report test needs headless Chromium (Debian: apt-get install \
         chromium; scripts/install-deps.sh does it) or HEPINFER_CHROMIUM set to its path"
    );
    exe
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let exe = chromium();
    let dir = run();
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    for p in PLUGINS {
        assert!(
            html.contains(&format!("<h2 id=\"{p}\">")),
            "report lacks a section for {p}"
        );
    }
    let profile = tempfile::tempdir().expect("tempdir");
    let shot = profile.path().join("shot.png");
    let mut child = Command::new(&exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,3000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", dir.join("report.html").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    // Bounded: a hung browser fails the test instead of the whole suite.
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait chromium") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish the screenshot within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium: {status}");
    let (w, h, colours, ink) = png_stats(&shot);
    eprintln!(
        "screenshot {w}x{h}: {colours} distinct colours, {:.1} % non-white",
        100.0 * ink
    );
    assert_eq!((w, h), (1400, 3000));
    // Text, tables and the plot images: a blank or broken-image page has a handful of colours.
    assert!(colours > 500, "only {colours} distinct colours");
    assert!(
        ink > 0.04,
        "only {:.1} % of the page is not white",
        100.0 * ink
    );
}
