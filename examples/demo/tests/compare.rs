//! `hepinfer-demo --compare`: a global tag against itself changes nothing; the candidate tag
//! HEPINFER_DEMO_V2 (seq-classifier's retrained v2 model from run 1, a new b-tagging model for
//! all runs) is flagged for seq-classifier in runs 1-2 only, where HEPINFER_DEMO_V1 still serves
//! v1, and for btag-rnn in every run, with both models' ROC curves overlaid; jet-cnn, track-gnn
//! and calo-gan stay identical.

mod common;

use common::*;

fn comparisons(b: &str) -> (tempfile::TempDir, Vec<serde_json::Value>) {
    let (dir, _) = run_demo(&["--events", "200", "--events-per-run", "50", "--compare", b]);
    let c = json(dir.path(), "compare.json");
    let v = c.as_array().expect("array").clone();
    assert_eq!(v.len(), PLUGINS.len());
    (dir, v)
}

#[test]
fn a_global_tag_compared_with_itself_has_no_differences() {
    let (dir, cs) = comparisons("HEPINFER_DEMO_V1");
    for c in &cs {
        let p = c["plugin"].as_str().unwrap();
        assert_eq!(c["verdict"], "identical", "{p}: {c}");
        assert_eq!(c["payload_changes"].as_array().unwrap().len(), 0, "{p}");
        assert_eq!(c["diff"]["changed"], 0, "{p}");
        assert_eq!(c["diff"]["max_abs_diff"].as_f64(), Some(0.0), "{p}");
        assert!(
            c["diff"]["events"].as_u64().unwrap() >= 8,
            "{p}: {}",
            c["diff"]["events"]
        );
        for m in c["merits"].as_array().unwrap() {
            assert_eq!(m[0]["value"], m[1]["value"], "{p}: {}", m[0]["name"]);
        }
    }
    // Overlaid plots: old dashed, new solid, both named.
    let roc = json(dir.path(), "btag-rnn_roc.json");
    let s = roc["panels"][0]["series"].as_array().unwrap();
    assert_eq!(s.len(), 4);
    assert!(
        s[0]["name"]
            .as_str()
            .unwrap()
            .starts_with("HEPINFER_DEMO_V1: ")
            && s[0]["dashed"] == true
    );
    assert!(
        s[2]["name"]
            .as_str()
            .unwrap()
            .starts_with("HEPINFER_DEMO_V1: ")
            && s[2]["dashed"] == false
    );
}

