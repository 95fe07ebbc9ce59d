//! The `hepinfer conddb` command line, in the spirit of CMS's `conddb` tool.
//!
//! Embed it with `#[command(subcommand)]`/`#[command(flatten)]` of [`ConddbArgs`] and call
//! [`run`]. Exit codes, which scripts may rely on:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | usage error or invalid argument (use [`clap_error_exit_code`] for clap's own errors) |
//! | 2 | not found (global tag, mapping, IOV, tag, payload) |
//! | 3 | integrity error (payload bytes do not match their hash) |
//! | 4 | refused: locked tag/global tag, synchronization policy, object exists, copy conflict |
//! | 5 | database unreachable (after the retries) |
//! | 6 | other errors: schema missing or too new, database engine error, file I/O |
//!
//! With `--json`, results are printed as one JSON document on stdout, and errors as
//! `{"error": {"kind": ..., "message": ...}, "exit_code": N}` on stdout (plus a line on stderr).

use crate::validate::{Checked, Validators};
use crate::{
    CondError, ConditionsDb, ConnectOptions, CopyScope, IovKey, Synchronization, TimeType,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: usage error or invalid argument.
pub const EXIT_USAGE: u8 = 1;
/// Exit code: something asked for does not exist.
pub const EXIT_NOT_FOUND: u8 = 2;
/// Exit code: payload integrity error.
pub const EXIT_INTEGRITY: u8 = 3;
/// Exit code: refused by a lock, a policy or an existing object.
pub const EXIT_REFUSED: u8 = 4;
/// Exit code: database unreachable.
pub const EXIT_UNREACHABLE: u8 = 5;
/// Exit code: any other error.
pub const EXIT_OTHER: u8 = 6;

/// Arguments of `hepinfer conddb`.
#[derive(clap::Args, Debug)]
pub struct ConddbArgs {
    /// Database URL: sqlite://PATH or postgresql://USER@HOST:PORT/DB (password from PGPASSWORD).
    // hide_env_values: the URL may hold a password, and --help must not print it.
    #[arg(long, env = "HEPINFER_CONDDB", hide_env_values = true)]
    pub db: String,
    /// Print results (and errors) as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Connection retries after a failure.
    #[arg(long, default_value_t = 3, global = true)]
    pub retries: u32,
    /// Delay before the first retry in milliseconds (doubled for each further one).
    #[arg(long, default_value_t = 250, global = true)]
    pub backoff_ms: u64,
    /// What to do.
    #[command(subcommand)]
    pub cmd: ConddbCommand,
}

/// The `hepinfer conddb` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ConddbCommand {
    /// Create the database (SQLite file or schema in a PostgreSQL database) or migrate it.
    Init,
    /// Store a payload file and append an IOV for it to a tag.
    Upload {
        /// The payload file (.onnx, .pt, .json or any file with --type).
        file: PathBuf,
        /// Tag to append to.
        #[arg(long)]
        tag: String,
        /// First run (RUN) or run and lumi section (RUN:LUMI) of validity.
        #[arg(long)]
        since: String,
        /// Object type; default from the extension (.onnx onnx, .pt torchscript, .json json,
        /// .kserve kserve: a model served by KServe v2 servers).
        #[arg(long = "type")]
        object_type: Option<String>,
        /// Create the tag if it does not exist.
        #[arg(long)]
        create: bool,
        /// Time type of a tag created with --create: run or lumi.
        #[arg(long, default_value = "run")]
        time_type: String,
        /// Synchronization of a tag created with --create: any, offline or mc.
        #[arg(long, default_value = "any")]
        sync: String,
        /// Description of a tag created with --create.
        #[arg(long, default_value = "")]
        description: String,
        /// Store the file without checking that it loads as its object type (experts only:
        /// a payload that cannot load fails every job that resolves it).
        #[arg(long)]
        no_validate: bool,
    },
    /// Create or lock tags.
    Tag {
        /// Tag operation.
        #[command(subcommand)]
        cmd: TagCommand,
    },
    /// Create, map or lock global tags.
    Gt {
        /// Global tag operation.
        #[command(subcommand)]
        cmd: GtCommand,
    },
    /// List global tags and tags (default), or one kind of object.
    List {
        /// What to list.
        #[command(subcommand)]
        what: Option<ListCommand>,
    },
    /// Compare two global tags (mapped tags and visible IOVs).
    Diff {
        /// First global tag.
        gt1: String,
        /// Second global tag.
        gt2: String,
        /// Look up the second global tag in this database instead of --db.
        #[arg(long)]
        other_db: Option<String>,
    },
    /// Show which payload a global tag gives for a record, label and RUN or RUN:LUMI.
    Resolve {
        /// Global tag.
        gt: String,
        /// Record.
        record: String,
        /// Label ("" for none).
        label: String,
        /// RUN or RUN:LUMI.
        key: String,
        /// Resolve in this tag instead of the mapped one (still under the GT's snapshot).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Write a payload's bytes to a file (verified against the hash first).
    Dump {
        /// Payload hash.
        hash: String,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Copy a whole database, or one global tag with everything it references, to another.
    Copy {
        /// Source URL (default: --db).
        #[arg(long)]
        from: Option<String>,
        /// Destination URL; created and initialised if needed.
        #[arg(long)]
        to: String,
        /// Copy only this global tag and what it references.
        #[arg(long)]
        gt: Option<String>,
    },
    /// Serve the database read-only as JSON over HTTP, for jobs and caching proxies (Squid).
    #[cfg(feature = "serve")]
    Serve {
        /// Address to listen on (`127.0.0.1:0` picks a free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Worker threads, each with its own database connection.
        #[arg(long, default_value_t = 8)]
        threads: usize,
        /// Append one line per request (`METHOD URL STATUS`) to this file.
        #[arg(long)]
        access_log: Option<PathBuf>,
    },
}

/// `hepinfer conddb tag ...`
#[derive(clap::Subcommand, Debug)]
pub enum TagCommand {
    /// Create a tag.
    Create {
        /// Tag name.
        name: String,
        /// Object type of its payloads (onnx, torchscript, json, ...).
        #[arg(long = "type")]
        object_type: String,
        /// run or lumi.
        #[arg(long, default_value = "run")]
        time_type: String,
        /// any, offline or mc.
        #[arg(long, default_value = "any")]
        sync: String,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Lock a tag against new IOVs.
    Lock {
        /// Tag name.
        name: String,
    },
}

/// `hepinfer conddb gt ...`
#[derive(clap::Subcommand, Debug)]
pub enum GtCommand {
    /// Create a global tag.
    Create {
        /// Global tag name.
        name: String,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// Release it is meant for.
        #[arg(long, default_value = "")]
        release: String,
        /// Snapshot time: latest (default), now, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC), or µs since epoch.
        #[arg(long, default_value = "latest")]
        snapshot: String,
    },
    /// Map (record, label) of a global tag to a tag.
    Map {
        /// Global tag.
        gt: String,
        /// Record.
        record: String,
        /// Label ("" for none).
        label: String,
        /// Tag.
        tag: String,
    },
    /// Lock a global tag against remapping.
    Lock {
        /// Global tag name.
        name: String,
    },
}

/// `hepinfer conddb list ...`
#[derive(clap::Subcommand, Debug)]
pub enum ListCommand {
    /// Global tags.
    Gt,
    /// Tags.
    Tags,
    /// IOVs of a tag.
    Iovs {
        /// Tag name.
        tag: String,
    },
    /// Mapping of a global tag.
    Map {
        /// Global tag name.
        gt: String,
    },
    /// Change history of a tag or global tag (all if omitted).
    Log {
        /// Tag or global tag name.
        tag: Option<String>,
    },
}

/// The exit code for an error.
pub fn exit_code(e: &CondError) -> u8 {
    match e {
        CondError::Invalid(_) => EXIT_USAGE,
        CondError::NotFound { .. } => EXIT_NOT_FOUND,
        CondError::Integrity { .. } => EXIT_INTEGRITY,
        CondError::Locked(_) | CondError::Policy(_) | CondError::Exists(_) => EXIT_REFUSED,
        CondError::Unreachable { .. } => EXIT_UNREACHABLE,
        CondError::Schema(_) | CondError::Backend(_) | CondError::Io { .. } => EXIT_OTHER,
    }
}

/// The exit code for a clap parse error: 0 for `--help`/`--version`, else 1 (usage). Clap's
/// own default (2) would collide with "not found".
pub fn clap_error_exit_code(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ExitCode::from(EXIT_OK),
        _ => ExitCode::from(EXIT_USAGE),
    }
}

/// Runs one `hepinfer conddb` command with the built-in payload checks (JSON only: this crate
/// has no inference runtime) and returns its exit code.
pub fn run(args: ConddbArgs) -> ExitCode {
    run_with(args, &Validators::builtin())
}

/// Runs one `hepinfer conddb` command, checking uploads with `validators`, and returns its exit
/// code.
pub fn run_with(args: ConddbArgs, validators: &Validators) -> ExitCode {
    let json = args.json;
    match execute(args, validators) {
        Ok(out) => {
            if json {
                println!("{}", out.json);
            } else {
                print!("{}", out.text);
            }
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            let code = exit_code(&e);
            eprintln!("hepinfer conddb: error: {e}");
            if json {
                println!(
                    "{}",
                    json!({"error": {"kind": e.kind(), "message": e.to_string()}, "exit_code": code})
                );
            }
            ExitCode::from(code)
        }
    }
}

/// A command's result in both output forms.
struct Output {
    text: String,
    json: serde_json::Value,
}

pub use crate::time::{format_time, parse_time};

fn out(text: String, json: serde_json::Value) -> Result<Output, CondError> {
    Ok(Output { text, json })
}

/// Formats rows as an aligned text table.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    out.push_str(&line(
        w.iter()
            .map(|n| "-".repeat(*n))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn object_type_for(file: &std::path::Path, explicit: Option<String>) -> Result<String, CondError> {
    if let Some(t) = explicit {
        return Ok(t);
    }
    match file.extension().and_then(|e| e.to_str()) {
        Some("onnx") => Ok("onnx".into()),
        Some("pt") => Ok("torchscript".into()),
        Some("json") => Ok("json".into()),
        Some("kserve") => Ok("kserve".into()),
        _ => Err(CondError::Invalid(format!(
            "cannot tell the object type of {} from its extension; give --type",
            file.display()
        ))),
    }
}

fn execute(args: ConddbArgs, validators: &Validators) -> Result<Output, CondError> {
    let opts = ConnectOptions {
        retries: args.retries,
        backoff: Duration::from_millis(args.backoff_ms),
        payload_cache: None,
    };
    let open = || ConditionsDb::open(&args.db, &opts);
    match args.cmd {
        #[cfg(feature = "serve")]
        ConddbCommand::Serve {
            listen,
            threads,
            access_log,
        } => {
            let server = crate::serve::Server::start(
                &args.db,
                &listen,
                &opts,
                threads,
                access_log.as_deref(),
            )?;
            // The first line tells scripts (and tests) where to connect.
            println!("listening on http://{}", server.addr());
            use std::io::Write;
            let _ = std::io::stdout().flush();
            server.wait();
            out(String::new(), json!({}))
        }
        ConddbCommand::Init => {
            let db = ConditionsDb::init(&args.db, &opts)?;
            out(
                format!(
                    "initialised {} (schema version {})\n",
                    db.url(),
                    crate::SCHEMA_VERSION
                ),
                json!({"url": db.url().to_string(), "schema_version": crate::SCHEMA_VERSION}),
            )
        }
        ConddbCommand::Upload {
            file,
            tag,
            since,
            object_type,
            create,
            time_type,
            sync,
            description,
            no_validate,
        } => {
            let since: IovKey = since.parse()?;
            let object_type = object_type_for(&file, object_type)?;
            let data = std::fs::read(&file).map_err(|e| CondError::io(&file, e))?;
            let checked = if no_validate {
                "not validated (--no-validate)".to_string()
            } else {
                match validators.check(&object_type, &data) {
                    Ok(Checked::Valid(summary)) => summary,
                    Ok(Checked::Unchecked) => {
                        eprintln!(
                            "hepinfer conddb: warning: {} not validated: this program has no check for object type `{object_type}` (checks: {})",
                            file.display(),
                            validators.types().join(", ")
                        );
                        "not validated (no check for this object type)".to_string()
                    }
                    Err(why) => {
                        return Err(CondError::Invalid(format!(
                            "{} refused as a `{object_type}` payload: {why} (nothing stored; --no-validate stores it unchecked)",
                            file.display()
                        )))
                    }
                }
            };
            let db = open()?;
            if create {
                let tt: TimeType = time_type.parse()?;
                let sy: Synchronization = sync.parse()?;
                match db.create_tag(&tag, &object_type, tt, sy, &description, None) {
                    Ok(()) | Err(CondError::Exists(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            let t = db.tag(&tag)?;
            let hash = db.insert_payload(&object_type, &data, None)?;
            db.append_iov(&tag, since, &hash, None)?;
            let since_text = t.time_type.format_key(since.value(t.time_type));
            out(
                format!("uploaded {} ({} bytes, {object_type}: {checked}) as {hash}\nappended to tag {tag} since {since_text}\n", file.display(), data.len()),
                json!({"hash": hash, "object_type": object_type, "size": data.len(), "tag": tag,
                       "since": since.value(t.time_type), "since_text": since_text, "validation": checked}),
            )
        }
        ConddbCommand::Tag { cmd } => {
            let db = open()?;
            match cmd {
                TagCommand::Create {
                    name,
                    object_type,
                    time_type,
                    sync,
                    description,
                } => {
                    db.create_tag(
                        &name,
                        &object_type,
                        time_type.parse()?,
                        sync.parse()?,
                        &description,
                        None,
                    )?;
                    let t = db.tag(&name)?;
                    out(
                        format!("created tag {name}\n"),
                        serde_json::to_value(t).unwrap_or_default(),
                    )
                }
                TagCommand::Lock { name } => {
                    db.lock_tag(&name, None)?;
                    out(
                        format!("locked tag {name}\n"),
                        json!({"tag": name, "locked": true}),
                    )
                }
            }
        }
        ConddbCommand::Gt { cmd } => {
            let db = open()?;
            match cmd {
                GtCommand::Create {
                    name,
                    description,
                    release,
                    snapshot,
                } => {
                    let snap = parse_time(&snapshot)?;
                    db.create_global_tag(&name, &description, &release, Some(snap), None)?;
                    let g = db.global_tag(&name)?;
                    out(
                        format!(
                            "created global tag {name} (snapshot {})\n",
                            format_time(snap)
                        ),
                        serde_json::to_value(g).unwrap_or_default(),
                    )
                }
                GtCommand::Map {
                    gt,
                    record,
                    label,
                    tag,
                } => {
                    db.map(&gt, &record, &label, &tag, None)?;
                    out(
                        format!("mapped {gt}: {record} / {label:?} -> {tag}\n"),
                        json!({"global_tag": gt, "record": record, "label": label, "tag": tag}),
                    )
                }
                GtCommand::Lock { name } => {
                    db.lock_global_tag(&name, None)?;
                    out(
                        format!("locked global tag {name}\n"),
                        json!({"global_tag": name, "locked": true}),
                    )
                }
            }
        }
        ConddbCommand::List { what } => list(&open()?, what),
        ConddbCommand::Diff { gt1, gt2, other_db } => {
            let db = open()?;
            let other = match &other_db {
                Some(u) => Some(ConditionsDb::open(u, &opts)?),
                None => None,
            };
            let d = db.diff_global_tags(&gt1, other.as_ref().unwrap_or(&db), &gt2)?;
            let rows: Vec<Vec<String>> = d
                .entries
                .iter()
                .map(|e| {
                    vec![
                        e.record.clone(),
                        format!("{:?}", e.label),
                        e.tag_a.clone().unwrap_or("-".into()),
                        e.tag_b.clone().unwrap_or("-".into()),
                        e.detail.clone(),
                    ]
                })
                .collect();
            let text = if rows.is_empty() {
                format!("{gt1} and {gt2} are equivalent\n")
            } else {
                table(&["record", "label", &gt1, &gt2, "difference"], &rows)
            };
            out(text, serde_json::to_value(&d).unwrap_or_default())
        }
        ConddbCommand::Resolve {
            gt,
            record,
            label,
            key,
            tag,
        } => {
            let key: IovKey = key.parse()?;
            let db = open()?;
            let r = match &tag {
                Some(t) => db.resolve_in_tag(&gt, &record, &label, t, key)?,
                None => db.resolve(&gt, &record, &label, key)?,
            };
            let since = r.time_type.format_key(r.since);
            let till = if r.till == u64::MAX {
                "inf".to_string()
            } else {
                r.time_type.format_key(r.till)
            };
            let mut j = serde_json::to_value(&r).unwrap_or_default();
            j["since_text"] = json!(since);
            j["till_text"] = json!(till);
            out(
                table(
                    &["tag", "since", "till", "type", "payload"],
                    &[vec![
                        r.tag.clone(),
                        since,
                        till,
                        r.object_type.clone(),
                        r.payload_hash.clone(),
                    ]],
                ),
                j,
            )
        }
        ConddbCommand::Dump { hash, output } => {
            let db = open()?;
            let p = db.payload(&hash)?;
            std::fs::write(&output, &p.data).map_err(|e| CondError::io(&output, e))?;
            out(
                format!(
                    "wrote {} bytes ({}) to {}\n",
                    p.data.len(),
                    p.object_type,
                    output.display()
                ),
                json!({"hash": hash, "object_type": p.object_type, "size": p.data.len(), "output": output}),
            )
        }
        ConddbCommand::Copy { from, to, gt } => {
            let src = ConditionsDb::open(from.as_deref().unwrap_or(&args.db), &opts)?;
            let dst = ConditionsDb::init(&to, &opts)?;
            let scope = match gt {
                Some(g) => CopyScope::GlobalTag(g),
                None => CopyScope::All,
            };
            let st = src.copy_to(&dst, &scope)?;
            out(
                format!("copied to {}: {} payloads, {} tags, {} IOVs, {} global tags, {} mappings, {} log entries\n",
                        dst.url(), st.payloads, st.tags, st.iovs, st.global_tags, st.mappings, st.log_entries),
                serde_json::to_value(&st).unwrap_or_default(),
            )
        }
    }
}

fn list(db: &ConditionsDb, what: Option<ListCommand>) -> Result<Output, CondError> {
    let gts = |db: &ConditionsDb| -> Result<(String, serde_json::Value), CondError> {
        let g = db.list_global_tags()?;
        let rows: Vec<Vec<String>> = g
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    g.release.clone(),
                    format_time(g.snapshot_time),
                    if g.locked { "yes".into() } else { "no".into() },
                    g.description.clone(),
                ]
            })
            .collect();
        Ok((
            table(
                &["global tag", "release", "snapshot", "locked", "description"],
                &rows,
            ),
            serde_json::to_value(&g).unwrap_or_default(),
        ))
    };
    let tags = |db: &ConditionsDb| -> Result<(String, serde_json::Value), CondError> {
        let t = db.list_tags()?;
        let rows: Vec<Vec<String>> = t
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.object_type.clone(),
                    t.time_type.to_string(),
                    t.synchronization.to_string(),
                    if t.locked { "yes".into() } else { "no".into() },
                    t.description.clone(),
                ]
            })
            .collect();
        Ok((
            table(
                &["tag", "type", "time type", "sync", "locked", "description"],
                &rows,
            ),
            serde_json::to_value(&t).unwrap_or_default(),
        ))
    };
    match what {
        None => {
            let (gt_text, gt_json) = gts(db)?;
            let (tag_text, tag_json) = tags(db)?;
            out(
                format!("{gt_text}\n{tag_text}"),
                json!({"global_tags": gt_json, "tags": tag_json}),
            )
        }
        Some(ListCommand::Gt) => {
            let (t, j) = gts(db)?;
            out(t, j)
        }
        Some(ListCommand::Tags) => {
            let (t, j) = tags(db)?;
            out(t, j)
        }
        Some(ListCommand::Iovs { tag }) => {
            let info = db.tag(&tag)?;
            let iovs = db.list_iovs(&tag)?;
            let rows: Vec<Vec<String>> = iovs
                .iter()
                .map(|i| {
                    vec![
                        info.time_type.format_key(i.since),
                        format_time(i.insertion_time),
                        i.payload_hash.clone(),
                    ]
                })
                .collect();
            out(
                table(&["since", "inserted (UTC)", "payload"], &rows),
                json!({"tag": info, "iovs": iovs}),
            )
        }
        Some(ListCommand::Map { gt }) => {
            let m = db.global_tag_map(&gt)?;
            let rows: Vec<Vec<String>> = m
                .iter()
                .map(|m| vec![m.record.clone(), format!("{:?}", m.label), m.tag.clone()])
                .collect();
            out(
                table(&["record", "label", "tag"], &rows),
                serde_json::to_value(&m).unwrap_or_default(),
            )
        }
        Some(ListCommand::Log { tag }) => {
            let l = db.tag_log(tag.as_deref())?;
            let rows: Vec<Vec<String>> = l
                .iter()
                .map(|e| {
                    vec![
                        format_time(e.time),
                        e.tag.clone(),
                        e.action.clone(),
                        e.user.clone(),
                        e.host.clone(),
                        e.text.clone(),
                    ]
                })
                .collect();
            out(
                table(
                    &["time (UTC)", "tag", "action", "user", "host", "text"],
                    &rows,
                ),
                serde_json::to_value(&l).unwrap_or_default(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trip() {
        let t = parse_time("2026-11-23T14:15:16Z").unwrap();
        assert_eq!(format_time(t), "2026-11-23 14:15:16.000000");
        assert_eq!(parse_time("1970-01-01").unwrap(), 0);
        assert_eq!(format_time(crate::SNAPSHOT_LATEST), "latest");
        assert!(parse_time("2026-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
        // Out of the format's range: a clear error, not an overflow (fuzz seed time-huge-year).
        assert!(parse_time("699999999999999999-6-6").is_err());
        assert!(parse_time("10000-01-01").is_err());
        assert!(parse_time("2026-11-23T-5:00:00").is_err());
        assert_eq!(
            format_time(parse_time("9999-12-31").unwrap()),
            "9999-12-31 00:00:00.000000"
        );
    }

    #[test]
    fn object_type_from_extension() {
        assert_eq!(object_type_for("m.onnx".as_ref(), None).unwrap(), "onnx");
        assert_eq!(
            object_type_for("m.pt".as_ref(), None).unwrap(),
            "torchscript"
        );
        assert_eq!(
            object_type_for("m.bin".as_ref(), Some("raw".into())).unwrap(),
            "raw"
        );
        assert!(matches!(
            object_type_for("m.bin".as_ref(), None),
            Err(CondError::Invalid(_))
        ));
    }
}
