//! The remote path against the local one, side by side in one run (issue #13):
//!
//!   eval "$(scripts/setup-triton.sh)"; bash scripts/build.sh release
//!   cargo bench -p hepinfer --bench kserve
//!
//! b-tagging (btag-rnn plugin, golden jets) through the host: per-call latency local (ONNX
//! Runtime in the process) vs remote (Triton on loopback, Python backend + onnxruntime) at 1 and
//! 16 jets per call; throughput with 1, 2, 8 and 32 client threads against one server; and the
//! server-side dynamic batcher's requests per execution. Interleaved rounds, medians printed as
//! Markdown tables. `HEPINFER_BENCH_ROUND_MS` (default 1500) and `HEPINFER_BENCH_ROUNDS`
//! (default 5) set the measurement length.

#[path = "../tests/triton_common/mod.rs"]
mod triton_common;

use std::time::{Duration, Instant};
use triton_common::*;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Calls per second of `threads` threads each calling `call` for `round`.
fn throughput(threads: usize, round: Duration, call: &(dyn Fn(usize, u64) + Sync)) -> f64 {
    let calls = std::sync::atomic::AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let calls = &calls;
            s.spawn(move || {
                let mut i = 0;
                while start.elapsed() < round {
                    call(t, i);
                    i += 1;
                }
                calls.fetch_add(i, std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
    calls.into_inner() as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing: skip the
    // measurement then, loudly.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("kserve bench: not run (needs `cargo bench`, a release build and Triton)");
        return;
    }
    let round = Duration::from_millis(env_or("HEPINFER_BENCH_ROUND_MS", 1500));
    let rounds = env_or("HEPINFER_BENCH_ROUNDS", 5) as usize;
    let btag = onnx("btag-rnn");
    let queue_delay_us = 500;
    let repo_dir = tempfile::tempdir().unwrap();
    model_repository(repo_dir.path(), &[("btag-rnn", &btag)], queue_delay_us);
    let triton = Triton::start(repo_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("btag.kserve");
    std::fs::write(
        &f,
        payload(
            &[triton.url()],
            "btag-rnn",
            &sha256_file(&btag),
            10_000,
            2,
            None,
        ),
    )
    .unwrap();
    let plugins = plugin_dir();
    let local = host(plugins.path(), serde_json::json!({"BTagRnnRcd": btag}));
    let remote = host(plugins.path(), serde_json::json!({"BTagRnnRcd": f}));
    let li = local.instance("btag-rnn", "{}").unwrap();
    let ri = remote.instance("btag-rnn", "{}").unwrap();
    let all = btag_inputs();
    let events: Vec<Vec<BtagEvent>> = [1usize, 16]
        .iter()
        .map(|&n| (0..50 - n).map(|s| btag_subset(&all, s..s + n)).collect())
        .collect();
    let call = |inst: &hepinfer::Instance, batch: usize, i: u64| {
        let e = &events[batch][i as usize % events[batch].len()];
        run_btag(inst, 1, (&e.0, &e.1, &e.2)).expect("call");
    };
    // Warm-up: first connections, first executions.
    for i in 0..50 {
        call(&li, 0, i);
        call(&ri, 0, i);
    }

    println!("\n### Per call, one thread (median of {rounds} interleaved rounds of {round:?})\n");
    println!("| jets per call | local µs/call | remote µs/call | remote − local µs | local µs/jet | remote µs/jet |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for (b, jets) in [(0usize, 1usize), (1, 16)] {
        let (mut l, mut r) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            l.push(1e6 / throughput(1, round, &|_, i| call(&li, b, i)));
            r.push(1e6 / throughput(1, round, &|_, i| call(&ri, b, i)));
        }
        let (l, r) = (median(l), median(r));
        println!(
            "| {jets} | {l:.1} | {r:.1} | {:.1} | {:.2} | {:.2} |",
            r - l,
            l / jets as f64,
            r / jets as f64
        );
    }

    println!(
        "\n### Throughput against one server, 1 jet per call (median of {rounds} rounds; dynamic batcher max_queue_delay {queue_delay_us} µs)\n"
    );
    println!("| client threads | local calls/s | remote calls/s | server requests per execution |");
    println!("| ---: | ---: | ---: | ---: |");
    for threads in [1usize, 2, 8, 32] {
        let (mut l, mut r, mut per_exec) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            l.push(throughput(threads, round, &|_, i| call(&li, 0, i)));
            let (q0, e0) = hepinfer::runtime::kserve::model_statistics(
                &triton.url(),
                "btag-rnn",
                Duration::from_secs(5),
            )
            .unwrap();
            r.push(throughput(threads, round, &|_, i| call(&ri, 0, i)));
            let (q1, e1) = hepinfer::runtime::kserve::model_statistics(
                &triton.url(),
                "btag-rnn",
                Duration::from_secs(5),
            )
            .unwrap();
            per_exec.push((q1 - q0) as f64 / (e1 - e0).max(1) as f64);
        }
        println!(
            "| {threads} | {:.0} | {:.0} | {:.2} |",
            median(l),
            median(r),
            median(per_exec)
        );
    }
    let m = ri
        .current_model("rnn", hepinfer_plugin_api::EventKey::default())
        .unwrap();
    let s = m.model.remote_stats().unwrap();
    println!(
        "\nremote calls {}, failed {}, retries {}, fallback {}",
        s.remote_calls, s.failed_calls, s.retries, s.fallback_calls
    );
}
