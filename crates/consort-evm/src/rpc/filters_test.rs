//! The JSON-RPC surface on the endpoint framework's one-node stub: filters belong to their
//! caller and report what it may see; transactions and calls are the caller's own.

use alloy_primitives::{Address, TxKind, U256};
use bytes::Bytes;
use consort_crypto::{cert::self_signed_leaf, keys::SigningKey};
use consort_endpoints::{
    testing::{request, TestHost},
    Registry,
};
use http::Method;
use serde_json::{json, Value};

use crate::{
    bindings::GOV_BINDINGS,
    exec_test::{legacy, storage_contract, Key, CHAIN},
    privacy::{self, Privacy},
    settings,
};

pub(crate) struct Party {
    cert: consort_crypto::cert::Certificate,
    id: String,
}

pub(crate) fn node() -> (TestHost, Party, Party, Key) {
    let mut r = Registry::new();
    crate::rpc::register(&mut r, CHAIN);
    let host = TestHost::new(r);
    let alice_key = Key::new(7);
    let parties: Vec<Party> = ["alice", "bob"]
        .iter()
        .map(|n| {
            let cert = self_signed_leaf(&SigningKey::generate().unwrap(), n, 30).unwrap();
            let mut id = String::new();
            host.write(|tx| id = consort_service::genesis::add_user(tx, &cert, &Value::Null));
            Party { cert, id }
        })
        .collect();
    let [alice, bob]: [Party; 2] = parties.try_into().ok().unwrap();
    let a = alice_key.address();
    host.write(|tx| {
        settings::init_chain(tx, CHAIN.chain_id);
        privacy::init_default(tx, Privacy::Private);
        crate::genesis(tx, &[(a, U256::from(10u64).pow(U256::from(18)))]);
        tx.put(
            GOV_BINDINGS,
            format!("{a:#x}").into_bytes(),
            json!({"identity": alice.id}).to_string().into_bytes(),
        );
    });
    (host, alice, bob, alice_key)
}

pub(crate) fn rpc(h: &TestHost, who: &Party, method: &str, params: Value) -> Value {
    let mut req = request(Method::POST, "/app/eth");
    req.client_cert = Some(who.cert.clone());
    req.body = Bytes::from(
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
    );
    let r = h.call(req).expect("HTTP 200");
    serde_json::from_slice(&r.body).unwrap()
}

pub(crate) fn ok(h: &TestHost, who: &Party, method: &str, params: Value) -> Value {
    let r = rpc(h, who, method, params);
    assert!(r.get("error").is_none(), "{method}: {r}");
    r["result"].clone()
}

