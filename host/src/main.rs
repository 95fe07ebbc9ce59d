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
    // Host options come before the subcommand (`hepinfer --plugin-dir D plugins list`). They
    // are not `global`: `hepinfer conddb --help` must not list options that mean nothing there.
    /// Host configuration file (JSON). Without it, one is made from --plugin-dir and the
    /// models shipped in the source tree.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Plugin directory (repeatable). Default: `hepinfer-plugins/` beside this executable.
    #[arg(long = "plugin-dir")]
    plugin_dirs: Vec<PathBuf>,
    /// Conditions database URL to take models from (with --global-tag) instead of the model
    /// files of the source tree.
    #[arg(long, requires = "global_tag")]
    conddb: Option<String>,
    /// Global tag to resolve models in (with --conddb).
    #[arg(long, requires = "conddb")]
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
    /// Benchmarks: C ABI path vs direct ONNX Runtime, N threads vs 1, memory; with --btag the
    /// b-tag model through the C ABI, raw ONNX Runtime and ONNX Runtime from Python.
    Bench {
        /// The b-tag comparison (batches 1, 16, 64 on 1 and 2 threads unless --batch/--threads).
        #[arg(long)]
        btag: bool,
        /// Python with onnxruntime and numpy for --btag (default: .deps/bench-venv from
        /// scripts/setup-bench-python.sh, else `python3`).
        #[arg(long)]
        python: Option<PathBuf>,
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
        /// Batch sizes (default 1 and 16; with --btag 1, 16 and 64).
        #[arg(long = "batch")]
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

/// The b-tag model of the source tree (the `hepinfer bench --btag` model).
fn btag_model() -> PathBuf {
    source_tree().join("plugins/btag-rnn/model/model.onnx")
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
        "models": { "SeqClassifierRcd": model, "BTagRnnRcd": btag_model() },
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
            btag: true,
            python,
            threads,
            rounds,
            round_ms,
            batches,
            ..
        } => {
            let root = source_tree();
            let python = python
                .or_else(|| {
                    let venv = root.join(".deps/bench-venv/bin/python");
                    venv.is_file().then_some(venv)
                })
                .unwrap_or_else(|| PathBuf::from("python3"));
            bench::run_btag(&bench::BtagBenchOptions {
                host_config: config,
                model: btag_model(),
                python: Some((python, root.join("scripts/bench-ort-python.py"))),
                batches: if batches.is_empty() {
                    vec![1, 16, 64]
                } else {
                    batches
                },
                threads: (1..=threads.max(1)).collect(),
                rounds: rounds.max(1),
                round_time: Duration::from_millis(round_ms.max(10)),
            })
        }
        Command::Bench {
            threads,
            memory_threads,
            rounds,
            round_ms,
            batches,
            ..
        } => bench::run(&bench::BenchOptions {
            host_config: config,
            model: source_tree().join("plugins/seq-classifier/model/model.onnx"),
            batches: if batches.is_empty() {
                vec![1, 16]
            } else {
                batches
            },
            threads: threads.max(1),
            memory_threads: memory_threads.max(1),
            rounds: rounds.max(1),
            round_time: Duration::from_millis(round_ms.max(10)),
        }),
    }
}

/// Checks a payload the host will have to load before `hepinfer conddb upload` stores it, so a
/// broken one is refused at upload rather than found by a job. A `kserve` payload must be a valid
/// document ([`hepinfer::runtime::kserve::validate_payload`]) whose `fallback`, if any, is a local
/// model payload already in the same database.
fn validate_upload(args: &hepinfer_conddb::cli::ConddbArgs) -> Result<(), String> {
    let hepinfer_conddb::cli::ConddbCommand::Upload {
        file,
        object_type,
        no_validate: false,
        ..
    } = &args.cmd
    else {
        return Ok(());
    };
    let kserve = match object_type.as_deref() {
        Some(t) => t == "kserve",
        None => file.extension().is_some_and(|e| e == "kserve"),
    };
    if !kserve {
        return Ok(());
    }
    #[cfg(not(feature = "kserve"))]
    return Err(format!(
        "{}: this hepinfer was built without the `kserve` feature and cannot check a kserve payload",
        file.display()
    ));
    #[cfg(feature = "kserve")]
    {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let p = hepinfer::runtime::kserve::validate_payload(&bytes)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        if let Some(fallback) = &p.fallback {
            let opts = hepinfer_conddb::ConnectOptions {
                retries: args.retries,
                backoff: Duration::from_millis(args.backoff_ms),
                payload_cache: None,
            };
            let db =
                hepinfer_conddb::ConditionsDb::open(&args.db, &opts).map_err(|e| e.to_string())?;
            let found = db.payload(fallback).map_err(|e| {
                format!(
                    "{}: fallback payload {fallback}: {e} (upload the local model first)",
                    file.display()
                )
            })?;
            if !matches!(found.object_type.as_str(), "onnx" | "torchscript") {
                return Err(format!(
                    "{}: fallback payload {fallback} is of object type '{}', not a local model",
                    file.display(),
                    found.object_type
                ));
            }
        }
        Ok(())
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
        if cli.config.is_some()
            || !cli.plugin_dirs.is_empty()
            || cli.conddb.is_some()
            || cli.global_tag.is_some()
        {
            eprintln!(
                "hepinfer: --config, --plugin-dir, --conddb and --global-tag are host options; \
                 `hepinfer conddb` takes its database from --db"
            );
            return ExitCode::from(hepinfer_conddb::cli::EXIT_USAGE);
        }
        // A kserve document (and its fallback's presence in the database) is checked here, models
        // by the validators below.
        if let Err(e) = validate_upload(&args) {
            eprintln!("hepinfer conddb: error: {e}");
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"error": {"kind": "invalid", "message": e},
                                       "exit_code": hepinfer_conddb::cli::EXIT_USAGE})
                );
            }
            return ExitCode::from(hepinfer_conddb::cli::EXIT_USAGE);
        }
        // Uploads are checked by loading them in their backend (ONNX Runtime from the default
        // search; libtorch in a `torch` build).
        return hepinfer_conddb::cli::run_with(args, &hepinfer::payloads::validators(None));
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hepinfer: {e}");
            ExitCode::FAILURE
        }
    }
}
