//! Ethereum helpers for end-to-end tests: signing with secp256k1, a JSON-RPC client over
//! the node's TLS client, the `apps` configuration, and the npm tools (node, anvil).

use std::{path::PathBuf, time::Duration};

use alloy_consensus::{SignableTransaction, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Address, Signature};
use consort_client::ClientConfig;
use secp256k1::{Message, SecretKey, SECP256K1};
use serde_json::{json, Value};

pub(crate) fn address(sk: &SecretKey) -> Address {
    let pk = sk.public_key(SECP256K1).serialize_uncompressed();
    Address::from_slice(&keccak256(&pk[1..])[12..])
}

pub(crate) fn sign<T: SignableTransaction<Signature>>(sk: &SecretKey, tx: T) -> String
where
    alloy_consensus::Signed<T>: Into<TxEnvelope>,
{
    let h = tx.signature_hash();
    let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(h.0), sk);
    let (id, bytes) = sig.serialize_compact();
    let env: TxEnvelope = tx
        .into_signed(Signature::from_bytes_and_parity(&bytes, i32::from(id) != 0))
        .into();
    format!("0x{}", hex::encode(env.encoded_2718()))
}

/// Stores its 32-byte calldata in slot 0 and logs it; with no calldata returns slot 0.
pub(crate) fn storage_contract() -> Vec<u8> {
    let mut rt = hex::decode("36600f5760005460005260206000f35b6000356000556000356000527f").unwrap();
    rt.extend([0xaa; 32]);
    rt.extend(hex::decode("60206000a100").unwrap());
    creation_code(&rt)
}

/// Creation code that deploys `rt` as the contract's code (CODECOPY it, RETURN it).
pub(crate) fn creation_code(rt: &[u8]) -> Vec<u8> {
    let mut init = vec![
        0x60,
        rt.len() as u8,
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
    init.extend(rt);
    init
}

pub(crate) struct Rpc {
    pub(crate) client: ClientConfig,
}

impl Rpc {
    pub(crate) async fn raw(&self, body: Value) -> Value {
        let mut c = self.client.connect().await.unwrap();
        let r = c.post_json("/app/eth", &body).await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()
    }
    pub(crate) async fn call(&self, method: &str, params: Value) -> Value {
        let r = self
            .raw(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .await;
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }
    pub(crate) async fn error(&self, method: &str, params: Value) -> (i64, String) {
        let r = self
            .raw(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .await;
        (
            r["error"]["code"].as_i64().unwrap_or_else(|| panic!("{r}")),
            r["error"]["message"].as_str().unwrap().to_string(),
        )
    }
    /// The receipt, once the transaction is committed (none before).
    pub(crate) async fn receipt(&self, hash: &Value) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.call("eth_getTransactionReceipt", json!([hash])).await;
            if !r.is_null() {
                return r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no receipt for {hash}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The `apps` configuration of nodes running the Ethereum application on `chain_id`, with
/// `funded` holding 1000 ether each, and the `public` privacy default (today's dapp
/// behaviour; the privacy tests set their own).
pub(crate) fn eth_apps(chain_id: u64, funded: &[Address]) -> Value {
    let genesis: serde_json::Map<String, Value> = funded
        .iter()
        .map(|a| (a.to_string(), json!("0x3635c9adc5dea00000")))
        .collect();
    json!({"ethereum": {"chain_id": chain_id, "genesis": genesis, "privacy_default": "public"}})
}

/// The one-line JSON summary a test script prints last.
pub(crate) fn summary(out: &str) -> Value {
    let start = out.rfind("\n{").map_or(0, |i| i + 1);
    serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("summary: {e}\n{out}"))
}

/// `f` in the network's directory, as a string (for scripts' arguments).
pub(crate) fn path(net: &super::network::Network, f: &str) -> String {
    net.dir.join(f).to_str().unwrap().to_string()
}

/// Bind the addresses of `keys` to the caller of `client`, as a wallet would: fetch the
/// message, sign it, `POST /app/eth/bind`.
pub(crate) async fn bind_keys(client: &ClientConfig, keys: &[SecretKey]) {
    let mut c = client.connect().await.unwrap();
    for k in keys {
        let a = address(k);
        // A node opens its application frontend a moment after the service opens.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let r = loop {
            let r = c
                .get(&format!("/app/eth/bind/message?address={a:#x}&nonce=1"))
                .await
                .unwrap();
            let closed =
                r.status == 404 && String::from_utf8_lossy(&r.body).contains("FrontendNotOpen");
            if !closed || std::time::Instant::now() > deadline {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let m: Value = r.json().unwrap();
        let sig = consort_evm::bindings::personal_sign(k, m["message"].as_str().unwrap());
        let sig = format!("0x{}", hex::encode(sig));
        let body = json!({"address": format!("{a:#x}"), "nonce": 1, "signature": sig});
        let r = c.post_json("/app/eth/bind", &body).await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

/// The test keys 0x0101…, 0x0202…, …: `n` of them.
pub(crate) fn test_keys(n: u8) -> Vec<SecretKey> {
    (1..=n)
        .map(|i| SecretKey::from_slice(&[i; 32]).unwrap())
        .collect()
}

pub(crate) fn key_hex(k: &SecretKey) -> String {
    format!("0x{}", hex::encode(k.secret_bytes()))
}

/// The npm test packages (ethers, solc, OpenZeppelin, anvil), installed by scripts/test.sh.
pub(crate) fn js_dir() -> PathBuf {
    let d = super::workspace().join("crates/consort/tests/js");
    assert!(
        d.join("node_modules/ethers").is_dir(),
        "npm packages missing in {}: run scripts/test.sh (it runs `npm ci` there)",
        d.display()
    );
    d
}

/// `node` running `script` of the JS test directory with `env`; its stdout, or a panic
/// with everything it printed.
pub(crate) fn run_node(script: &str, env: &[(&str, String)]) -> String {
    let mut c = std::process::Command::new("node");
    c.arg(script).current_dir(js_dir());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (Node.js is required): {e}"));
    let (o, e) = (super::text(&out.stdout), super::text(&out.stderr));
    assert!(out.status.success(), "{script} failed:\n{o}\n{e}");
    o
}

/// The anvil binary of the npm package `@foundry-rs/anvil-linux-amd64`.
pub(crate) fn anvil_bin() -> PathBuf {
    let p = js_dir().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(p.is_file(), "anvil missing at {}", p.display());
    p
}

/// Propose `actions` and vote for them as member0 (the only member), then wait until every
/// node has committed the change.
pub(crate) async fn pass(
    net: &super::network::Network,
    g: &consort_client::gov::Gov,
    actions: Value,
) {
    let r = super::ok(
        &g.propose(&json!({ "actions": actions }).to_string())
            .await
            .unwrap(),
    );
    let id = r["proposalId"].as_str().unwrap().to_string();
    let reply = g.vote(&id, true).await.unwrap();
    let r = super::ok(&reply);
    assert_eq!(r["proposalState"], "Accepted", "{actions}: {r}");
    let txid: consort_kv::TxId = reply.txid.unwrap().parse().unwrap();
    for i in 0..net.nodes.len() {
        net.wait_commit(i, txid.seqno, Duration::from_secs(10))
            .await;
    }
}

/// A child process killed when this is dropped, also when a test fails first.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
