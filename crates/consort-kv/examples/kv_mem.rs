//! Resident memory per key of the store, measured (not estimated): N transactions of one
//! 8-byte key and a V-byte value each, applied as a backup applies replicated entries,
//! then compacted. `cargo run --release -p consort-kv --example kv_mem -- [N] [V]`.

#![allow(clippy::print_stdout)]

use bytes::Bytes;
use consort_kv::{Store, TxId, WriteSet};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let v: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let store = Store::new();
    let before = rss_bytes();
    let value = vec![b'x'; v];
    for i in 1..=n {
        let mut ws = WriteSet::default();
        ws.put(
            "records",
            Bytes::copy_from_slice(&i.to_le_bytes()),
            Bytes::copy_from_slice(&value),
        );
        store.apply(TxId::new(2, i), &ws).expect("apply");
        if i % 1000 == 0 {
            store.compact(i);
        }
    }
    store.compact(n);
    let after = rss_bytes();
    let per = (after - before) as f64 / n as f64;
    println!(
        "{n} keys of 8 bytes with {v}-byte values: RSS +{:.1} MB, {per:.0} bytes per key ({:.0} of them the key and value)",
        (after - before) as f64 / 1e6,
        (8 + v) as f64
    );
    drop(store);
}
