//! Bad TorchScript payloads fail when the model is loaded, with a message that says what is
//! wrong: corrupt files, files without a signature, signatures the module does not honour, and
//! modules whose inputs are not what the plugin feeds (through the host and the conddb-free
//! `models` configuration, so the path a job takes).
#![cfg(feature = "torch")]

mod common;
mod torch_common;

use hepinfer::runtime::torch::{embed_signature, read_signature, Signature, SIGNATURE_FILE};
use hepinfer::runtime::{self, ModelPort};
use hepinfer::Host;
use hepinfer_plugin_api::{DType, EventKey};
use std::io::{Cursor, Write};
use torch_common::*;

fn load_err(bytes: &[u8]) -> String {
    match runtime::load("torchscript", bytes, &opts(1)) {
        Ok(_) => panic!("a bad TorchScript payload was loaded"),
        Err(e) => {
            assert_eq!(
                e.status(),
                hepinfer::error::hepinfer_status::HEPINFER_MODEL,
                "{e}"
            );
            e.to_string()
        }
    }
}

/// The b-tag TorchScript file with its correct signature (from the ONNX twin).
fn btag_signed() -> (Vec<u8>, Signature) {
    let pair = pairs()
        .into_iter()
        .find(|p| p.plugin == "btag-rnn")
        .expect("plugins/btag-rnn/model/model.pt");
    let (onnx, _) = load_pair(&pair, 1);
    let sig = signature_of(onnx.as_ref());
    (signed_pt(&pair.pt, &sig), sig)
}

/// `bytes` rewritten without its signature entry.
fn strip_signature(bytes: &[u8]) -> Vec<u8> {
    let mut src = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..src.len() {
        let f = src.by_index_raw(i).expect("entry");
        if !f.name().ends_with(&format!("/extra/{SIGNATURE_FILE}")) {
            out.raw_copy_file(f).expect("copy");
        }
    }
    out.finish().expect("zip").into_inner()
}

#[test]
fn corrupt_files_are_refused_at_load() {
    let (good, sig) = btag_signed();
    // Not a zip at all.
    let e = load_err(b"this is not a model");
    assert!(e.contains("not a TorchScript file"), "{e}");
    // Truncated: the zip's central directory is gone.
    let e = load_err(&good[..good.len() / 2]);
    assert!(e.contains("not a TorchScript file"), "{e}");
    // A zip, but not a TorchScript archive.
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("notes.txt", Default::default()).expect("zip");
    w.write_all(b"hello").expect("zip");
    let e = load_err(&w.finish().expect("zip").into_inner());
    assert!(e.contains("not a TorchScript archive"), "{e}");
    // A TorchScript archive whose pickled module is damaged: libtorch refuses it, and the
    // message is libtorch's first lines, not its C++ backtrace.
    let mut src = zip::ZipArchive::new(Cursor::new(good.as_slice())).expect("zip");
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..src.len() {
        let f = src.by_index_raw(i).expect("entry");
        if f.name().ends_with("/data.pkl") {
            let name = f.name().to_string();
            drop(f);
            let opts = zip::write::FileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            w.start_file(name, opts).expect("zip");
            w.write_all(b"\x80\x02garbage").expect("zip");
        } else {
            w.raw_copy_file(f).expect("copy");
        }
    }
    let damaged = embed_signature(&w.finish().expect("zip").into_inner(), &sig).expect("sig");
    let e = load_err(&damaged);
    assert!(
        e.contains("libtorch cannot load the TorchScript file"),
        "{e}"
    );
    assert!(!e.contains("frame #"), "backtrace kept: {e}");
}

#[test]
fn a_file_without_a_signature_is_refused_with_the_recipe() {
    let (good, _) = btag_signed();
    let bare = strip_signature(&good);
    assert!(read_signature(&bare).expect("archive").is_none());
    let e = load_err(&bare);
    assert!(
        e.contains("has no signature") && e.contains("_extra_files"),
        "{e}"
    );
}

