//! Prometheus metrics (`GET /node/metrics`).

use std::{sync::Mutex, time::Duration};

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub status: u16,
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub committed_writes: Counter,
    pub conflicts: Counter,
    pub forwarded: Counter,
    pub commit_latency: Histogram,
    pub request_latency: Histogram,
    pub ledger_bytes: Gauge,
    pub open_connections: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("consort")),
            requests: Family::default(),
            committed_writes: Counter::default(),
            conflicts: Counter::default(),
            forwarded: Counter::default(),
            commit_latency: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(1e-6, 2.0, 22),
            ),
            request_latency: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(1e-5, 2.0, 22),
            ),
            ledger_bytes: Gauge::default(),
            open_connections: Gauge::default(),
        };
        {
            let mut r = m.registry.lock().expect("fresh");
            r.register(
                "requests",
                "HTTP requests by method and status",
                m.requests.clone(),
            );
            r.register(
                "tx_writes",
                "Read-write transactions appended to the ledger",
                m.committed_writes.clone(),
            );
            r.register(
                "tx_conflicts",
                "Transaction conflicts (retried)",
                m.conflicts.clone(),
            );
            r.register(
                "requests_forwarded",
                "Write requests forwarded to the primary",
                m.forwarded.clone(),
            );
            r.register(
                "commit_latency_seconds",
                "Time to append a transaction (KV commit + ledger)",
                m.commit_latency.clone(),
            );
            r.register(
                "request_latency_seconds",
                "Time from request to response",
                m.request_latency.clone(),
            );
            r.register(
                "ledger_size_bytes",
                "Bytes in the node's ledger directory",
                m.ledger_bytes.clone(),
            );
            r.register(
                "open_connections",
                "Open client connections",
                m.open_connections.clone(),
            );
        }
        m
    }

    pub fn observe_commit(&self, d: Duration) {
        self.committed_writes.inc();
        self.commit_latency.observe(d.as_secs_f64());
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let r = self.registry.lock().expect("metrics lock poisoned");
        encode(&mut s, &r).expect("encode to String");
        s
    }
}