/// The ROC series of `btag-rnn_roc.json` under one global tag: (name, x, y), light then c jets.
fn roc_series(roc: &serde_json::Value, tag: &str) -> Vec<(String, Vec<f64>, Vec<f64>)> {
    let nums = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    roc["panels"][0]["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with(&format!("{tag}: ")))
        .map(|s| {
            // The old tag's curves are the dashed ones.
            assert_eq!(s["dashed"], tag == "HEPINFER_DEMO_V1", "{s}");
            (
                s["name"].as_str().unwrap().to_string(),
                nums(&s["x"]),
                nums(&s["y"]),
            )
        })
        .collect()
}

#[test]
fn the_candidate_global_tag_flags_seq_classifier_and_btag_rnn_only() {
    let (dir, cs) = comparisons("HEPINFER_DEMO_V2");
    let by_name = |p: &str| {
        cs.iter()
            .find(|c| c["plugin"] == p)
            .unwrap_or_else(|| panic!("{p} not compared"))
    };
    for p in ["jet-cnn", "track-gnn", "calo-gan"] {
        let c = by_name(p);
        assert_eq!(c["verdict"], "identical", "{p}: {c}");
        assert_eq!(c["payload_changes"].as_array().unwrap().len(), 0, "{p}");
        assert_eq!(c["diff"]["changed"], 0, "{p}");
        assert_eq!(c["diff"]["values_changed"], 0, "{p}");
        assert_eq!(c["diff"]["max_abs_diff"].as_f64(), Some(0.0), "{p}");
        assert!(c["diff"]["events"].as_u64().unwrap() >= 8, "{p}");
    }

    // seq-classifier: 50 events per run; runs 1-2 differ (v1 vs v2), runs 3-4 both serve v2.
    let c = by_name("seq-classifier");
    assert_eq!(c["verdict"], "changed");
    let changes = c["payload_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["record"], "SeqClassifierRcd");
    let d = &c["diff"];
    eprintln!(
        "seq-classifier v1 -> v2: {} of {} events changed, max |A-B| {}, mean {}",
        d["changed"], d["events"], d["max_abs_diff"], d["mean_abs_diff"]
    );
    let per_run = d["per_run"].as_object().unwrap();
    assert_eq!(per_run["1"], serde_json::json!([50, 50]));
    assert_eq!(per_run["2"], serde_json::json!([50, 50]));
    assert_eq!(per_run["3"], serde_json::json!([0, 50]));
    assert_eq!(per_run["4"], serde_json::json!([0, 50]));
    assert!(d["max_abs_diff"].as_f64().unwrap() > 0.05);

    // btag-rnn: another model in every run, so (almost) every jet's discriminant moves.
    let c = by_name("btag-rnn");
    assert_eq!(c["verdict"], "changed", "{c}");
    let changes = c["payload_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["record"], "BTagRnnRcd");
    assert_eq!(changes[0]["tag_a"], "BTagRnn_v1_offline");
    assert_eq!(changes[0]["tag_b"], "BTagRnn_v2_offline");
    let hash = |iovs: &serde_json::Value| iovs[0][1].as_str().unwrap().to_string();
    assert_ne!(hash(&changes[0]["iovs_a"]), hash(&changes[0]["iovs_b"]));
    let d = &c["diff"];
    let (events, changed) = (
        d["events"].as_u64().unwrap(),
        d["changed"].as_u64().unwrap(),
    );
    let (values, values_changed) = (
        d["values"].as_u64().unwrap(),
        d["values_changed"].as_u64().unwrap(),
    );
    eprintln!(
        "btag-rnn v1 -> v2: {changed} of {events} events, {values_changed} of {values} jets \
         changed, max |A-B| {}, mean {}",
        d["max_abs_diff"], d["mean_abs_diff"]
    );
    assert_eq!(events, 200);
    // 2-6 jets per event.
    assert!((400..=1200).contains(&values), "{values}");
    assert!(changed * 10 >= events * 9, "{changed} of {events}");
    assert!(
        values_changed * 10 >= values * 9,
        "{values_changed} of {values}"
    );
    for (run, v) in d["per_run"].as_object().unwrap() {
        assert!(v[0].as_u64().unwrap() > 0, "run {run}: {v}");
    }
    assert!(d["max_abs_diff"].as_f64().unwrap() > 0.1);
    assert!(!d["worst_events"].as_array().unwrap().is_empty());
    // The figures of merit are measured under each tag, not copied.
    let merits = c["merits"].as_array().unwrap();
    assert_eq!(merits[0][0]["name"], "AUC(b vs light)");
    let (auc_a, auc_b) = (
        merits[0][0]["value"].as_f64().unwrap(),
        merits[0][1]["value"].as_f64().unwrap(),
    );
    eprintln!("btag-rnn AUC(b vs light): V1 {auc_a:.4}, V2 {auc_b:.4}");
    assert_ne!(auc_a, auc_b);
    assert!(auc_a > 0.9 && auc_b > 0.9, "{auc_a} {auc_b}");

    // The overlaid ROC plot: both tags' light and c curves, different from each other.
    let roc = json(dir.path(), "btag-rnn_roc.json");
    let (old, new) = (
        roc_series(&roc, "HEPINFER_DEMO_V1"),
        roc_series(&roc, "HEPINFER_DEMO_V2"),
    );
    assert_eq!(old.len(), 2, "{roc}");
    assert_eq!(new.len(), 2, "{roc}");
    for ((name_a, xa, ya), (name_b, xb, yb)) in old.iter().zip(&new) {
        assert!(xa.len() >= 20 && xb.len() >= 20, "{name_a}: {}", xa.len());
        assert!(ya.iter().chain(yb).all(|r| *r >= 1.0), "{name_a}");
        assert_ne!(ya, yb, "{name_a} and {name_b} are the same curve");
    }
    assert!(old[0].0.contains("light jets") && new[0].0.contains("light jets"));
    // Its caption names each tag's b-tag payload (the first 12 hex digits of its hash).
    let caption = roc["caption"].as_str().unwrap();
    let (cap_a, cap_b) = caption.split_once(" | ").expect(caption);
    assert!(cap_a.contains("global tag HEPINFER_DEMO_V1"), "{caption}");
    assert!(cap_b.contains("global tag HEPINFER_DEMO_V2"), "{caption}");
    assert!(
        cap_a.contains(&hash(&changes[0]["iovs_a"])[..12]),
        "{caption}"
    );
    assert!(
        cap_b.contains(&hash(&changes[0]["iovs_b"])[..12]),
        "{caption}"
    );
    for ext in ["png", "svg"] {
        let p = dir.path().join(format!("btag-rnn_roc.{ext}"));
        let len = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .len();
        assert!(len > 10_000, "{}: {len} bytes", p.display());
    }
    let (w, h, colours, ink) = png_stats(&dir.path().join("btag-rnn_roc.png"));
    assert!(
        w >= 400 && h >= 300 && colours >= 4 && ink > 0.01,
        "{w}x{h} {colours} {ink}"
    );

    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_eq!(html.matches("class=\"changed\">changed</td>").count(), 2);
    assert!(html.contains("btag-rnn_roc.png") || html.contains("btag-rnn_roc.svg"));
}
