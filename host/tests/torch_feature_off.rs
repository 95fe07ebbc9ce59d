//! Without the `torch` feature a TorchScript payload is refused at load with a message that names
//! the feature and the way out. (With the feature, `torch_*.rs` test the backend itself.)
#![cfg(not(feature = "torch"))]

use hepinfer::config::SessionMode;
use hepinfer::runtime::{self, LoadOptions};

#[test]
fn torchscript_payloads_say_that_the_feature_is_off() {
    let opts = LoadOptions {
        intra_op_threads: 1,
        session_mode: SessionMode::Shared,
        pool_size: 1,
        cpu_arena: false,
        native_kernels: false,
    };
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/btag-rnn/model/model.pt"),
    )
    .unwrap_or_else(|_| b"PK\x03\x04 any bytes".to_vec());
    let e = match runtime::load("torchscript", &bytes, &opts) {
        Ok(_) => panic!("TorchScript loaded without the torch feature"),
        Err(e) => e,
    };
    assert_eq!(e.status(), hepinfer::error::hepinfer_status::HEPINFER_MODEL);
    let msg = e.to_string();
    assert!(
        msg.contains("without the `torch` feature") && msg.contains("--features torch"),
        "{msg}"
    );
}
