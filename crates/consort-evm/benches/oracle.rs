//! No oracle, in time: what a hidden transaction, receipt or balance costs to answer, side
//! by side with a nonexistent one, through the JSON-RPC handler on the one-node test host.
//! The README reports each hidden/nonexistent pair as a ratio.

use std::hint::black_box;

use alloy_consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Address, Signature, TxKind, U256};
use bytes::Bytes;
use consort_crypto::{cert::self_signed_leaf, keys::SigningKey};
use consort_endpoints::{
    testing::{request, TestHost},
    Registry,
};
use consort_evm::{bindings::GOV_BINDINGS, privacy, settings, Chain};
use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use secp256k1::{Message, SecretKey, SECP256K1};
use serde_json::{json, Value};

const CHAIN: Chain = Chain {
    chain_id: 1337,
    block_gas_limit: 30_000_000,
};

fn address(k: &SecretKey) -> Address {
    let pk = k.public_key(SECP256K1).serialize_uncompressed();
    Address::from_slice(&keccak256(&pk[1..])[12..])
}

fn transfer(k: &SecretKey, nonce: u64, to: Address) -> String {
    let tx = TxLegacy {
        chain_id: Some(CHAIN.chain_id),
        nonce,
        gas_price: 1,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        input: Default::default(),
    };
    let h = tx.signature_hash();
    let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(h.0), k);
    let (id, bytes) = sig.serialize_compact();
    let s = Signature::from_bytes_and_parity(&bytes, i32::from(id) != 0);
    let env: TxEnvelope = tx.into_signed(s).into();
    format!("0x{}", hex::encode(env.encoded_2718()))
}

struct Party(consort_crypto::cert::Certificate);

fn rpc(h: &TestHost, who: &Party, method: &str, params: &Value) -> Bytes {
    let mut req = request(Method::POST, "/app/eth");
    req.client_cert = Some(who.0.clone());
    req.body = Bytes::from(
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
    );
    h.call(req).expect("HTTP 200").body
}

/// A private service where alice (bound, funded) sent a transfer; bob is another user.
fn service() -> (TestHost, Party, Party, Address, String) {
    let mut r = Registry::new();
    consort_evm::rpc::register(&mut r, CHAIN);
    let host = TestHost::new(r);
    let key = SecretKey::from_slice(&[7; 32]).unwrap();
    let a = address(&key);
    let parties = ["alice", "bob"].map(|n| {
        let cert = self_signed_leaf(&SigningKey::generate().unwrap(), n, 30).unwrap();
        let mut id = String::new();
        host.write(|tx| id = consort_service::genesis::add_user(tx, &cert, &Value::Null));
        (Party(cert), id)
    });
    host.write(|tx| {
        settings::init_chain(tx, CHAIN.chain_id);
        privacy::init_default(tx, privacy::Privacy::Private);
        consort_evm::genesis(tx, &[(a, U256::from(10u64).pow(U256::from(18)))]);
        let id = &parties[0].1;
        tx.put(
            GOV_BINDINGS,
            format!("{a:#x}").into_bytes(),
            json!({ "identity": id }).to_string().into_bytes(),
        );
    });
    let [(alice, _), (bob, _)] = parties;
    let sent = rpc(
        &host,
        &alice,
        "eth_sendRawTransaction",
        &json!([transfer(&key, 0, Address::repeat_byte(0x42))]),
    );
    let hash = serde_json::from_slice::<Value>(&sent).unwrap()["result"]
        .as_str()
        .expect("a hash")
        .to_string();
    (host, alice, bob, a, hash)
}

fn oracle(c: &mut Criterion) {
    let (host, alice, bob, a, hash) = service();
    let unknown = format!("{:#x}", keccak256(b"no such transaction"));
    let fresh = format!("{:#x}", Address::repeat_byte(0x5e));
    let pairs = [
        ("eth_getTransactionByHash", json!([hash]), json!([unknown])),
        ("eth_getTransactionReceipt", json!([hash]), json!([unknown])),
        (
            "eth_getBalance",
            json!([format!("{a:#x}"), "latest"]),
            json!([fresh, "latest"]),
        ),
    ];
    let mut g = c.benchmark_group("oracle");
    for (method, hidden, none) in &pairs {
        // The answers are the same bytes; the bench is about their time.
        assert_eq!(
            rpc(&host, &bob, method, hidden),
            rpc(&host, &bob, method, none)
        );
        assert_ne!(
            rpc(&host, &alice, method, hidden),
            rpc(&host, &bob, method, hidden),
            "{method}: alice sees what bob does not"
        );
        g.bench_function(format!("{method}/hidden"), |b| {
            b.iter(|| black_box(rpc(&host, &bob, method, hidden)))
        });
        g.bench_function(format!("{method}/nonexistent"), |b| {
            b.iter(|| black_box(rpc(&host, &bob, method, none)))
        });
        g.bench_function(format!("{method}/visible"), |b| {
            b.iter(|| black_box(rpc(&host, &alice, method, hidden)))
        });
    }
    g.finish();
}

criterion_group!(benches, oracle);
criterion_main!(benches);
