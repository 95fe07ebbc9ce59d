//! `toydet KIND --n N --seed S -o FILE.npz`: writes labelled toy events for training and tests.
//!
//! Kinds: `flavour` (b/c/light jets with tracks), `jetimage` (W vs QCD jet constituents),
//! `tracker` and `calo` (see `README.md`).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: toydet <flavour|jetimage|tracker|calo> --n N --seed S -o FILE.npz";

/// Options shared by the `flavour` and `jetimage` subcommands.
struct Common {
    n: usize,
    seed: u64,
    out: PathBuf,
}

fn parse_common(args: &[String]) -> Result<Common, String> {
    let (mut n, mut seed, mut out) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--n" => {
                let v = value("--n")?;
                n = Some(v.parse::<usize>().map_err(|e| format!("--n {v}: {e}"))?);
            }
            "--seed" => {
                let v = value("--seed")?;
                seed = Some(v.parse::<u64>().map_err(|e| format!("--seed {v}: {e}"))?);
            }
            "-o" | "--output" => out = Some(PathBuf::from(value("-o")?)),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Common {
        n: n.ok_or_else(|| format!("--n is required\n{USAGE}"))?,
        seed: seed.ok_or_else(|| format!("--seed is required\n{USAGE}"))?,
        out: out.ok_or_else(|| format!("-o is required\n{USAGE}"))?,
    })
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((kind, rest)) = args.split_first() else {
        return Err(USAGE.to_string());
    };
    match kind.as_str() {
        "flavour" => {
            let c = parse_common(rest)?;
            toydet::flavour::write_npz(&c.out, c.seed, c.n).map_err(|e| e.to_string())
        }
        "jetimage" => {
            let c = parse_common(rest)?;
            toydet::jetimage::write_npz(&c.out, c.seed, c.n).map_err(|e| e.to_string())
        }
        "tracker" => toydet::tracker::cli_main(rest),
        "calo" => toydet::calo::cli_main(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown kind {other:?}\n{USAGE}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("toydet: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_the_common_options() {
        let c = parse_common(&args("--n 10 --seed 3 -o x.npz")).expect("valid arguments");
        assert_eq!((c.n, c.seed, c.out), (10, 3, PathBuf::from("x.npz")));
    }

    #[test]
    fn rejects_bad_arguments_with_a_message() {
        for bad in [
            "--n 10 --seed 3",
            "--n -1 --seed 3 -o a",
            "--n 1 --seed 3 -o",
            "--x 1",
        ] {
            let e = parse_common(&args(bad)).err().expect("must fail");
            assert!(!e.is_empty());
        }
        assert!(run(&args("nonsense")).is_err());
        assert!(run(&[]).is_err());
    }

    #[test]
    fn writes_a_flavour_file() {
        let out = std::env::temp_dir().join(format!("toydet-cli-{}.npz", std::process::id()));
        let o = out.display().to_string();
        run(&args(&format!("flavour --n 20 --seed 5 -o {o}"))).expect("writes");
        let bytes = std::fs::read(&out).expect("file exists");
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        std::fs::remove_file(&out).expect("cleanup");
    }
}
