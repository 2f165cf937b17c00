//! The Ethereum application over HTTPS on a real node: web3 JSON-RPC with transactions
//! signed here (legacy EIP-155 and EIP-1559), receipts with logs, calls, JSON-RPC errors,
//! batches — and contract state and calldata never in clear in the ledger files.

use std::time::Duration;

use crate::common::{eth::*, *};
use alloy_consensus::{TxEip1559, TxLegacy};
use alloy_primitives::{Address, Bytes as ABytes, TxKind, U256};
use consort_client::ClientConfig;
use consort_crypto::keys::SigningKey;
use secp256k1::SecretKey;
use serde_json::{json, Value};

pub(crate) struct EthNode {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    child: std::process::Child,
    pub(crate) rpc: Rpc,
    service: consort_crypto::cert::Certificate,
}

impl Drop for EthNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node with the Ethereum app (chain 4242), alice (key 0x07…07) funded with 1 ether.
async fn eth_node() -> EthNode {
    eth_node_with(json!({})).await
}

/// [`eth_node`] with `extra` settings in its configuration.
pub(crate) async fn eth_node_with(extra: Value) -> EthNode {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let key = SigningKey::generate().unwrap();
    let cert = consort_crypto::cert::self_signed_leaf(&key, "user0", 30).unwrap();
    std::fs::write(dir.join("user0_cert.pem"), cert.to_pem()).unwrap();
    std::fs::write(dir.join("user0_privk.pem"), key.to_pem()).unwrap();
    let alice = SecretKey::from_slice(&[7u8; 32]).unwrap();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut config = json!({
        "rpc_address": addr.to_string(),
        "data_dir": "node0",
        "signature_ms_interval": 20,
        "users": [{"certificate_file": "user0_cert.pem"}],
        "apps": {"ethereum": {"chain_id": 4242, "genesis": {address(&alice).to_string(): "0xde0b6b3a7640000"}, "privacy_default": "public"}},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        config[k] = v.clone();
    }
    std::fs::write(dir.join("node.json"), serde_json::to_vec(&config).unwrap()).unwrap();
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
    bind_keys(&rpc.client, &[alice]).await;
    EthNode {
        _tmp: tmp,
        dir,
        child,
        rpc,
        service,
    }
}

async fn get_json(client: &ClientConfig, path: &str) -> (u16, Value) {
    let mut c = client.connect().await.unwrap();
    let r = c.get(path).await.unwrap();
    (r.status, r.json().unwrap_or(Value::Null))
}

/// Checks an Ethereum receipt upgrade with CCF's `ccf.receipt`: claims digest, leaf (= the
/// block hash), root, node signature, service endorsement.
const CCF_CHECK: &str = r#"
import sys, json, hashlib
from cryptography.x509 import load_pem_x509_certificate
import ccf.receipt
up = json.load(open(sys.argv[1]))
service = load_pem_x509_certificate(open(sys.argv[2], "rb").read())
r = up["receipt"]
lc = r["leaf_components"]
assert hashlib.sha256(up["claims"].encode()).hexdigest() == lc["claims_digest"]
ce = hashlib.sha256(lc["commit_evidence"].encode()).digest()
leaf = hashlib.sha256(bytes.fromhex(lc["write_set_digest"]) + ce + bytes.fromhex(lc["claims_digest"])).hexdigest()
assert "0x" + leaf == sys.argv[3], (leaf, sys.argv[3])
node_cert = load_pem_x509_certificate(r["cert"].encode())
ccf.receipt.verify(ccf.receipt.root(leaf, r["proof"]), r["signature"], node_cert)
ccf.receipt.check_endorsements(node_cert, service, [load_pem_x509_certificate(e.encode()) for e in r.get("service_endorsements", [])])
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web3_json_rpc_on_a_node() {
    let mut node = eth_node().await;
    let dir = node.dir.clone();
    let alice = SecretKey::from_slice(&[7u8; 32]).unwrap();
    let bob = address(&SecretKey::from_slice(&[8u8; 32]).unwrap());
    let rpc = &node.rpc;
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x1092");
    // Only users governance registered: no certificate, or an unknown one, gets 401 with
    // CCF's error body, on both paths of the endpoint.
    let stranger_key = SigningKey::generate().unwrap();
    let stranger = consort_crypto::cert::self_signed_leaf(&stranger_key, "stranger", 30).unwrap();
    for identity in [None, Some((&stranger, &stranger_key))] {
        let client = ClientConfig::new(rpc.client.addr, &node.service, identity).unwrap();
        for path in ["/app/eth", "/"] {
            let mut c = client.connect().await.unwrap();
            let r = c
                .post(
                    path,
                    r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#.into(),
                    "application/json",
                )
                .await
                .unwrap();
            let body = r.json().unwrap();
            assert_eq!(r.status, 401, "{path}: {body}");
            assert_eq!(body["error"]["code"], "InvalidAuthenticationInfo", "{body}");
            assert!(body["error"]["message"].is_string(), "{body}");
        }
    }
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
    // A legacy transaction shows EIP-155's v (chain id folded in).
    let v = rpc.call("eth_getTransactionByHash", json!([h])).await["v"].clone();
    assert!(
        v == json!(format!("{:#x}", 4242 * 2 + 35)) || v == json!(format!("{:#x}", 4242 * 2 + 36)),
        "{v}"
    );
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
    assert_eq!(tx["blockHash"], r["blockHash"]);
    // The same JSON-RPC at `/`, as clients configured with a bare URL expect.
    let mut c = rpc.client.connect().await.unwrap();
    let root = c
        .post_json(
            "/",
            &json!({"jsonrpc": "2.0", "id": 7, "method": "eth_chainId"}),
        )
        .await
        .unwrap();
    assert_eq!(root.json().unwrap()["result"], "0x1092");
    // The Ethereum receipt upgrades to a Consort receipt: its block hash is the
    // transaction's Merkle leaf, and its claims (the block's receipts) are in the leaf.
    let (status, up) = get_json(
        &rpc.client,
        &format!("/app/eth/receipt?hash={}", h.as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 200, "{up}");
    assert_eq!(up["ethereum_receipt"], r);
    let lc = &up["receipt"]["leaf_components"];
    let leaf = consort_crypto::sha256_concat(&[
        &hex::decode(lc["write_set_digest"].as_str().unwrap()).unwrap(),
        consort_crypto::sha256(lc["commit_evidence"].as_str().unwrap().as_bytes()).as_bytes(),
        &hex::decode(lc["claims_digest"].as_str().unwrap()).unwrap(),
    ]);
    assert_eq!(r["blockHash"], format!("0x{leaf}"));
    // The claims are the digests of the block's receipts; the claim, this one's receipt.
    let claims: Vec<String> = serde_json::from_str(up["claims"].as_str().unwrap()).unwrap();
    let claim = up["claim"].as_str().unwrap();
    assert!(claims.contains(&consort_crypto::sha256(claim.as_bytes()).to_string()));
    assert_eq!(
        serde_json::from_str::<Value>(claim).unwrap()["transaction_hash"],
        h
    );
    let rfile = dir.join("eth_receipt.json");
    std::fs::write(&rfile, serde_json::to_vec(&up).unwrap()).unwrap();
    let out = verify_receipt(&rfile, &dir.join("node0/service_cert.pem"));
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(h.as_str().unwrap()),
        "{}",
        text(&out.stdout)
    );
    // CCF's own receipt code agrees; other claims than the ones in the leaf are refused.
    let py = run_python(&[
        "-c",
        CCF_CHECK,
        rfile.to_str().unwrap(),
        dir.join("node0/service_cert.pem").to_str().unwrap(),
        r["blockHash"].as_str().unwrap(),
    ]);
    assert!(
        py.status.success(),
        "{}{}",
        text(&py.stdout),
        text(&py.stderr)
    );
    let mut forged = up.clone();
    let mut f = up["claims"].as_str().unwrap().to_string();
    let first = if f.as_bytes()[2] == b'0' { "1" } else { "0" };
    f.replace_range(2..3, first);
    forged["claims"] = json!(f);
    assert_ne!(forged["claims"], up["claims"]);
    std::fs::write(&rfile, serde_json::to_vec(&forged).unwrap()).unwrap();
    let out = verify_receipt(&rfile, &dir.join("node0/service_cert.pem"));
    assert!(!out.status.success(), "forged claims accepted");
    // A claim that is not among the claims (a forged receipt): refused.
    let mut forged = up.clone();
    forged["claim"] = json!(claim.replace("\"status\":true", "\"status\":false"));
    assert_ne!(forged["claim"], up["claim"]);
    std::fs::write(&rfile, serde_json::to_vec(&forged).unwrap()).unwrap();
    let out = verify_receipt(&rfile, &dir.join("node0/service_cert.pem"));
    assert!(!out.status.success(), "a forged claim accepted");
    // Genuine claims shown with the receipt of another transaction: refused too.
    let mut other = up.clone();
    other["ethereum_receipt"]["transactionHash"] = json!(format!("0x{}", "22".repeat(32)));
    std::fs::write(&rfile, serde_json::to_vec(&other).unwrap()).unwrap();
    let out = verify_receipt(&rfile, &dir.join("node0/service_cert.pem"));
    assert!(
        !out.status.success(),
        "a receipt outside the claims accepted"
    );
    // Bounded requests: percentiles, batch size.
    let (code, _) = rpc
        .error("eth_feeHistory", json!(["0x4", "latest", vec![50; 101]]))
        .await;
    assert_eq!(code, -32602);
    let big: Vec<Value> = (0..1001)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId"}))
        .collect();
    assert_eq!(rpc.raw(json!(big)).await["error"]["code"], -32600);
    let (status, _) = get_json(
        &rpc.client,
        &format!("/app/eth/receipt?hash=0x{}", "11".repeat(32)),
    )
    .await;
    assert_eq!(status, 404);
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

/// Increments storage slot 0 on every call: every transaction reads and writes the same key.
fn counter_contract() -> Vec<u8> {
    let rt = hex::decode("60005460010160005500").unwrap();
    crate::common::eth::creation_code(&rt)
}

/// Concurrent transactions from many senders through every node of a 3-node network, all
/// writing one storage slot: they conflict and retry as KV transactions do, and no
/// increment is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_transactions_retry_and_lose_no_update() {
    use crate::common::network::{NetOptions, Network};
    let keys = test_keys(8);
    let funded: Vec<Address> = keys.iter().map(address).collect();
    let net = Network::start(
        3,
        NetOptions {
            apps: eth_apps(4242, &funded),
            ..Default::default()
        },
    )
    .await;
    let rpc = Rpc {
        client: net.client(0),
    };
    bind_keys(&rpc.client, &keys).await;
    let tx = |k: &SecretKey, nonce: u64, to: TxKind, input: Vec<u8>| {
        sign(
            k,
            TxLegacy {
                chain_id: Some(4242),
                nonce,
                gas_price: 0,
                gas_limit: 100_000,
                to,
                value: U256::ZERO,
                input: ABytes::from(input),
            },
        )
    };
    let h = rpc
        .call(
            "eth_sendRawTransaction",
            json!([tx(&keys[0], 0, TxKind::Create, counter_contract())]),
        )
        .await;
    let c: Address =
        serde_json::from_value(rpc.receipt(&h).await["contractAddress"].clone()).unwrap();
    const PER: u64 = 10;
    let mut tasks = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let rpc = Rpc {
            client: net.client(i % 3),
        };
        let k = *k;
        let first = u64::from(i == 0);
        tasks.push(tokio::spawn(async move {
            let mut last = Value::Null;
            for n in first..first + PER {
                last = rpc
                    .call(
                        "eth_sendRawTransaction",
                        json!([tx(&k, n, TxKind::Call(c), vec![])]),
                    )
                    .await;
            }
            rpc.receipt(&last).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap()["status"], "0x1");
    }
    let slot = rpc
        .call("eth_getStorageAt", json!([c, "0x0", "latest"]))
        .await;
    assert_eq!(
        U256::from_str_radix(slot.as_str().unwrap().trim_start_matches("0x"), 16).unwrap(),
        U256::from(PER * keys.len() as u64)
    );
}

/// `consort receipt verify FILE --service-cert CERT`.
fn verify_receipt(file: &std::path::Path, cert: &std::path::Path) -> std::process::Output {
    consort()
        .args(["receipt", "verify"])
        .arg(file)
        .arg("--service-cert")
        .arg(cert)
        .output()
        .unwrap()
}

/// Each sender's nonces sent highest first, odd ones and even ones over two connections to
/// different nodes at once: every transaction is mined, in nonce order (the lane's pool
/// holds each until its predecessor executes).
#[tokio::test(flavor = "multi_thread")]
async fn nonces_out_of_order_across_connections_are_mined_in_order() {
    use crate::common::network::{NetOptions, Network};
    let keys = test_keys(4);
    let funded: Vec<Address> = keys.iter().map(address).collect();
    let net = Network::start(
        3,
        NetOptions {
            apps: eth_apps(4243, &funded),
            ..Default::default()
        },
    )
    .await;
    bind_keys(&net.client(0), &keys).await;
    const N: u64 = 12;
    let transfer = |k: &SecretKey, nonce: u64| {
        sign(
            k,
            TxLegacy {
                chain_id: Some(4243),
                nonce,
                gas_price: 1,
                gas_limit: 21_000,
                to: TxKind::Call(Address::repeat_byte(0x55)),
                value: U256::from(nonce + 1),
                input: ABytes::new(),
            },
        )
    };
    let mut tasks = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        for parity in 0..2u64 {
            let rpc = Rpc {
                client: net.client((i + parity as usize) % 3),
            };
            let txs: Vec<(u64, String)> = (0..N)
                .rev()
                .filter(|n| n % 2 == parity)
                .map(|n| (n, transfer(k, n)))
                .collect();
            tasks.push(tokio::spawn(async move {
                let mut hashes = Vec::new();
                for (n, raw) in txs {
                    let h = rpc.call("eth_sendRawTransaction", json!([raw])).await;
                    hashes.push((n, h));
                }
                hashes
            }));
        }
    }
    let mut sent: Vec<Vec<(u64, Value)>> = vec![Vec::new(); keys.len()];
    for (t, task) in tasks.into_iter().enumerate() {
        sent[t / 2].extend(task.await.unwrap());
    }
    let rpc = Rpc {
        client: net.client(0),
    };
    for (i, hashes) in sent.iter_mut().enumerate() {
        hashes.sort_by_key(|(n, _)| *n);
        let mut last: Option<(u64, u64)> = None;
        for (n, h) in hashes.iter() {
            let r = rpc.receipt(h).await;
            assert_eq!(r["status"], "0x1", "sender {i}, nonce {n}: {r}");
            let at = |k: &str| {
                u64::from_str_radix(r[k].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
            };
            let here = (at("blockNumber"), at("transactionIndex"));
            assert!(
                last.is_none_or(|l| l < here),
                "sender {i}: nonce {n} at {here:?}, after {last:?}"
            );
            last = Some(here);
        }
        let nonce = rpc
            .call(
                "eth_getTransactionCount",
                json!([format!("{:#x}", address(&keys[i])), "latest"]),
            )
            .await;
        assert_eq!(nonce, json!(format!("{N:#x}")));
    }
}
