use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Address, Bytes as ABytes, Signature, TxKind, U256};
use consort_kv::Store;
use secp256k1::{Message, SecretKey, SECP256K1};

use super::*;

struct Key(SecretKey);

impl Key {
    fn new(b: u8) -> Self {
        Key(SecretKey::from_slice(&[b; 32]).unwrap())
    }
    fn address(&self) -> Address {
        let pk = self.0.public_key(SECP256K1).serialize_uncompressed();
        Address::from_slice(&keccak256(&pk[1..])[12..])
    }
    fn sign<T: SignableTransaction<Signature>>(&self, tx: T) -> Vec<u8>
    where
        alloy_consensus::Signed<T>: Into<TxEnvelope>,
    {
        let h = tx.signature_hash();
        let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(h.0), &self.0);
        let (id, bytes) = sig.serialize_compact();
        let s = Signature::from_bytes_and_parity(&bytes, i32::from(id) != 0);
        let env: TxEnvelope = tx.into_signed(s).into();
        env.encoded_2718()
    }
}

const CHAIN: Chain = Chain {
    chain_id: 1337,
    block_gas_limit: 30_000_000,
};

fn legacy(nonce: u64, to: TxKind, value: u64, input: Vec<u8>) -> TxLegacy {
    TxLegacy {
        chain_id: Some(1337),
        nonce,
        gas_price: 1,
        gas_limit: 200_000,
        to,
        value: U256::from(value),
        input: ABytes::from(input),
    }
}

fn eip1559(nonce: u64, to: TxKind, input: Vec<u8>) -> TxEip1559 {
    TxEip1559 {
        chain_id: 1337,
        nonce,
        gas_limit: 500_000,
        max_fee_per_gas: 2,
        max_priority_fee_per_gas: 1,
        to,
        value: U256::ZERO,
        access_list: Default::default(),
        input: ABytes::from(input),
    }
}

/// Stores its calldata word in slot 0 and logs it; with no calldata returns slot 0.
fn storage_contract() -> Vec<u8> {
    let mut runtime = hex::decode("3660").unwrap();
    runtime.push(0x0f); // jump target: the setter
    runtime.extend(hex::decode("57600054600052602060 00f3".replace(' ', "")).unwrap());
    runtime.extend(hex::decode("5b6000356000556000356000527f").unwrap());
    runtime.extend([0xaa; 32]);
    runtime.extend(hex::decode("60206000a100").unwrap());
    assert_eq!(runtime[15], 0x5b, "jump target");
    deploy_code(&runtime)
}

/// Always reverts with the word 42.
fn reverting_contract() -> Vec<u8> {
    deploy_code(&hex::decode("602a60005260206000fd").unwrap())
}

fn deploy_code(runtime: &[u8]) -> Vec<u8> {
    let mut init = vec![
        0x60,
        runtime.len() as u8,
        0x80,
        0x60,
        0x0b,
        0x60,
        0x00,
        0x39,
        0x60,
        0x00,
        0xf3,
    ];
    init.extend_from_slice(runtime);
    init
}

fn word(v: u64) -> Vec<u8> {
    U256::from(v).to_be_bytes::<32>().to_vec()
}

fn funded(store: &Store, who: &[&Key]) {
    let mut tx = store.begin();
    let allocs: Vec<_> = who
        .iter()
        .map(|k| (k.address(), U256::from(10u64).pow(U256::from(18))))
        .collect();
    genesis(&mut tx, &allocs);
    store.commit(tx, |_| Ok::<_, String>(())).unwrap();
}

fn run(store: &Store, raw: &[u8]) -> Result<Receipt, EvmError> {
    let mut tx = store.begin();
    let r = send_raw(&mut tx, &CHAIN, raw, store.version() + 1, 1_700_000_000);
    if r.is_ok() {
        store.commit(tx, |_| Ok::<_, String>(())).unwrap();
    } else {
        assert!(
            tx.write_set().is_empty(),
            "a refused transaction wrote nothing"
        );
    }
    r
}

