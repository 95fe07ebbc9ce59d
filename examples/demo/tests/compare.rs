//! `hepinfer-demo --compare`: a global tag against itself changes nothing; the candidate tag
//! HEPINFER_DEMO_V2 (seq-classifier's retrained v2 model from run 1) is flagged for
//! seq-classifier in runs 1-2 only, where HEPINFER_DEMO_V1 still serves v1.

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

#[test]
fn the_perturbed_seq_classifier_is_flagged_where_its_payload_differs() {
    let (dir, cs) = comparisons("HEPINFER_DEMO_V2");
    for c in &cs {
        let p = c["plugin"].as_str().unwrap();
        if p != "seq-classifier" {
            assert_eq!(c["verdict"], "identical", "{p}: {c}");
            continue;
        }
        assert_eq!(c["verdict"], "changed");
        let changes = c["payload_changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["record"], "SeqClassifierRcd");
        let d = &c["diff"];
        eprintln!(
            "seq-classifier v1 -> v2: {} of {} events changed, max |A-B| {}, mean {}",
            d["changed"], d["events"], d["max_abs_diff"], d["mean_abs_diff"]
        );
        // 50 events per run: runs 1-2 differ (v1 vs v2), runs 3-4 both serve v2.
        let per_run = d["per_run"].as_object().unwrap();
        assert_eq!(per_run["1"], serde_json::json!([50, 50]));
        assert_eq!(per_run["2"], serde_json::json!([50, 50]));
        assert_eq!(per_run["3"], serde_json::json!([0, 50]));
        assert_eq!(per_run["4"], serde_json::json!([0, 50]));
        assert!(d["max_abs_diff"].as_f64().unwrap() > 0.05);
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("class=\"changed\">changed</td>"));
}
