//! The checked-in C header must be exactly what cbindgen generates from the ABI module.
//! `HEPINFER_BLESS=1 cargo test -p hepinfer --test header` rewrites it.

use std::path::Path;

#[test]
fn checked_in_header_is_fresh() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("utf-8 header");
    let path = crate_dir.join("../include/hepinfer/hepinfer.h");
    if std::env::var_os("HEPINFER_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/hepinfer/hepinfer.h is stale: regenerate it with `HEPINFER_BLESS=1 cargo test -p hepinfer --test header` and commit it"
    );
}