#[test]
fn transfers_move_value_and_bump_nonces() {
    let store = Store::new();
    let (a, b) = (Key::new(1), Key::new(2));
    funded(&store, &[&a]);
    let r = run(
        &store,
        &a.sign(legacy(0, TxKind::Call(b.address()), 1000, vec![])),
    )
    .unwrap();
    assert!(r.status);
    assert_eq!(r.gas_used, 21_000);
    assert_eq!(r.from, a.address());
    let mut tx = store.begin();
    let mut db = db::KvDb { tx: &mut tx };
    assert_eq!(db.account(&b.address()).balance, U256::from(1000));
    let ai = db.account(&a.address());
    assert_eq!(ai.nonce, 1);
    assert_eq!(
        ai.balance,
        U256::from(10u64).pow(U256::from(18)) - U256::from(1000 + 21_000)
    );
}

#[test]
fn contracts_deploy_store_log_and_answer_calls() {
    let store = Store::new();
    let a = Key::new(3);
    funded(&store, &[&a]);
    let r = run(
        &store,
        &a.sign(eip1559(0, TxKind::Create, storage_contract())),
    )
    .unwrap();
    assert!(r.status, "{r:?}");
    let c = r.contract_address.expect("created");
    assert_eq!(c, a.address().create(0));
    let r = run(&store, &a.sign(eip1559(1, TxKind::Call(c), word(42)))).unwrap();
    assert!(r.status);
    assert_eq!(r.logs.len(), 1);
    assert_eq!(r.logs[0].address, c);
    assert_eq!(r.logs[0].topics[0].0, [0xaa; 32]);
    assert_eq!(r.logs[0].data.to_vec(), word(42));
    let mut tx = store.begin();
    let out = call(
        &mut tx,
        &CHAIN,
        &CallRequest {
            to: Some(c),
            ..Default::default()
        },
        store.version(),
        0,
    )
    .unwrap();
    assert!(out.success);
    assert_eq!(out.output.to_vec(), word(42));
    assert!(tx.write_set().is_empty(), "calls change nothing");
    assert_eq!(
        db::KvDb { tx: &mut tx }.slot(&c, &U256::ZERO),
        U256::from(42)
    );
}

#[test]
fn reverts_are_included_with_their_data_and_no_state_change() {
    let store = Store::new();
    let a = Key::new(4);
    funded(&store, &[&a]);
    let r = run(
        &store,
        &a.sign(legacy(0, TxKind::Create, 0, reverting_contract())),
    )
    .unwrap();
    let c = r.contract_address.unwrap();
    let r = run(&store, &a.sign(legacy(1, TxKind::Call(c), 5, vec![]))).unwrap();
    assert!(!r.status);
    assert_eq!(r.output.to_vec(), word(42));
    let mut tx = store.begin();
    assert_eq!(
        db::KvDb { tx: &mut tx }.account(&c).balance,
        U256::ZERO,
        "value not moved"
    );
    assert_eq!(db::KvDb { tx: &mut tx }.account(&a.address()).nonce, 2);
}

#[test]
fn bad_transactions_are_refused_and_write_nothing() {
    let store = Store::new();
    let (a, b) = (Key::new(5), Key::new(6));
    funded(&store, &[&a]);
    let good = a.sign(legacy(0, TxKind::Call(b.address()), 1, vec![]));
    // Wrong chain.
    let mut other = legacy(0, TxKind::Call(b.address()), 1, vec![]);
    other.chain_id = Some(1);
    assert!(matches!(
        run(&store, &a.sign(other)),
        Err(EvmError::ChainId { .. })
    ));
    // No chain id (pre-EIP-155).
    let mut bare = legacy(0, TxKind::Call(b.address()), 1, vec![]);
    bare.chain_id = None;
    assert!(run(&store, &a.sign(bare)).is_err());
    // Wrong nonce.
    assert!(matches!(
        run(
            &store,
            &a.sign(legacy(7, TxKind::Call(b.address()), 1, vec![]))
        ),
        Err(EvmError::Nonce {
            expected: 0,
            got: 7
        })
    ));
    // Garbage and a tampered signature.
    assert!(matches!(
        run(&store, b"\x02\xff\x00"),
        Err(EvmError::Decode(_))
    ));
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 5] ^= 0xff;
    match run(&store, &bad) {
        Err(_) => {}
        Ok(r) => assert_ne!(
            r.from,
            a.address(),
            "a tampered signature is another sender"
        ),
    }
    // An unfunded sender cannot pay for gas.
    assert!(run(
        &store,
        &b.sign(legacy(0, TxKind::Call(a.address()), 1, vec![]))
    )
    .is_err());
    // The good one goes through once; its replay is refused.
    run(&store, &good).unwrap();
    assert!(run(&store, &good).is_err());
}
