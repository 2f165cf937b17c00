//! The ordered lane through the JSON-RPC handler on the one-node test host: concurrent
//! transfers to one hot address all commit (none is thrown back for conflicting), and a
//! batch answers element by element.

use alloy_primitives::{Address, TxKind, U256};
use bytes::Bytes;
use consort_crypto::{cert::self_signed_leaf, keys::SigningKey};
use consort_endpoints::{
    execute::Host as _,
    testing::{request, TestHost},
    Registry,
};
use http::Method;
use serde_json::{json, Value};

use crate::{
    bindings::GOV_BINDINGS,
    exec_test::{legacy, Key, CHAIN},
    privacy::{self, Privacy},
    settings,
};

const SENDERS: u8 = 8;
const EACH: u64 = 25;

/// A service where user alice holds the addresses of `SENDERS` funded keys.
fn node() -> (TestHost, consort_crypto::cert::Certificate, Vec<Key>) {
    let mut r = Registry::new();
    crate::rpc::register(&mut r, CHAIN);
    let host = TestHost::new(r);
    let cert = self_signed_leaf(&SigningKey::generate().unwrap(), "alice", 30).unwrap();
    let mut id = String::new();
    host.write(|tx| id = consort_service::genesis::add_user(tx, &cert, &Value::Null));
    let keys: Vec<Key> = (1..=SENDERS).map(|i| Key::new(0x30 + i)).collect();
    host.write(|tx| {
        settings::init_chain(tx, CHAIN.chain_id);
        privacy::init_default(tx, Privacy::Private);
        let funds = U256::from(10u64).pow(U256::from(18));
        let allocs: Vec<_> = keys.iter().map(|k| (k.address(), funds)).collect();
        crate::genesis(tx, &allocs);
        for k in &keys {
            tx.put(
                GOV_BINDINGS,
                format!("{:#x}", k.address()).into_bytes(),
                json!({ "identity": id }).to_string().into_bytes(),
            );
        }
    });
    (host, cert, keys)
}

/// POST `body` as alice: the JSON answer and the transaction id header.
fn post(
    h: &TestHost,
    cert: &consort_crypto::cert::Certificate,
    body: &Value,
) -> (Value, Option<String>) {
    let mut req = request(Method::POST, "/app/eth");
    req.client_cert = Some(cert.clone());
    req.body = Bytes::from(body.to_string());
    let r = h.call(req).expect("HTTP 200");
    let txid = r
        .headers
        .iter()
        .find(|(k, _)| k == consort_endpoints::TXID_HEADER)
        .map(|(_, v)| v.clone());
    (serde_json::from_slice(&r.body).unwrap(), txid)
}

fn send(raw: &[u8]) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
           "params": [format!("0x{}", hex::encode(raw))]})
}

#[test]
fn concurrent_transfers_to_one_address_all_commit() {
    let (h, cert, keys) = node();
    let hot = Address::repeat_byte(0x42);
    std::thread::scope(|s| {
        for k in &keys {
            let (h, cert) = (&h, &cert);
            s.spawn(move || {
                for n in 0..EACH {
                    let raw = k.sign(legacy(n, TxKind::Call(hot), 3, vec![]));
                    let (r, txid) = post(h, cert, &send(&raw));
                    assert!(r.get("error").is_none(), "nonce {n}: {r}");
                    assert!(txid.is_some(), "a send's answer names its transaction");
                }
            });
        }
    });
    for k in &keys {
        let nonce = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount",
                           "params": [format!("{:#x}", k.address()), "pending"]});
        assert_eq!(
            post(&h, &cert, &nonce).0["result"],
            json!(format!("{EACH:#x}"))
        );
    }
    let mut tx = h.begin();
    let got = crate::db::KvDb { tx: &mut tx }.account(&hot).balance;
    assert_eq!(got, U256::from(3 * EACH * u64::from(SENDERS)));
}

