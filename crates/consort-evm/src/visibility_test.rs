use alloy_primitives::{Address, Bytes as ABytes, B256};
use consort_kv::{Store, Tx};

use super::*;
use crate::{
    bindings::GOV_BINDINGS,
    exec::LogRecord,
    privacy::{init_default, record_contract, Contract, GOV_CONTRACT_PRIVACY, ROLES},
};

fn addr(b: u8) -> Address {
    Address::repeat_byte(b)
}

fn bind(tx: &mut Tx, a: Address, identity: &str) {
    tx.put(
        GOV_BINDINGS,
        format!("{a:#x}").into_bytes(),
        format!(r#"{{"identity":"{identity}"}}"#).into_bytes(),
    );
}

fn user(id: &str) -> Caller {
    Caller::User { id: id.into() }
}

fn topic(a: Address) -> B256 {
    B256::left_padding_from(a.as_slice())
}

/// A receipt of a transaction from `from` to `to` with one `Transfer`-like log by
/// `emitter` naming `holder` in an indexed topic.
fn receipt(from: Address, to: Option<Address>, emitter: Address, holder: Address) -> Receipt {
    Receipt {
        transaction_hash: B256::repeat_byte(0x77),
        index: 0,
        first_log_index: 0,
        cumulative_gas_used: 21_000,
        timestamp: 1,
        from,
        to,
        contract_address: None,
        status: true,
        gas_used: 21_000,
        effective_gas_price: 0,
        tx_type: 0,
        logs: vec![LogRecord {
            address: emitter,
            topics: vec![B256::repeat_byte(0xdd), topic(from), topic(holder)],
            data: ABytes::new(),
        }],
        output: ABytes::new(),
    }
}

/// alice owns 0xa1, bob 0xb1, carol 0xc1; the auditor holds the role; 0xe1 is a private
/// contract alice deployed, 0xf1 a public one.
fn world(tx: &mut Tx, default: Privacy) {
    init_default(tx, default);
    bind(tx, addr(0xa1), "alice");
    bind(tx, addr(0xb1), "bob");
    bind(tx, addr(0xc1), "carol");
    tx.put(ROLES, b"auditor".to_vec(), br#"["auditor"]"#.to_vec());
    let deployer = addr(0xa1);
    for (a, privacy) in [(0xe1, Privacy::Private), (0xf1, Privacy::Public)] {
        record_contract(tx, &addr(a), Contract { privacy, deployer });
    }
}

#[test]
fn a_private_transaction_is_seen_by_its_parties_and_auditors_only() {
    let store = Store::new();
    let mut tx = store.begin();
    world(&mut tx, Privacy::Private);
    // alice pays bob in the private token: alice (sender), bob (in a topic), the auditor.
    let r = receipt(addr(0xa1), Some(addr(0xe1)), addr(0xe1), addr(0xb1));
    let sees = |tx: &mut Tx, who: &str| Viewer::of(tx, &user(who)).sees(tx, &r);
    assert!(sees(&mut tx, "alice"));
    assert!(sees(&mut tx, "bob"));
    assert!(sees(&mut tx, "auditor"));
    assert!(!sees(&mut tx, "carol"));
    assert!(!Viewer::of(&mut tx, &Caller::Anonymous).sees(&mut tx, &r));
    assert!(!Viewer::of(&mut tx, &Caller::Member { id: "alice".into() }).sees(&mut tx, &r));
    // The owner of `to` sees a plain transfer to it; a plain transfer is private under a
    // private default.
    let mut plain = receipt(addr(0xa1), Some(addr(0xc1)), addr(0xe1), addr(0xa1));
    plain.logs.clear();
    assert!(Viewer::of(&mut tx, &user("carol")).sees(&mut tx, &plain));
    assert!(!Viewer::of(&mut tx, &user("bob")).sees(&mut tx, &plain));
    // Governance makes the token public: everyone sees it.
    tx.put(
        GOV_CONTRACT_PRIVACY,
        format!("{:#x}", addr(0xe1)).into_bytes(),
        b"public".to_vec(),
    );
    assert!(Viewer::of(&mut tx, &user("carol")).sees(&mut tx, &r));
}

#[test]
fn a_public_contracts_transaction_is_public_unless_a_private_contract_logs_in_it() {
    let store = Store::new();
    let mut tx = store.begin();
    world(&mut tx, Privacy::Private);
    let carol = Viewer::of(&mut tx, &user("carol"));
    let r = receipt(addr(0xa1), Some(addr(0xf1)), addr(0xf1), addr(0xb1));
    assert!(carol.sees(&mut tx, &r));
    // A public contract that calls into the private one: the private one's log makes the
    // transaction private.
    let mut mixed = r.clone();
    mixed.logs.push(LogRecord {
        address: addr(0xe1),
        topics: vec![B256::repeat_byte(1)],
        data: ABytes::new(),
    });
    assert!(!carol.sees(&mut tx, &mixed));
    // A relayer follows what it relayed, and only that.
    crate::privacy::record_relayed(&mut tx, mixed.transaction_hash.as_slice(), "carol");
    assert!(carol.sees(&mut tx, &mixed));
}

#[test]
fn accounts_code_and_storage_follow_the_mode() {
    let store = Store::new();
    let mut tx = store.begin();
    world(&mut tx, Privacy::Private);
    let [alice, bob, auditor] = ["alice", "bob", "auditor"].map(|w| Viewer::of(&mut tx, &user(w)));
    assert!(auditor.auditor && !alice.auditor);
    // Plain accounts under a private default: their owner and auditors.
    assert!(alice.sees_account(&mut tx, &addr(0xa1)));
    assert!(!bob.sees_account(&mut tx, &addr(0xa1)));
    assert!(auditor.sees_account(&mut tx, &addr(0xa1)));
    // Code of a private contract: its deployer and auditors; storage: auditors only.
    assert_eq!(alice.may_read_code(&mut tx, &addr(0xe1)), Ok(()));
    assert_eq!(
        bob.may_read_code(&mut tx, &addr(0xe1)),
        Err(Refused::Code(addr(0xe1)))
    );
    assert_eq!(auditor.may_read_code(&mut tx, &addr(0xe1)), Ok(()));
    assert_eq!(
        alice.may_read_storage(&mut tx, &addr(0xe1)),
        Err(Refused::Storage(addr(0xe1)))
    );
    assert_eq!(auditor.may_read_storage(&mut tx, &addr(0xe1)), Ok(()));
    // Public contracts, and addresses with nothing at them, are readable by all.
    for a in [addr(0xf1), addr(0x99)] {
        assert_eq!(bob.may_read_code(&mut tx, &a), Ok(()));
        assert_eq!(bob.may_read_storage(&mut tx, &a), Ok(()));
    }
    assert!(bob.sees_account(&mut tx, &addr(0xf1)));
    // Under a public default every plain account is public.
    init_default(&mut tx, Privacy::Public);
    assert!(bob.sees_account(&mut tx, &addr(0xa1)));
}

#[test]
fn only_address_shaped_topics_name_parties() {
    assert_eq!(topic_address(&topic(addr(0xab))), Some(addr(0xab)));
    assert_eq!(topic_address(&B256::ZERO), None);
    assert_eq!(topic_address(&B256::repeat_byte(0xdd)), None);
}
