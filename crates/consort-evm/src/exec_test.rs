use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Address, Bytes as ABytes, Signature, TxKind, U256};
use consort_kv::Store;
use secp256k1::{Message, SecretKey, SECP256K1};

use super::*;

pub(crate) struct Key(SecretKey);

impl Key {
    pub(crate) fn new(b: u8) -> Self {
        Key(SecretKey::from_slice(&[b; 32]).unwrap())
    }
    pub(crate) fn address(&self) -> Address {
        let pk = self.0.public_key(SECP256K1).serialize_uncompressed();
        Address::from_slice(&keccak256(&pk[1..])[12..])
    }
    pub(crate) fn sign<T: SignableTransaction<Signature>>(&self, tx: T) -> Vec<u8>
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

pub(crate) const CHAIN: Chain = Chain {
    chain_id: 1337,
    block_gas_limit: 30_000_000,
};

pub(crate) fn legacy(nonce: u64, to: TxKind, value: u64, input: Vec<u8>) -> TxLegacy {
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
pub(crate) fn storage_contract() -> Vec<u8> {
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

pub(crate) fn deploy_code(runtime: &[u8]) -> Vec<u8> {
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

fn no_hashes(_: u64) -> Option<alloy_primitives::B256> {
    None
}

pub(crate) fn block(number: u64) -> BlockCtx<'static> {
    BlockCtx {
        chain: &CHAIN,
        number,
        timestamp: 1_700_000_000,
        hashes: &no_hashes,
        earlier: None,
    }
}

fn run(store: &Store, raw: &[u8]) -> Result<Receipt, EvmError> {
    let mut tx = store.begin();
    let r = send_raw(&mut tx, &block(store.version() + 1), raw);
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
        &block(store.version()),
        &CallRequest {
            to: Some(c),
            ..Default::default()
        },
        &crate::visibility::Viewer {
            identity: None,
            auditor: true,
            relayer: false,
        },
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

#[test]
fn fees_use_the_effective_price_and_untouched_accounts_are_not_rewritten() {
    let store = Store::new();
    let a = Key::new(9);
    funded(&store, &[&a]);
    let one_eth = U256::from(10u64).pow(U256::from(18));
    let r = run(
        &store,
        &a.sign(eip1559(0, TxKind::Create, storage_contract())),
    )
    .unwrap();
    let c = r.contract_address.unwrap();
    // Base fee 0: an EIP-1559 transaction pays its priority fee (1), not its max fee (2).
    assert_eq!(r.effective_gas_price, 1);
    let mut tx = store.begin();
    assert_eq!(
        db::KvDb { tx: &mut tx }.account(&a.address()).balance,
        one_eth - U256::from(r.gas_used)
    );
    // A call that only changes storage writes the sender and the slot, never the contract's
    // account or code (they would make every call to a contract conflict with every other).
    let mut tx = store.begin();
    send_raw(
        &mut tx,
        &block(store.version() + 1),
        &a.sign(eip1559(1, TxKind::Call(c), word(7))),
    )
    .unwrap();
    let ws = tx.write_set();
    let accounts: Vec<_> = ws.maps[db::ACCOUNTS].keys().cloned().collect();
    assert_eq!(
        accounts,
        vec![consort_kv::Bytes::copy_from_slice(a.address().as_slice())]
    );
    assert!(!ws.maps.contains_key(db::CODE));
    assert_eq!(ws.maps[db::STORAGE].len(), 1);
}

#[test]
fn a_block_of_several_transactions_numbers_them_and_claims_their_receipts() {
    let store = Store::new();
    let (a, b) = (Key::new(10), Key::new(11));
    funded(&store, &[&a, &b]);
    let r = run(
        &store,
        &a.sign(eip1559(0, TxKind::Create, storage_contract())),
    )
    .unwrap();
    let c = r.contract_address.unwrap();
    let mut tx = store.begin();
    let blk = block(store.version() + 1);
    let r0 = send_raw(&mut tx, &blk, &a.sign(eip1559(1, TxKind::Call(c), word(1)))).unwrap();
    let r1 = send_raw(&mut tx, &blk, &b.sign(eip1559(0, TxKind::Call(c), word(2)))).unwrap();
    assert_eq!((r0.index, r1.index), (0, 1));
    assert_eq!((r0.first_log_index, r1.first_log_index), (0, 1));
    assert_eq!(r1.cumulative_gas_used, r0.gas_used + r1.gas_used);
    assert_eq!(
        tx.claims_digest(),
        Some(consort_crypto::sha256(
            crate::exec::claims(&[r0.clone(), r1.clone()]).as_bytes()
        ))
    );
}

#[test]
fn governance_allow_list_limits_senders() {
    use crate::settings::ETH_SENDERS;
    let store = Store::new();
    let (a, b) = (Key::new(12), Key::new(13));
    funded(&store, &[&a, &b]);
    // Empty list: anyone.
    run(
        &store,
        &b.sign(legacy(0, TxKind::Call(a.address()), 1, vec![])),
    )
    .unwrap();
    let mut tx = store.begin();
    tx.put(
        ETH_SENDERS,
        format!("{:#x}", a.address()).into_bytes(),
        b"{}".to_vec(),
    );
    store.commit(tx, |_| Ok::<_, String>(())).unwrap();
    assert_eq!(
        run(
            &store,
            &b.sign(legacy(1, TxKind::Call(a.address()), 1, vec![]))
        ),
        Err(EvmError::SenderNotAllowed(b.address()))
    );
    run(
        &store,
        &a.sign(legacy(0, TxKind::Call(b.address()), 1, vec![])),
    )
    .unwrap();
}

#[test]
fn governance_sets_balances_and_the_chain_id() {
    use crate::settings::{ETH_BALANCE_UPDATES, ETH_CONFIG};
    let store = Store::new();
    let a = Key::new(14);
    let mut tx = store.begin();
    let key = format!("{:#x}", a.address()).into_bytes();
    tx.put(ETH_BALANCE_UPDATES, key.clone(), b"0x10".to_vec());
    tx.put(ETH_CONFIG, b"chain_id".to_vec(), b"77".to_vec());
    crate::settings::apply_balance_updates(&mut tx).unwrap();
    assert_eq!(
        db::KvDb { tx: &mut tx }.account(&a.address()).balance,
        U256::from(16)
    );
    assert!(tx.get(ETH_BALANCE_UPDATES, &key).is_none(), "consumed");
    assert_eq!(crate::settings::chain(&mut tx, CHAIN).chain_id, 77);
    tx.put(ETH_BALANCE_UPDATES, key, b"twelve".to_vec());
    assert!(crate::settings::apply_balance_updates(&mut tx).is_err());
}

#[test]
fn a_transaction_reading_number_commits_only_as_that_block() {
    let (alice, bob) = (Key::new(1), Key::new(2));
    let store = Store::new();
    funded(&store, &[&alice, &bob]);
    // Runtime: store NUMBER in slot 0. Bob's transfer touches nothing it reads.
    let deploy = alice.sign(legacy(
        0,
        TxKind::Create,
        0,
        deploy_code(&hex::decode("4360005500").unwrap()),
    ));
    let contract = run(&store, &deploy).unwrap().contract_address.unwrap();
    let mut plain = store.begin();
    let b = block(plain.read_version() + 1);
    send_raw(
        &mut plain,
        &b,
        &bob.sign(legacy(0, TxKind::Call(Address::repeat_byte(9)), 1, vec![])),
    )
    .unwrap();
    let mut reader = store.begin();
    let b = block(reader.read_version() + 1);
    send_raw(
        &mut reader,
        &b,
        &alice.sign(legacy(1, TxKind::Call(contract), 0, vec![])),
    )
    .unwrap();
    // The transfer commits first: the transaction that read NUMBER would land in the next
    // block, so it conflicts (and the endpoint runs it again).
    store.commit(plain, |_| Ok::<_, String>(())).unwrap();
    assert!(matches!(
        store.commit(reader, |_| Ok::<_, String>(())),
        Err(consort_kv::CommitError::Kv(
            consort_kv::KvError::Conflict { .. }
        ))
    ));
    let mut again = store.begin();
    let number = again.read_version() + 1;
    send_raw(
        &mut again,
        &block(number),
        &alice.sign(legacy(1, TxKind::Call(contract), 0, vec![])),
    )
    .unwrap();
    store.commit(again, |_| Ok::<_, String>(())).unwrap();
    assert_eq!(store.version(), number);
    let mut t = store.begin();
    assert_eq!(
        crate::db::KvDb { tx: &mut t }.slot(&contract, &U256::ZERO),
        U256::from(number)
    );
}