#[test]
fn a_batch_answers_each_element() {
    let (h, cert, keys) = node();
    let to = Address::repeat_byte(0x43);
    let stranger = Key::new(0x99);
    let batch = json!([
        send(&keys[0].sign(legacy(0, TxKind::Call(to), 1, vec![]))),
        send(&keys[0].sign(legacy(0, TxKind::Call(to), 2, vec![]))),
        {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId"},
        send(&stranger.sign(legacy(0, TxKind::Call(to), 1, vec![]))),
        send(&keys[1].sign(legacy(0, TxKind::Call(to), 1, vec![]))),
        {"jsonrpc": "2.0", "id": 8, "method": "no_such_method"},
    ]);
    let (r, txid) = post(&h, &cert, &batch);
    let r = r.as_array().unwrap();
    assert_eq!(r.len(), 6);
    assert!(r[0]["result"].is_string(), "{}", r[0]);
    assert_eq!(r[1]["error"]["code"], -32000, "{}", r[1]);
    assert!(
        r[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nonce too low"),
        "{}",
        r[1]
    );
    assert_eq!(r[2]["result"], json!(format!("{:#x}", CHAIN.chain_id)));
    assert_eq!(r[2]["id"], 7);
    assert_eq!(r[3]["error"]["code"], -32003, "{}", r[3]);
    assert!(r[4]["result"].is_string(), "{}", r[4]);
    assert_eq!(r[5]["error"]["code"], -32601, "{}", r[5]);
    assert!(
        txid.is_some(),
        "the batch's answer names the transaction of its sends"
    );
    // The two accepted transfers are in one block, in batch order.
    let receipt = |hash: &Value| {
        let q = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt", "params": [hash]});
        post(&h, &cert, &q).0["result"].clone()
    };
    let (a, b) = (receipt(&r[0]["result"]), receipt(&r[4]["result"]));
    assert_eq!(a["blockNumber"], b["blockNumber"], "{a} {b}");
    assert_eq!(a["transactionIndex"], "0x0");
    assert_eq!(b["transactionIndex"], "0x1");
    // The block's claims (one digest per receipt, kept as the lane goes) are what its
    // ledger leaf commits to.
    let mut req = request(
        Method::GET,
        &format!("/app/eth/receipt?hash={}", r[4]["result"].as_str().unwrap()),
    );
    req.client_cert = Some(cert.clone());
    let c: Value = serde_json::from_slice(&h.call(req).expect("HTTP 200").body).unwrap();
    let claims: Vec<String> = serde_json::from_str(c["claims"].as_str().unwrap()).unwrap();
    assert_eq!(claims.len(), 2, "{c}");
    assert_eq!(
        consort_crypto::sha256(c["claims"].as_str().unwrap().as_bytes()).to_string(),
        c["receipt"]["leaf_components"]["claims_digest"]
            .as_str()
            .unwrap(),
        "{c}"
    );
    assert_eq!(
        claims[1],
        consort_crypto::sha256(c["claim"].as_str().unwrap().as_bytes()).to_string()
    );
}

fn rpc(
    h: &TestHost,
    cert: &consort_crypto::cert::Certificate,
    method: &str,
    params: Value,
) -> Value {
    post(
        h,
        cert,
        &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
    )
    .0
}

#[test]
fn a_nonce_ahead_waits_in_the_pool_until_the_gap_fills() {
    let (h, alice, keys) = node();
    let bob = self_signed_leaf(&SigningKey::generate().unwrap(), "bob", 30).unwrap();
    h.write(|tx| {
        consort_service::genesis::add_user(tx, &bob, &Value::Null);
    });
    let (k, to) = (&keys[0], Address::repeat_byte(0x44));
    let priced = |nonce: u64, value: u64, price: u128| {
        let mut t = legacy(nonce, TxKind::Call(to), value, vec![]);
        t.gas_price = price;
        k.sign(t)
    };
    // Nonces 1 and 2 come first: each is answered with its hash at once.
    let (r1, _) = post(&h, &alice, &send(&priced(1, 1, 1)));
    let h1 = r1["result"].clone();
    assert!(h1.is_string(), "{r1}");
    // Pending to its sender's owner; unknown to another user.
    let pending = rpc(&h, &alice, "eth_getTransactionByHash", json!([h1]));
    assert_eq!(pending["result"]["hash"], h1, "{pending}");
    assert_eq!(pending["result"]["blockNumber"], Value::Null, "{pending}");
    assert_eq!(
        rpc(&h, &bob, "eth_getTransactionByHash", json!([h1]))["result"],
        Value::Null
    );
    assert_eq!(
        rpc(&h, &alice, "eth_getTransactionReceipt", json!([h1]))["result"],
        Value::Null
    );
    // Replacing nonce 2 needs a gas price at least 10 % higher.
    let h2 = post(&h, &alice, &send(&priced(2, 1, 10))).0["result"].clone();
    let (under, _) = post(&h, &alice, &send(&priced(2, 2, 10)));
    assert!(
        under["error"]["message"]
            .as_str()
            .unwrap()
            .contains("underpriced"),
        "{under}"
    );
    let h2b = post(&h, &alice, &send(&priced(2, 3, 11))).0["result"].clone();
    assert!(h2b.is_string());
    // Nonce 0 fills the gap: 0, 1 and the replacement 2 execute, in nonce order, in one block.
    let (r0, txid) = post(&h, &alice, &send(&priced(0, 1, 1)));
    assert!(txid.is_some(), "{r0}");
    let receipt = |hash: &Value| {
        rpc(&h, &alice, "eth_getTransactionReceipt", json!([hash]))["result"].clone()
    };
    let (a, b, c) = (receipt(&r0["result"]), receipt(&h1), receipt(&h2b));
    assert_eq!(
        (
            a["transactionIndex"].clone(),
            b["transactionIndex"].clone(),
            c["transactionIndex"].clone()
        ),
        (json!("0x0"), json!("0x1"), json!("0x2"))
    );
    assert_eq!(a["blockNumber"], c["blockNumber"]);
    assert_eq!(
        receipt(&h2),
        Value::Null,
        "the replaced transaction never runs"
    );
    let nonce = rpc(
        &h,
        &alice,
        "eth_getTransactionCount",
        json!([format!("{:#x}", k.address()), "latest"]),
    );
    assert_eq!(nonce["result"], "0x3");
    // A sender may have at most POOL_PER_SENDER transactions waiting.
    for n in 0..crate::lane::POOL_PER_SENDER as u64 {
        let (r, _) = post(&h, &alice, &send(&priced(10 + n, 1, 1)));
        assert!(r["result"].is_string(), "{n}: {r}");
    }
    let (full, _) = post(&h, &alice, &send(&priced(500, 1, 1)));
    assert!(
        full["error"]["message"]
            .as_str()
            .unwrap()
            .contains("txpool is full"),
        "{full}"
    );
}
