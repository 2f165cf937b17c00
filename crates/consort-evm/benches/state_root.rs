//! What a real Ethereum `stateRoot` per block would cost (the measurement behind leaving
//! `eth_getProof` out): the Merkle-Patricia root of the ERC-20 benchmark's state (N
//! holders: N accounts and the token's N balance slots) from scratch, against one
//! keccak-256 of a full branch node (532 bytes), the unit of an incremental update (one per
//! trie level above each changed leaf, about log16(N) + 1 per leaf, in both tries).
//!
//! `cargo bench -p consort-evm --bench state_root`

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_trie::{root, TrieAccount, EMPTY_ROOT_HASH, KECCAK_EMPTY};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// The holders' accounts, and the token's balance slots (hashed key, value).
type State = (Vec<(Address, TrieAccount)>, Vec<(B256, U256)>);

fn state(n: u64) -> State {
    let holders: Vec<Address> = (0..n)
        .map(|i| Address::from_word(keccak256(i.to_be_bytes())))
        .collect();
    let slots = holders
        .iter()
        .map(|a| {
            let mut k = [0u8; 64];
            k[12..32].copy_from_slice(a.as_slice());
            (keccak256(k), U256::from(1_000_000u64))
        })
        .collect();
    let accounts = holders
        .iter()
        .map(|a| {
            let acc = TrieAccount {
                nonce: 25,
                balance: U256::from(10u64).pow(U256::from(21)),
                storage_root: EMPTY_ROOT_HASH,
                code_hash: KECCAK_EMPTY,
            };
            (*a, acc)
        })
        .collect();
    (accounts, slots)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("state_root");
    g.sample_size(10);
    for n in [2_000u64, 20_000] {
        let (accounts, slots) = state(n);
        let token = Address::repeat_byte(0x70);
        g.bench_with_input(BenchmarkId::new("from_scratch", n), &n, |b, _| {
            b.iter(|| {
                let storage_root = root::storage_root_unhashed(slots.iter().copied());
                let token_account = TrieAccount {
                    nonce: 1,
                    balance: U256::ZERO,
                    storage_root,
                    code_hash: keccak256(b"token code"),
                };
                root::state_root_ref_unhashed(
                    accounts
                        .iter()
                        .map(|(a, t)| (a, t))
                        .chain(std::iter::once((&token, &token_account))),
                )
            })
        });
    }
    let node = [0xabu8; 532];
    g.bench_function("keccak_of_a_branch_node", |b| {
        b.iter(|| keccak256(std::hint::black_box(node)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
