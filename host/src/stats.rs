//! Per-instance call statistics: counts and a lock-free latency histogram.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// Sub-buckets per power of two: quantiles are exact to within 1/8 = 12.5 % of their value.
const SUB: usize = 8;
/// Powers of two covered, from 1 ns to about 18 minutes.
const OCTAVES: usize = 40;

/// Shards the counters are spread over. A thread records into one shard, chosen when it first
/// records, so threads calling one instance at once (a framework's streams) do not pass the same
/// cache lines back and forth on every call; reading sums the shards.
const SHARDS: usize = 8;

/// Calls, failures and latencies of one instance. Recording is a few relaxed atomic increments
/// in the calling thread's shard.
pub struct Stats {
    shards: Box<[Shard]>,
}

/// One shard of [`Stats`], on cache lines of its own.
#[repr(align(128))]
struct Shard {
    calls: AtomicU64,
    failures: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
    buckets: [AtomicU64; OCTAVES * SUB],
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    calls: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    total_ns: AtomicU64::new(0),
                    max_ns: AtomicU64::new(0),
                    buckets: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
        }
    }
}

/// The calling thread's shard number: threads take the shards in turn as they first record.
fn shard_of_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    // A thread whose locals are being torn down records into shard 0.
    SHARD.try_with(|s| *s).unwrap_or(0)
}

fn bucket_of(ns: u64) -> usize {
    let ns = ns.max(1);
    let octave = 63 - ns.leading_zeros() as usize;
    let sub = if octave >= 3 {
        ((ns >> (octave - 3)) & 7) as usize
    } else {
        ((ns << (3 - octave)) & 7) as usize
    };
    (octave * SUB + sub).min(OCTAVES * SUB - 1)
}

fn bucket_upper(i: usize) -> u64 {
    let octave = i / SUB;
    let sub = (i % SUB) as u64;
    // Upper edge of the bucket: (8 + sub + 1) / 8 * 2^octave.
    (((8 + sub + 1) as u128) << octave >> 3) as u64
}

/// A snapshot, as reported by `hepinfer_instance_stats_json`.
#[derive(Debug, Serialize, PartialEq)]
pub struct StatsSnapshot {
    /// Calls made (successful or not).
    pub calls: u64,
    /// Calls that returned an error.
    pub failures: u64,
    /// Mean latency in microseconds.
    pub mean_us: f64,
    /// Median latency in microseconds (upper bucket edge).
    pub p50_us: f64,
    /// 90th percentile in microseconds.
    pub p90_us: f64,
    /// 99th percentile in microseconds.
    pub p99_us: f64,
    /// Largest latency in microseconds.
    pub max_us: f64,
}

impl Stats {
    /// Records one call.
    pub fn record(&self, elapsed: Duration, failed: bool) {
        let ns = elapsed.as_nanos().min(u64::MAX as u128) as u64;
        let s = &self.shards[shard_of_thread()];
        s.calls.fetch_add(1, Relaxed);
        if failed {
            s.failures.fetch_add(1, Relaxed);
        }
        s.total_ns.fetch_add(ns, Relaxed);
        // Read first: a new maximum is rare, and the load spares the compare-and-swap loop.
        if ns > s.max_ns.load(Relaxed) {
            s.max_ns.fetch_max(ns, Relaxed);
        }
        s.buckets[bucket_of(ns)].fetch_add(1, Relaxed);
    }

    /// A counter summed over the shards.
    fn sum(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| field(s).load(Relaxed)).sum()
    }

    /// The largest latency recorded, in nanoseconds.
    fn max_ns(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.max_ns.load(Relaxed))
            .max()
            .unwrap_or(0)
    }

    /// Quantile `q` (0..=1) in nanoseconds, from the histogram.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        let counts: Vec<u64> = (0..OCTAVES * SUB)
            .map(|i| self.sum(|s| &s.buckets[i]))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let max = self.max_ns();
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_upper(i).min(max.max(1));
            }
        }
        max
    }

    /// A consistent-enough snapshot (counters are read one after the other).
    pub fn snapshot(&self) -> StatsSnapshot {
        let calls = self.sum(|s| &s.calls);
        let us = |ns: u64| ns as f64 / 1000.0;
        StatsSnapshot {
            calls,
            failures: self.sum(|s| &s.failures),
            mean_us: if calls == 0 {
                0.0
            } else {
                us(self.sum(|s| &s.total_ns)) / calls as f64
            },
            p50_us: us(self.quantile_ns(0.50)),
            p90_us: us(self.quantile_ns(0.90)),
            p99_us: us(self.quantile_ns(0.99)),
            max_us: us(self.max_ns()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_bucket_precision() {
        let s = Stats::default();
        for i in 1..=1000u64 {
            s.record(Duration::from_micros(i), i % 10 == 0);
        }
        let snap = s.snapshot();
        assert_eq!(snap.calls, 1000);
        assert_eq!(snap.failures, 100);
        assert!((snap.p50_us - 500.0).abs() / 500.0 < 0.13, "{snap:?}");
        assert!((snap.p99_us - 990.0).abs() / 990.0 < 0.13, "{snap:?}");
        assert!((snap.mean_us - 500.5).abs() < 1e-6);
        assert_eq!(snap.max_us, 1000.0);
    }

    #[test]
    fn threads_record_into_shards_and_reads_sum_them() {
        let s = Stats::default();
        // More threads than shards: some share one.
        std::thread::scope(|scope| {
            for t in 0..(SHARDS as u64 + 3) {
                let s = &s;
                scope.spawn(move || {
                    for i in 0..500u64 {
                        s.record(Duration::from_micros(1 + t * 1000 + i), i == 0);
                    }
                });
            }
        });
        let snap = s.snapshot();
        let n = SHARDS as u64 + 3;
        assert_eq!(snap.calls, n * 500);
        assert_eq!(snap.failures, n);
        assert_eq!(snap.max_us, ((n - 1) * 1000 + 500) as f64);
        // The exact median is thread 5's 250th latency; quantiles are bucket edges (≤ 12.5 %).
        let mid = ((n / 2) * 1000 + 250) as f64;
        assert!((snap.p50_us - mid).abs() / mid < 0.13, "{snap:?}");
    }

    #[test]
    fn buckets_are_monotone() {
        let mut last = 0;
        for ns in [1u64, 2, 3, 7, 8, 9, 15, 16, 100, 1000, 123_456, 10_000_000] {
            let b = bucket_of(ns);
            assert!(b >= last);
            assert!(
                bucket_upper(b) >= ns,
                "ns {ns} bucket {b} upper {}",
                bucket_upper(b)
            );
            last = b;
        }
    }
}
