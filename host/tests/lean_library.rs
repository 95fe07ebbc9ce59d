//! `libhepinfer.so` carries the conditions *client* but none of the tools: no command-line
//! parser (clap: the `hepinfer conddb` CLI lives in the binaries), no HTTP server (tiny_http:
//! `hepinfer conddb serve`), no test servers (PostgreSQL, Squid). Checked on the symbol table
//! of the built library, debug symbols included.

mod common;

#[test]
fn the_shared_library_links_no_cli_server_or_test_servers() {
    let so = common::profile_dir().join("libhepinfer.so");
    assert!(so.is_file(), "{} missing: build it first", so.display());
    let out = std::process::Command::new("nm")
        .arg(&so)
        .output()
        .expect("nm (binutils) must be installed");
    assert!(out.status.success(), "nm failed: {out:?}");
    let symbols = String::from_utf8_lossy(&out.stdout);
    // The conditions client is there: the check below looks at a real symbol table.
    assert!(
        symbols.contains("hepinfer_conddb") && symbols.contains("httpget"),
        "no conditions-client symbols: is the library stripped?"
    );
    for tool in [
        "clap",
        "tiny_http",
        "testserver",
        "testsquid",
        "conddb..cli",
        "conddb..serve",
    ] {
        let hits: Vec<&str> = symbols
            .lines()
            .filter(|l| l.contains(tool))
            .take(3)
            .collect();
        assert!(hits.is_empty(), "libhepinfer.so links `{tool}`: {hits:?}");
    }
}
