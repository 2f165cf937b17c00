//! What every benchmark reports: latency percentiles in milliseconds, and a load's result.

use std::time::Duration;

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A load's result: (writes that counted, seconds, sorted latencies, errors).
pub(crate) type LoadResult = (u64, f64, Vec<Duration>, u64);
