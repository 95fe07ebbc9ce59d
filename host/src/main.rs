//! The `hepinfer` command: inspect plugins, run the benchmarks, manage the conditions database.
//! (The demo job is its own program, `hepinfer-demo`, in examples/demo.)

use clap::{Parser, Subcommand};
use hepinfer::Host;

// `hepinfer bench` and the C ABI wrapper it measures through: tools, not library API.
mod bench;
#[allow(dead_code)] // the wrapper is shared with the tests, which use more of it
mod cabi;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "hepinfer",
    version,
    about = "ML inference host for HEP event-processing frameworks"
)]
struct Cli {
    /// Host configuration file (JSON). Without it, one is made from --plugin-dir and the
    /// models shipped in the source tree.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Plugin directory (repeatable). Default: `hepinfer-plugins/` beside this executable.
    #[arg(long = "plugin-dir", global = true)]
    plugin_dirs: Vec<PathBuf>,
    /// Conditions database URL to take models from (with --global-tag) instead of the model
    /// files of the source tree.
    #[arg(long, global = true, requires = "global_tag")]
    conddb: Option<String>,
    /// Global tag to resolve models in (with --conddb).
    #[arg(long, global = true, requires = "conddb")]
    global_tag: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The conditions database: init, upload, tag, gt, list, diff, resolve, dump, copy.
    Conddb(hepinfer_conddb::cli::ConddbArgs),
    /// Plugins found by the host.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Benchmarks: C ABI path vs direct ONNX Runtime, N threads vs 1, memory.
    Bench {
        /// Threads for the scaling measurement.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Threads for the resident-memory measurement.
        #[arg(long, default_value_t = 8)]
        memory_threads: usize,
        /// Interleaved rounds per measurement.
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        /// Milliseconds per round.
        #[arg(long, default_value_t = 1000)]
        round_ms: u64,
        /// Batch sizes.
        #[arg(long = "batch", default_values_t = vec![1usize, 16])]
        batches: Vec<usize>,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// List plugins: name, version, path.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show a plugin's inputs, outputs, models and configuration.
    Inspect {
        /// Plugin name.
        name: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

fn source_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn default_plugin_dirs() -> Vec<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("hepinfer-plugins")))
        .filter(|d| d.is_dir())
        .into_iter()
        .collect()
}

fn host_config(cli: &Cli) -> Result<String, String> {
    if let Some(path) = &cli.config {
        return std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    }
    let dirs = if cli.plugin_dirs.is_empty() {
        default_plugin_dirs()
    } else {
        cli.plugin_dirs.clone()
    };
    if let (Some(db), Some(gt)) = (&cli.conddb, &cli.global_tag) {
        return Ok(serde_json::json!({
            "plugin_dirs": dirs, "conddb": db, "global_tag": gt, "log_level": "warn",
        })
        .to_string());
    }
    let model = source_tree().join("plugins/seq-classifier/model/model.onnx");
    Ok(serde_json::json!({
        "plugin_dirs": dirs,
        "models": { "SeqClassifierRcd": model },
        "log_level": "warn",
    })
    .to_string())
}

fn run(cli: Cli) -> Result<(), String> {
    let config = host_config(&cli)?;
    match cli.command {
        Command::Conddb(_) => unreachable!("handled in main"),
        Command::Plugins { command } => {
            let host = Host::new(&config, None, std::ptr::null_mut()).map_err(|e| e.to_string())?;
            match command {
                PluginsCommand::List { json } => {
                    let all: Vec<_> = host
                        .plugins()
                        .iter()
                        .map(|p| hepinfer::loader::describe_json(p))
                        .collect();
                    if json {
                        println!("{}", serde_json::Value::Array(all));
                    } else {
                        println!("{:<16} {:<9} path", "name", "version");
                        for p in host.plugins().iter() {
                            println!(
                                "{:<16} {:<9} {}",
                                p.info.name,
                                p.info.version,
                                p.path.display()
                            );
                        }
                    }
                }
                PluginsCommand::Inspect { name, json } => {
                    let p = host.plugins().get(&name).map_err(|e| e.to_string())?;
                    let d = hepinfer::loader::describe_json(p);
                    if json {
                        println!("{d}");
                    } else {
                        println!(
                            "{} {} — {}",
                            p.info.name, p.info.version, p.info.description
                        );
                        println!("path: {}", p.path.display());
                        println!("inputs:");
                        for s in p.info.inputs.iter() {
                            let jag = if s.jagged {
                                format!(" (jagged, groups '{}')", s.groups)
                            } else {
                                String::new()
                            };
                            println!(
                                "  {:<20} {} {}{jag}  {}",
                                s.name,
                                s.dtype,
                                s.shape_string(),
                                s.doc
                            );
                        }
                        println!("outputs:");
                        for s in p.info.outputs.iter() {
                            println!(
                                "  {:<20} {} {}  {}",
                                s.name,
                                s.dtype,
                                s.shape_string(),
                                s.doc
                            );
                        }
                        println!("models:");
                        for m in p.info.models.iter() {
                            println!(
                                "  {:<20} record {} label '{}'  {}",
                                m.name, m.record, m.label, m.doc
                            );
                        }
                        println!("config: {}", p.info.config_doc);
                    }
                }
            }
            Ok(())
        }
        Command::Bench {
            threads,
            memory_threads,
            rounds,
            round_ms,
            batches,
        } => bench::run(&bench::BenchOptions {
            host_config: config,
            model: source_tree().join("plugins/seq-classifier/model/model.onnx"),
            batches,
            threads: threads.max(1),
            memory_threads: memory_threads.max(1),
            rounds: rounds.max(1),
            round_time: Duration::from_millis(round_ms.max(10)),
        }),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `hepinfer conddb` keeps the exit codes scripts rely on (2 means "not found" there).
            let conddb = std::env::args().nth(1).as_deref() == Some("conddb");
            return if conddb {
                hepinfer_conddb::cli::clap_error_exit_code(&e)
            } else {
                ExitCode::from(e.exit_code().clamp(0, 255) as u8)
            };
        }
    };
    if let Command::Conddb(args) = cli.command {
        return hepinfer_conddb::cli::run(args);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hepinfer: {e}");
            ExitCode::FAILURE
        }
    }
}