pub(crate) fn err(h: &TestHost, who: &Party, method: &str, params: Value) -> (i64, String) {
    let r = rpc(h, who, method, params);
    let e = &r["error"];
    (
        e["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("{method}: {r}")),
        e["message"].as_str().unwrap().to_string(),
    )
}

pub(crate) fn hex(raw: &[u8]) -> String {
    format!("0x{}", hex::encode(raw))
}

#[test]
fn filters_report_only_their_owners_visible_changes() {
    let (h, alice, bob, key) = node();
    let logs_a = ok(&h, &alice, "eth_newFilter", json!([{}]));
    let logs_b = ok(&h, &bob, "eth_newFilter", json!([{}]));
    let blocks_b = ok(&h, &bob, "eth_newBlockFilter", json!([]));
    // alice deploys the storage contract (private by default) and stores a word in it.
    let deploy = key.sign(legacy(0, TxKind::Create, 0, storage_contract()));
    let hash = ok(&h, &alice, "eth_sendRawTransaction", json!([hex(&deploy)]));
    let receipt = ok(&h, &alice, "eth_getTransactionReceipt", json!([hash]));
    let c: Address = serde_json::from_value(receipt["contractAddress"].clone()).unwrap();
    let word = [0x5au8; 32];
    let store = key.sign(legacy(1, TxKind::Call(c), 0, word.to_vec()));
    let stored = ok(&h, &alice, "eth_sendRawTransaction", json!([hex(&store)]));
    // alice's filter has the log; bob's nothing; each new block reaches bob's block filter.
    let got = ok(&h, &alice, "eth_getFilterChanges", json!([logs_a]));
    assert_eq!(got.as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got[0]["transactionHash"], stored);
    assert_eq!(
        ok(&h, &alice, "eth_getFilterChanges", json!([logs_a])),
        json!([])
    );
    assert_eq!(
        ok(&h, &bob, "eth_getFilterChanges", json!([logs_b])),
        json!([])
    );
    let blocks = ok(&h, &bob, "eth_getFilterChanges", json!([blocks_b]));
    assert!(blocks.as_array().unwrap().len() >= 2, "{blocks}");
    // Another caller's filter is an unknown one to bob, and cannot be uninstalled by him.
    let unknown = err(&h, &bob, "eth_getFilterChanges", json!(["0x1234"]));
    assert_eq!(
        err(&h, &bob, "eth_getFilterChanges", json!([logs_a])),
        unknown
    );
    assert_eq!(err(&h, &bob, "eth_getFilterLogs", json!([logs_a])), unknown);
    assert_eq!(unknown, (-32000, "filter not found".to_string()));
    assert_eq!(
        ok(&h, &bob, "eth_uninstallFilter", json!([logs_a])),
        json!(false)
    );
    assert_eq!(
        ok(&h, &alice, "eth_uninstallFilter", json!([logs_a])),
        json!(true)
    );
    assert_eq!(
        err(&h, &alice, "eth_getFilterChanges", json!([logs_a])),
        unknown
    );
    // A pending-transaction filter is empty (transactions are executed when received).
    let p = ok(&h, &bob, "eth_newPendingTransactionFilter", json!([]));
    assert_eq!(ok(&h, &bob, "eth_getFilterChanges", json!([p])), json!([]));
    // Each caller's filters are bounded.
    for _ in 3..super::PER_CALLER {
        ok(&h, &bob, "eth_newBlockFilter", json!([]));
    }
    let (code, m) = err(&h, &bob, "eth_newBlockFilter", json!([]));
    assert_eq!(code, -32000);
    assert!(m.contains("filters per caller"), "{m}");
    ok(&h, &alice, "eth_newBlockFilter", json!([]));
}

#[test]
fn transactions_and_calls_are_the_callers_own() {
    let (h, alice, bob, key) = node();
    // bob cannot submit alice's transaction, nor call as her.
    let deploy = key.sign(legacy(0, TxKind::Create, 0, storage_contract()));
    let (code, m) = err(&h, &bob, "eth_sendRawTransaction", json!([hex(&deploy)]));
    assert_eq!(code, -32003);
    assert!(m.contains("is not bound to the caller"), "{m}");
    let hash = ok(&h, &alice, "eth_sendRawTransaction", json!([hex(&deploy)]));
    let a = format!("{:#x}", key.address());
    let receipt = ok(&h, &alice, "eth_getTransactionReceipt", json!([hash]));
    let c = receipt["contractAddress"].clone();
    assert_eq!(
        err(
            &h,
            &bob,
            "eth_call",
            json!([{"from": a, "to": c}, "latest"])
        ),
        (-32000, "from is not bound to the caller".to_string())
    );
    assert_eq!(
        err(&h, &bob, "eth_estimateGas", json!([{"from": a, "to": c}])).1,
        "from is not bound to the caller"
    );
    ok(
        &h,
        &alice,
        "eth_call",
        json!([{"from": a, "to": c}, "latest"]),
    );
    // What bob sees of alice's private deployment: what he sees of nothing at all.
    let none = format!("0x{}", "11".repeat(32));
    for m in ["eth_getTransactionReceipt", "eth_getTransactionByHash"] {
        assert_eq!(
            ok(&h, &bob, m, json!([hash])),
            ok(&h, &bob, m, json!([none]))
        );
    }
    let fresh = format!("0x{}", "22".repeat(20));
    for m in ["eth_getBalance", "eth_getTransactionCount"] {
        assert_eq!(
            ok(&h, &bob, m, json!([a, "latest"])),
            ok(&h, &bob, m, json!([fresh, "latest"]))
        );
        assert_ne!(ok(&h, &alice, m, json!([a, "latest"])), json!("0x0"));
    }
    assert_eq!(err(&h, &bob, "eth_getCode", json!([c, "latest"])).0, -32000);
    ok(&h, &alice, "eth_getCode", json!([c, "latest"]));
    assert_eq!(
        err(&h, &alice, "eth_getStorageAt", json!([c, "0x0", "latest"])).0,
        -32000
    );
    // The block holds the transaction for alice, not for bob.
    let n = receipt["blockNumber"].clone();
    let for_alice = ok(&h, &alice, "eth_getBlockByNumber", json!([n, false]));
    let for_bob = ok(&h, &bob, "eth_getBlockByNumber", json!([n, false]));
    assert_eq!(for_alice["transactions"], json!([hash]));
    assert_eq!(for_bob["transactions"], json!([]));
    assert_eq!(for_alice["gasUsed"], for_bob["gasUsed"]);
    assert_eq!(for_alice["hash"], for_bob["hash"]);
}
