//! `hepinfer-conddb`: the `hepinfer conddb` command as a stand-alone binary (for tests and
//! for sites that want the tool without the host).

use clap::Parser;
use hepinfer_conddb::cli::{clap_error_exit_code, run, ConddbArgs};
use std::process::ExitCode;

/// Conditions database tool for hepinfer.
#[derive(Parser, Debug)]
#[command(name = "hepinfer-conddb", version)]
struct Cli {
    #[command(flatten)]
    args: ConddbArgs,
}

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => run(cli.args),
        Err(e) => {
            let _ = e.print();
            clap_error_exit_code(&e)
        }
    }
}
