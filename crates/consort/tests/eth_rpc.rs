//! The Ethereum application over HTTPS on a real node: web3 JSON-RPC with transactions
//! signed here (legacy EIP-155 and EIP-1559), receipts with logs, calls, JSON-RPC errors,
//! batches — and contract state and calldata never in clear in the ledger files.

mod common;

use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Address, Bytes as ABytes, Signature, TxKind, U256};
use common::*;
use consort_client::ClientConfig;
use consort_crypto::keys::SigningKey;
use secp256k1::{Message, SecretKey, SECP256K1};
use serde_json::{json, Value};

fn address(sk: &SecretKey) -> Address {
    let pk = sk.public_key(SECP256K1).serialize_uncompressed();
    Address::from_slice(&keccak256(&pk[1..])[12..])
}

fn sign<T: SignableTransaction<Signature>>(sk: &SecretKey, tx: T) -> String
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
fn storage_contract() -> Vec<u8> {
    let mut rt = hex::decode("36600f5760005460005260206000f35b6000356000556000356000527f").unwrap();
    rt.extend([0xaa; 32]);
    rt.extend(hex::decode("60206000a100").unwrap());
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

struct Rpc {
    client: ClientConfig,
}

impl Rpc {
    async fn raw(&self, body: Value) -> Value {
        let mut c = self.client.connect().await.unwrap();
        let r = c.post_json("/app/eth", &body).await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()
    }
    async fn call(&self, method: &str, params: Value) -> Value {
        let r = self
            .raw(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .await;
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }
    async fn error(&self, method: &str, params: Value) -> (i64, String) {
        let r = self
            .raw(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .await;
        (
            r["error"]["code"].as_i64().unwrap_or_else(|| panic!("{r}")),
            r["error"]["message"].as_str().unwrap().to_string(),
        )
    }
    /// The receipt, once the transaction is committed (none before).
    async fn receipt(&self, hash: &Value) -> Value {
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

struct EthNode {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    addr: std::net::SocketAddr,
    child: std::process::Child,
    rpc: Rpc,
}

impl Drop for EthNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node with the Ethereum app (chain 4242), alice (key 0x07…07) funded with 1 ether.
async fn eth_node() -> EthNode {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let key = SigningKey::generate().unwrap();
    let cert = consort_crypto::cert::self_signed_leaf(&key, "user0", 30).unwrap();
    std::fs::write(dir.join("user0_cert.pem"), cert.to_pem()).unwrap();
    std::fs::write(dir.join("user0_privk.pem"), key.to_pem()).unwrap();
    let alice = SecretKey::from_slice(&[7u8; 32]).unwrap();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    std::fs::write(
        dir.join("node.json"),
        serde_json::to_vec(&json!({
            "rpc_address": addr.to_string(),
            "data_dir": "node0",
            "signature_ms_interval": 20,
            "users": [{"certificate_file": "user0_cert.pem"}],
            "apps": {"ethereum": {"chain_id": 4242, "genesis": {address(&alice).to_string(): "0xde0b6b3a7640000"}}},
        }))
        .unwrap(),
    )
    .unwrap();
    let child = consort()
        .args(["node", "start", "--config"])
        .arg(dir.join("node.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let service = consort_client::wait_until_open(
        addr,
        &dir.join("node0/service_cert.pem"),
        Duration::from_secs(30),
        || true,
    )
    .await
    .unwrap();
    let rpc = Rpc {
        client: ClientConfig::new(addr, &service, Some((&cert, &key))).unwrap(),
    };
    EthNode {
        _tmp: tmp,
        dir,
        addr,
        child,
        rpc,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web3_json_rpc_on_a_node() {
    let mut node = eth_node().await;
    let dir = node.dir.clone();
    let alice = SecretKey::from_slice(&[7u8; 32]).unwrap();
    let bob = address(&SecretKey::from_slice(&[8u8; 32]).unwrap());
    let rpc = &node.rpc;
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x1092");
    assert_eq!(
        rpc.call("eth_getBalance", json!([address(&alice), "latest"]))
            .await,
        "0xde0b6b3a7640000"
    );
    // A legacy EIP-155 transfer.
    let t = sign(
        &alice,
        TxLegacy {
            chain_id: Some(4242),
            nonce: 0,
            gas_price: 0,
            gas_limit: 21_000,
            to: TxKind::Call(bob),
            value: U256::from(12345),
            input: ABytes::new(),
        },
    );
    let h = rpc.call("eth_sendRawTransaction", json!([t])).await;
    let r = rpc.receipt(&h).await;
    assert_eq!(r["status"], "0x1");
    assert_eq!(r["gasUsed"], "0x5208");
    assert_eq!(
        rpc.call("eth_getBalance", json!([bob, "latest"])).await,
        "0x3039"
    );
    // Replaying it, a wrong nonce, garbage, an unknown method: JSON-RPC errors.
    assert_eq!(
        rpc.error("eth_sendRawTransaction", json!([t])).await.0,
        -32000
    );
    assert_eq!(
        rpc.error("eth_sendRawTransaction", json!(["0x02ff"]))
            .await
            .0,
        -32602
    );
    assert_eq!(rpc.error("eth_nope", json!([])).await.0, -32601);
    // An EIP-1559 contract deployment, a call that stores and logs, eth_call.
    let marker = [0x5au8; 32];
    let t = sign(
        &alice,
        TxEip1559 {
            chain_id: 4242,
            nonce: 1,
            gas_limit: 300_000,
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
            to: TxKind::Create,
            value: U256::ZERO,
            access_list: Default::default(),
            input: ABytes::from(storage_contract()),
        },
    );
    let h = rpc.call("eth_sendRawTransaction", json!([t])).await;
    let contract: Address =
        serde_json::from_value(rpc.receipt(&h).await["contractAddress"].clone()).unwrap();
    let t = sign(
        &alice,
        TxEip1559 {
            chain_id: 4242,
            nonce: 2,
            gas_limit: 100_000,
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(contract),
            value: U256::ZERO,
            access_list: Default::default(),
            input: ABytes::from(marker.to_vec()),
        },
    );
    let h = rpc.call("eth_sendRawTransaction", json!([t])).await;
    let r = rpc.receipt(&h).await;
    assert_eq!(r["logs"][0]["address"], json!(contract));
    assert_eq!(r["logs"][0]["data"], format!("0x{}", hex::encode(marker)));
    let out = rpc
        .call("eth_call", json!([{"to": contract}, "latest"]))
        .await;
    assert_eq!(out, format!("0x{}", hex::encode(marker)));
    let tx = rpc.call("eth_getTransactionByHash", json!([h])).await;
    assert_eq!(tx["from"], json!(address(&alice)));
    // Logs by address and topic, over a block range.
    let logs = rpc
        .call(
            "eth_getLogs",
            json!([{"fromBlock": "earliest", "toBlock": "latest", "address": contract,
                    "topics": [format!("0x{}", hex::encode([0xaa; 32]))]}]),
        )
        .await;
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(logs[0]["transactionHash"], h);
    let none = rpc
        .call(
            "eth_getLogs",
            json!([{"fromBlock": "earliest", "address": contract,
                    "topics": [format!("0x{}", hex::encode([0xbb; 32]))]}]),
        )
        .await;
    assert_eq!(none, json!([]));
    // A batch.
    let b = rpc
        .raw(json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount", "params": [address(&alice), "latest"]},
            {"jsonrpc": "2.0", "id": 2, "method": "net_version", "params": []}
        ]))
        .await;
    assert_eq!(b[0]["result"], "0x3");
    assert_eq!(b[1]["result"], "4242");
    // Commit, stop; the marker (calldata, log data, storage) is nowhere in clear on disk.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(node.child.id().to_string())
        .status();
    node.child.wait().unwrap();
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir.join("node0/ledger")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        if bytes.windows(32).any(|w| w == marker) {
            found.push(p);
        }
    }
    assert!(found.is_empty(), "marker in clear in {found:?}");
    let out = consort()
        .args(["ledger", "verify"])
        .arg(dir.join("node0/ledger"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

const WEB3_SCRIPT: &str = r#"
import sys
from web3 import Web3, HTTPProvider
from eth_account import Account

url, cert, key, ca, init = sys.argv[1:6]
w3 = Web3(HTTPProvider(url, request_kwargs={"cert": (cert, key), "verify": ca, "timeout": 30}))
alice = Account.from_key("0x" + "07" * 32)
bob = Account.from_key("0x" + "08" * 32).address
assert w3.is_connected()
assert w3.eth.chain_id == 4242, w3.eth.chain_id
assert w3.eth.get_balance(alice.address) == 10**18

def send(tx):
    tx.setdefault("nonce", w3.eth.get_transaction_count(alice.address))
    tx.setdefault("chainId", 4242)
    signed = alice.sign_transaction(tx)
    h = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.05)

# An EIP-1559 transfer.
r = send({"to": bob, "value": 1000, "gas": 21000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0})
assert r.status == 1 and r.gasUsed == 21000, r
assert w3.eth.get_balance(bob) == 1000
# A legacy deployment, a call that stores and logs, eth_call, estimateGas, blocks.
r = send({"data": bytes.fromhex(init), "gas": 300000, "gasPrice": 0})
assert r.status == 1 and r.contractAddress, r
c = r.contractAddress
assert len(w3.eth.get_code(c)) > 0
marker = bytes([0x5a] * 32)
gas = w3.eth.estimate_gas({"from": alice.address, "to": c, "data": marker})
r = send({"to": c, "data": marker, "gas": gas, "gasPrice": 0})
assert r.status == 1 and len(r.logs) == 1, r
assert bytes(r.logs[0].topics[0]) == bytes([0xaa] * 32)
assert bytes(r.logs[0].data) == marker
assert w3.eth.call({"to": c}) == marker
assert w3.eth.get_storage_at(c, 0) == marker
b = w3.eth.get_block(r.blockNumber)
assert r.transactionHash in b.transactions, b
assert w3.eth.get_block(b.hash).number == r.blockNumber
assert w3.eth.get_transaction(r.transactionHash)["from"] == alice.address
assert w3.eth.block_number >= r.blockNumber
logs = w3.eth.get_logs({"address": c, "fromBlock": 0, "toBlock": "latest"})
assert len(logs) == 1 and bytes(logs[0]["data"]) == marker, logs
print("web3 ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web3_py_and_eth_account_work_unmodified() {
    let node = eth_node().await;
    let d = |f: &str| node.dir.join(f).to_str().unwrap().to_string();
    let out = run_python(&[
        "-c",
        WEB3_SCRIPT,
        &format!("https://{}/app/eth", node.addr),
        &d("user0_cert.pem"),
        &d("user0_privk.pem"),
        &d("node0/service_cert.pem"),
        &hex::encode(storage_contract()),
    ]);
    assert!(
        out.status.success() && text(&out.stdout).contains("web3 ok"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