#[test]
fn signatures_round_trip_and_leave_the_module_untouched() {
    let (good, sig) = btag_signed();
    assert_eq!(read_signature(&good).expect("archive"), Some(sig.clone()));
    // Replacing a signature keeps one entry, and every other entry byte for byte.
    let mut other = sig.clone();
    other.outputs[0].name = "p".into();
    let re = embed_signature(&good, &other).expect("embed");
    assert_eq!(read_signature(&re).expect("archive"), Some(other));
    let entries = |b: &[u8]| {
        let mut z = zip::ZipArchive::new(Cursor::new(b.to_vec())).expect("zip");
        let mut v = Vec::new();
        for i in 0..z.len() {
            let mut f = z.by_index(i).expect("entry");
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).expect("read");
            if !f.name().ends_with(SIGNATURE_FILE) {
                v.push((f.name().to_string(), data));
            }
        }
        v
    };
    assert_eq!(entries(&good), entries(&re));
    // Bad signature texts.
    for (text, want) in [
        ("{", "EOF"),
        (r#"{"inputs": [], "outputs": []}"#, "at least one input"),
        (
            r#"{"inputs": [{"name": "x", "dtype": "f16", "shape": [1]}], "outputs": []}"#,
            "unknown dtype 'f16'",
        ),
        (
            r#"{"inputs": [{"name": "x", "dtype": "f32", "shape": [-2]}], "outputs": []}"#,
            "bad shape",
        ),
        (
            r#"{"inputs": [{"name": "x", "dtype": "f32", "shape": [1], "rank": 1}], "outputs": []}"#,
            "unknown field",
        ),
    ] {
        let e = Signature::from_json(text).expect_err(text).to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn a_signature_the_module_does_not_honour_fails_the_probe_at_load() {
    let (good, sig) = btag_signed();
    // Not tested here: a signature claiming 8 features where the LSTM's weights expect 6.
    // libtorch's LSTM does not check its input size and reads past its weights, so whether the
    // probe sees NaN depends on memory layout (it did for one export, not for a re-saved one).
    // Such a file is still refused at load in a job: the plugin feeds 6 features, and the
    // instance's signature check compares what the plugin feeds with the declared inputs
    // (`a_model_that_does_not_take_what_the_plugin_feeds_fails_at_prefetch`).
    // Inputs declared in the wrong order: n_tracks would reach the LSTM.
    let mut swapped = sig.clone();
    swapped.inputs.swap(0, 1);
    let e = load_err(&embed_signature(&good, &swapped).expect("embed"));
    assert!(e.contains("probe forward on zeros failed"), "{e}");
    // An output declared with the wrong dtype or rank.
    let mut wrong_out = sig.clone();
    wrong_out.outputs[0] = ModelPort {
        name: "probs".into(),
        dtype: DType::I64,
        shape: vec![-1, 3],
    };
    let e = load_err(&embed_signature(&good, &wrong_out).expect("embed"));
    assert!(e.contains("output 'probs' is declared i64"), "{e}");
    let mut extra_out = sig.clone();
    extra_out.outputs.push(sig.outputs[0].clone());
    extra_out.outputs[1].name = "more".into();
    let e = load_err(&embed_signature(&good, &extra_out).expect("embed"));
    assert!(
        e.contains("returned 1 tensors, the signature declares 2"),
        "{e}"
    );
}

#[test]
fn a_model_that_does_not_take_what_the_plugin_feeds_fails_at_prefetch() {
    // seq-classifier feeds `sequences` f32 [n, 15, 8]. Serve it the b-tag TorchScript model,
    // once as it is and once with its first input renamed to `sequences` (6 features, not 8).
    let (good, sig) = btag_signed();
    let mut renamed = sig.clone();
    renamed.inputs[0].name = "sequences".into();
    let plugins = common::plugin_dir(&["seq_classifier"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    for (file, bytes, want) in [
        ("btag.pt", good.clone(), "has no input 'sequences'"),
        (
            "renamed.pt",
            embed_signature(&good, &renamed).expect("embed"),
            "input 'sequences' is f32 [-1, -1, 6]",
        ),
    ] {
        let path = tmp.path().join(file);
        std::fs::write(&path, bytes).expect("write model");
        let cfg = format!(
            r#"{{"plugin_dirs": [{:?}], "models": {{"SeqClassifierRcd": {:?}}}, "log_level": "error"}}"#,
            plugins.path().display().to_string(),
            path.display().to_string()
        );
        let host = Host::new(&cfg, None, std::ptr::null_mut()).expect("host");
        let inst = host.instance("seq-classifier", "{}").expect("instance");
        let e = inst
            .prefetch(EventKey {
                run: 1,
                lumi: 1,
                event: 1,
            })
            .expect_err("mismatched model accepted")
            .to_string();
        assert!(e.contains(want) && e.contains(file), "{e}");
    }
}
