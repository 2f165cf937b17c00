use alloy_primitives::{keccak256, Address, Bytes as ABytes, TxKind, B256, U256};
use consort_kv::{Store, Tx};

use crate::{
    bindings::GOV_BINDINGS,
    exec::{self, CallRequest},
    exec_test::{block, deploy_code, legacy, Key},
    privacy::{init_default, Privacy, GOV_CONTRACT_PRIVACY, ROLES},
    visibility::Viewer,
};

/// Returns, for the address in its calldata: `BALANCE`, `EXTCODEHASH`, and the first 32
/// bytes `EXTCODECOPY` copies.
fn probe() -> Vec<u8> {
    let runtime = concat!(
        "600035",           // a = calldataload(0)
        "8031600052",       // mem[0] = balance(a)
        "803f602052",       // mem[32] = extcodehash(a)
        "602060006040833c", // extcodecopy(a, 64, 0, 32)
        "50",               // pop a
        "60606000f3",       // return mem[0..96]
    );
    deploy_code(&hex::decode(runtime).unwrap())
}

fn bind(tx: &mut Tx, a: Address, identity: &str) {
    tx.put(
        GOV_BINDINGS,
        format!("{a:#x}").into_bytes(),
        format!(r#"{{"identity":"{identity}"}}"#).into_bytes(),
    );
}

fn user(id: &str) -> Viewer {
    Viewer {
        identity: Some(id.into()),
        auditor: false,
        relayer: false,
    }
}

struct World {
    store: Store,
    alice: Key,
    bob: Key,
    /// alice's private contract (the probe itself, so it also reads its own code).
    secret: Address,
    /// bob's probe.
    probe: Address,
}

const FUNDS: u64 = 1_000_000_000_000_000_000;

/// alice and bob, each bound and funded; alice deploys a probe, bob deploys a probe, both
/// under the service default `default`; the auditor holds its role.
fn world(default: Privacy) -> World {
    let (alice, bob) = (Key::new(0xa1), Key::new(0xb1));
    let store = Store::new();
    let mut tx = store.begin();
    init_default(&mut tx, default);
    bind(&mut tx, alice.address(), "alice");
    bind(&mut tx, bob.address(), "bob");
    tx.put(ROLES, b"auditor".to_vec(), br#"["auditor"]"#.to_vec());
    let funds = U256::from(FUNDS);
    crate::genesis(&mut tx, &[(alice.address(), funds), (bob.address(), funds)]);
    store.commit(tx, |_| Ok::<_, String>(())).unwrap();
    let deploy = |k: &Key| {
        let mut tx = store.begin();
        let raw = k.sign(legacy(0, TxKind::Create, 0, probe()));
        let r = exec::send_raw(&mut tx, &block(store.version() + 1), &raw).unwrap();
        store.commit(tx, |_| Ok::<_, String>(())).unwrap();
        r.contract_address.unwrap()
    };
    let secret = deploy(&alice);
    let probe = deploy(&bob);
    World {
        store,
        alice,
        bob,
        secret,
        probe,
    }
}

/// (balance, code hash, first code word) of `a` as `viewer`'s code sees them, and the gas.
fn look(w: &World, viewer: &Viewer, from: Address, a: Address) -> ([U256; 3], u64) {
    let mut tx = w.store.begin();
    let r = exec::call(
        &mut tx,
        &block(w.store.version() + 1),
        &CallRequest {
            from: Some(from),
            to: Some(w.probe),
            data: ABytes::from(B256::left_padding_from(a.as_slice()).to_vec()),
            ..Default::default()
        },
        viewer,
    )
    .unwrap();
    assert!(r.success, "{r:?}");
    let words = [0, 1, 2].map(|i| U256::from_be_slice(&r.output[i * 32..i * 32 + 32]));
    (words, r.gas_used)
}

fn real(w: &World, a: Address) -> [U256; 3] {
    let mut tx = w.store.begin();
    let info = crate::db::KvDb { tx: &mut tx }.account(&a);
    let code = tx
        .get(crate::db::CODE, info.code_hash.as_slice())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let mut first = [0u8; 32];
    let n = code.len().min(32);
    first[..n].copy_from_slice(&code[..n]);
    [
        info.balance,
        U256::from_be_bytes(info.code_hash.0),
        U256::from_be_bytes(first),
    ]
}

#[test]
fn code_sees_only_what_its_party_may_see() {
    let w = world(Privacy::Private);
    let (alice, bob) = (w.alice.address(), w.bob.address());
    let auditor = Viewer {
        identity: Some("auditor".into()),
        auditor: true,
        relayer: false,
    };
    let hidden_code = [U256::ZERO, U256::from_be_bytes(keccak256([]).0), U256::ZERO];
    // bob's code, for bob: alice's balance is 0, her private contract's code unreadable.
    let (seen, gas_hidden) = look(&w, &user("bob"), bob, alice);
    assert_eq!(seen, [U256::ZERO, U256::ZERO, U256::ZERO]);
    let (seen, _) = look(&w, &user("bob"), bob, w.secret);
    assert_eq!(seen, hidden_code);
    // ... but his own account, and the probe's own code and balance, are real.
    assert_eq!(look(&w, &user("bob"), bob, bob).0, real(&w, bob));
    assert_eq!(look(&w, &user("bob"), bob, w.probe).0, real(&w, w.probe));
    assert_ne!(real(&w, w.probe)[2], U256::ZERO);
    // alice sees her own; the auditor sees all. The gas is the same either way.
    let (seen, _) = look(&w, &user("alice"), alice, alice);
    assert_eq!(seen, real(&w, alice));
    assert_ne!(seen[0], U256::ZERO);
    let (seen, gas_seen) = look(&w, &auditor, bob, alice);
    assert_eq!(seen, real(&w, alice));
    assert_eq!(
        gas_hidden, gas_seen,
        "a hidden answer costs what a real one does"
    );
    assert_eq!(
        look(&w, &user("alice"), alice, w.secret).0,
        real(&w, w.secret)
    );
    assert_eq!(look(&w, &auditor, bob, w.secret).0, real(&w, w.secret));
    // A nonexistent account reads as zeros for everyone.
    let nobody = Address::repeat_byte(0x99);
    assert_eq!(look(&w, &user("bob"), bob, nobody).0, [U256::ZERO; 3]);
    // Governance makes alice's contract public: its code is readable.
    let mut tx = w.store.begin();
    tx.put(
        GOV_CONTRACT_PRIVACY,
        format!("{:#x}", w.secret).into_bytes(),
        b"public".to_vec(),
    );
    w.store.commit(tx, |_| Ok::<_, String>(())).unwrap();
    let (seen, _) = look(&w, &user("bob"), bob, w.secret);
    assert_eq!(seen[1..], real(&w, w.secret)[1..]);
}

#[test]
fn a_transaction_runs_for_its_senders_owner() {
    let w = world(Privacy::Private);
    let data = B256::left_padding_from(w.alice.address().as_slice()).to_vec();
    let send = |k: &Key, nonce: u64| {
        let mut tx = w.store.begin();
        let raw = k.sign(legacy(nonce, TxKind::Call(w.probe), 0, data.clone()));
        let r = exec::send_raw(&mut tx, &block(w.store.version() + 1), &raw).unwrap();
        w.store.commit(tx, |_| Ok::<_, String>(())).unwrap();
        assert!(r.status);
        U256::from_be_slice(&r.output[..32])
    };
    assert_eq!(
        send(&w.bob, 1),
        U256::ZERO,
        "bob's transaction reads alice's balance as 0"
    );
    // alice's reads it as it is once her upfront gas is taken (legacy: 200,000 at price 1).
    let before = real(&w, w.alice.address())[0];
    assert_ne!(before, U256::ZERO);
    assert_eq!(send(&w.alice, 1), before - U256::from(200_000));
}

#[test]
fn under_a_public_default_code_sees_everything() {
    let w = world(Privacy::Public);
    let bob = w.bob.address();
    for a in [w.alice.address(), w.secret] {
        assert_eq!(look(&w, &user("bob"), bob, a).0, real(&w, a));
    }
    let carol = Viewer {
        identity: None,
        auditor: false,
        relayer: false,
    };
    assert_eq!(
        look(&w, &carol, bob, w.alice.address()).0,
        real(&w, w.alice.address())
    );
}
