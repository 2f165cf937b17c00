//! KV commit rate: single-key 100-byte writes, and reads.

use std::hint::black_box;

use consort_kv::Store;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("kv");
    g.throughput(Throughput::Elements(1));
    let value = vec![7u8; 100];
    g.bench_function("commit_100B_write", |b| {
        let store = Store::new();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            let mut tx = store.begin();
            tx.put("records", i.to_be_bytes().to_vec(), value.clone());
            black_box(store.commit(tx, |_| Ok::<_, String>(())).unwrap());
        });
    });
    g.bench_function("read_hit", |b| {
        let store = Store::new();
        let mut tx = store.begin();
        for i in 0..100_000u64 {
            tx.put("records", i.to_be_bytes().to_vec(), value.clone());
        }
        store.commit(tx, |_| Ok::<_, String>(())).unwrap();
        let mut i = 0u64;
        b.iter(|| {
            i = (i + 7919) % 100_000;
            let mut tx = store.begin();
            black_box(tx.get("records", &i.to_be_bytes()));
        });
    });
    // What a busy node does: maps of 100k hashed keys, 32 transactions in flight (each
    // holding the snapshot it began on, so commits copy shared tree nodes), and each
    // commit writing 5 keys over 4 maps (an ERC-20 transfer: account, 2 storage slots,
    // transaction, receipt).
    g.bench_function("commit_5_writes_32_in_flight", |b| {
        let store = Store::new();
        // 32-byte keys spread like hashes (splitmix64 of the index).
        let key = |m: u64, i: u64| {
            let mut x = i.wrapping_add(m << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x ^= x >> 31;
            [x.to_be_bytes(), [0u8; 8], [1u8; 8], [2u8; 8]].concat()
        };
        let mut tx = store.begin();
        for m in 0..4u64 {
            for i in 0..100_000u64 {
                tx.put(&format!("map{m}"), key(m, i), value.clone());
            }
        }
        store.commit(tx, |_| Ok::<_, String>(())).unwrap();
        let mut in_flight: std::collections::VecDeque<_> = (0..32).map(|_| store.begin()).collect();
        let mut i = 100_000u64;
        b.iter(|| {
            i += 1;
            let mut tx = in_flight.pop_front().unwrap();
            tx.put("map0", key(0, i % 2000), value.clone());
            tx.put("map1", key(1, i), value.clone());
            tx.put("map1", key(1, i + 1_000_000), value.clone());
            tx.put("map2", key(2, i), value.clone());
            tx.put("map3", key(3, i), value.clone());
            let _ = black_box(store.commit(tx, |_| Ok::<_, String>(())));
            if i % 1024 == 0 {
                store.compact(store.version());
            }
            in_flight.push_back(store.begin());
        });
    });
    g.finish();
}

criterion_group!(benches, commit);
criterion_main!(benches);
