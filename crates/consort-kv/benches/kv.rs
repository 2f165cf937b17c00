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
    g.finish();
}

criterion_group!(benches, commit);
criterion_main!(benches);
