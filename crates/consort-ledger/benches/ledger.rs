//! Ledger benchmarks. Run: `cargo bench -p consort-ledger --bench ledger`.
//!
//! - `baseline/sha256+aes_gcm_entry`: the raw crypto cost per entry (SHA-256 of a
//!   ~250-byte entry + AES-256-GCM of a 100-byte value), the floor for a commit.
//! - `pipeline/commit_100B_private`: one 100-byte private write through KV commit +
//!   serialize + encrypt + commit evidence + Merkle + append, single thread, with the
//!   default signature interval (a signed, fsynced root every 5000 transactions).
//! - `merkle/append`, `merkle/root`: the tree alone.
//! - `signature/sign_root`: ECDSA P-384 over a root; `signature/tx`: a whole signature
//!   transaction including fsync.

use std::{hint::black_box, sync::Arc};

use consort_crypto::{aead::AesGcmKey, sha256, Sha256Digest};
use consort_kv::{LedgerSecret, LedgerSecrets, Store};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    merkle::MerkleTree,
    Journal, JournalConfig,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn journal(dir: &std::path::Path) -> Journal {
    let service = ServiceIdentity::generate().unwrap();
    let node = Arc::new(NodeIdentity::generate(&service, &Default::default()).unwrap());
    let secrets = LedgerSecrets::single(LedgerSecret::generate().unwrap());
    let cfg = JournalConfig::new(dir);
    let j = Journal::create(cfg, Arc::new(Store::new()), node, secrets).unwrap();
    j.bootstrap_service(&service.cert).unwrap();
    j
}

fn benches(c: &mut Criterion) {
    let value = vec![0x5au8; 100];

    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Elements(1));
    let key = AesGcmKey::new(&[3u8; 32]).unwrap();
    let entry = vec![1u8; 250];
    let mut iv = [0u8; 12];
    g.bench_function("sha256+aes_gcm_entry", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            iv[..8].copy_from_slice(&n.to_le_bytes());
            let mut v = value.clone();
            let tag = key.seal_in_place(&iv, &entry[..120], &mut v).unwrap();
            black_box((tag, sha256(&entry)));
        })
    });
    g.finish();

    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    g.bench_function("commit_100B_private", |b| {
        let d = tempfile::tempdir().unwrap();
        let j = journal(d.path());
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            let mut tx = j.begin();
            tx.put("records", i.to_be_bytes().to_vec(), value.clone());
            black_box(j.commit(tx).unwrap());
        });
    });
    g.finish();

    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(1));
    g.bench_function("append", |b| {
        let mut t = MerkleTree::new();
        let leaf = sha256(b"leaf");
        b.iter(|| t.append(black_box(leaf)));
    });
    g.bench_function("root_of_1M", |b| {
        let mut t = MerkleTree::new();
        for i in 0..1_000_001u64 {
            t.append(sha256(&i.to_le_bytes()));
        }
        b.iter(|| black_box(t.root()));
    });
    g.finish();

    let mut g = c.benchmark_group("signature");
    let d = tempfile::tempdir().unwrap();
    let j = journal(d.path());
    let root = Sha256Digest([7u8; 32]);
    g.bench_function("sign_root", |b| {
        b.iter(|| black_box(j.node().key.sign_digest_sha256(&root).unwrap()))
    });
    g.bench_function("tx_with_fsync", |b| {
        b.iter_batched(
            || {
                let mut tx = j.begin();
                tx.put("records", b"k".to_vec(), value.clone());
                j.commit(tx).unwrap();
            },
            |_| black_box(j.sign().unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(ledger, benches);
criterion_main!(ledger);
