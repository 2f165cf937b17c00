//! Real Ethereum clients, unmodified, against a 3-node network running the Ethereum
//! application: web3.py + eth-account (PyPI), ethers v6 with solc-js-compiled OpenZeppelin
//! ERC-20/ERC-721 (npm); the same signed transactions on Consort and on anvil give the same
//! receipts, return data and final state; governance limits senders and sets balances and
//! the chain id.

use std::time::Duration;

use crate::common::{
    eth::*,
    network::{NetOptions, Network},
    *,
};
use alloy_consensus::TxLegacy;
use alloy_primitives::{Address, Bytes as ABytes, TxKind, U256};
use consort_client::{gov::Gov, Reply};
use serde_json::{json, Value};

const CHAIN: u64 = 4242;

/// A network of `n` nodes with the Ethereum application (`public` default); `keys`
/// funded with 1000 ether and bound to user0.
async fn eth_network(n: usize, keys: &[secp256k1::SecretKey]) -> Network {
    let net = eth_network_unbound(n, keys).await;
    bind_keys(&net.client(0), keys).await;
    net
}

/// [`eth_network`] with `keys` bound to nobody.
async fn eth_network_unbound(n: usize, keys: &[secp256k1::SecretKey]) -> Network {
    let funded: Vec<Address> = keys.iter().map(address).collect();
    Network::start(
        n,
        NetOptions {
            apps: eth_apps(CHAIN, &funded),
            ..Default::default()
        },
    )
    .await
}

/// The JSON-RPC URLs of every node.
fn urls(net: &Network) -> Vec<String> {
    net.nodes
        .iter()
        .map(|n| format!("https://{}/app/eth", n.rpc))
        .collect()
}

/// Environment for the JS scripts: endpoints, TLS material, funded keys.
fn js_env(net: &Network, keys: &[secp256k1::SecretKey]) -> Vec<(&'static str, String)> {
    let u = urls(net);
    vec![
        ("ETH_RPC_URL", u[0].clone()),
        ("ETH_RPC_URLS", u.join(",")),
        ("CONSORT_CA", path(net, "service_cert.pem")),
        ("CONSORT_CERT", path(net, "user0_cert.pem")),
        ("CONSORT_KEY", path(net, "user0_privk.pem")),
        ("ETH_CHAIN_ID", CHAIN.to_string()),
        (
            "ETH_KEYS",
            keys.iter().map(key_hex).collect::<Vec<_>>().join(","),
        ),
    ]
}

const WEB3_SCRIPT: &str = r#"
import sys
from web3 import Web3, HTTPProvider
from eth_account import Account

urls, cert, key, ca, init = sys.argv[1:6]
urls = urls.split(",")
def provider(url):
    return Web3(HTTPProvider(url, request_kwargs={"cert": (cert, key), "verify": ca, "timeout": 30}))
# Transactions go to one node, reads to another (backups forward to the primary).
w3, w3r = provider(urls[0]), provider(urls[-1])
alice = Account.from_key("0x" + "07" * 32)
bob = Account.from_key("0x" + "08" * 32).address
assert w3.is_connected()
assert w3.eth.chain_id == 4242, w3.eth.chain_id
assert w3.eth.get_balance(alice.address) == 1000 * 10**18

def send(tx):
    tx.setdefault("nonce", w3.eth.get_transaction_count(alice.address))
    tx.setdefault("chainId", 4242)
    signed = alice.sign_transaction(tx)
    h = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3r.eth.wait_for_transaction_receipt(h, timeout=20, poll_latency=0.05)

# An EIP-1559 transfer.
r = send({"to": bob, "value": 1000, "gas": 21000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0})
assert r.status == 1 and r.gasUsed == 21000, r
assert w3r.eth.get_balance(bob) == 1000
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
assert w3r.eth.call({"to": c}) == marker
assert w3.eth.get_storage_at(c, 0) == marker
b = w3.eth.get_block(r.blockNumber)
assert r.transactionHash in b.transactions, b
assert w3.eth.get_block(b.hash).number == r.blockNumber
assert w3.eth.get_transaction(r.transactionHash)["from"] == alice.address
assert w3.eth.block_number >= r.blockNumber
logs = w3.eth.get_logs({"address": c, "fromBlock": 0, "toBlock": "latest"})
assert len(logs) == 1 and bytes(logs[0]["data"]) == marker, logs
# Filters as web3.py polls them: a log filter and a block filter, installed before five
# stores; each log arrives once, in order; eth_getFilterLogs covers the filter's range.
import time
log_filter = w3r.eth.filter({"address": c, "fromBlock": r.blockNumber + 1})
block_filter = w3r.eth.filter("latest")
markers = [bytes([i] * 32) for i in range(1, 6)]
for m in markers:
    send({"to": c, "data": m, "gas": gas, "gasPrice": 0})
got, deadline = [], time.time() + 10
while len(got) < len(markers) and time.time() < deadline:
    got += log_filter.get_new_entries()
    time.sleep(0.05)
assert [bytes(l["data"]) for l in got] == markers, got
time.sleep(0.2)
assert log_filter.get_new_entries() == []
assert len(block_filter.get_new_entries()) >= 1
assert [bytes(l["data"]) for l in log_filter.get_all_entries()] == markers
assert w3r.eth.uninstall_filter(log_filter.filter_id)
assert not w3r.eth.uninstall_filter(log_filter.filter_id)
print("web3 ok")
"#;

/// Resident memory of a process (kB), from /proc.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_json_rpc_and_subscriptions_with_ethers() {
    let keys = test_keys(2);
    let net = eth_network(3, &keys).await;
    let mut env = js_env(&net, &keys);
    // The socket goes to a backup: its sends are forwarded to the primary.
    let u = urls(&net);
    env.push(("ETH_WS_URL", u[1].replace("https://", "wss://") + "/ws"));
    let pids: Vec<u32> = net
        .nodes
        .iter()
        .filter_map(|n| n.child.as_ref().map(|c| c.id()))
        .collect();
    let before: Vec<u64> = pids.iter().map(|p| rss_kb(*p)).collect();
    let out = run_node("ws.mjs", &env);
    let after: Vec<u64> = pids.iter().map(|p| rss_kb(*p)).collect();
    eprintln!("{out}\nRSS before {before:?} kB, after {after:?} kB");
    let summary = summary(&out);
    assert_eq!(summary["ok"], true, "{out}");
    assert_eq!(summary["slowReader"]["code"], 1008, "{out}");
    // A slow reader with 32 subscriptions and ~32,000 events due costs the node it reads
    // from at most its bounded queue, not the events.
    for (b, a) in before.iter().zip(&after) {
        assert!(
            a.saturating_sub(*b) < 16 * 1024,
            "RSS grew from {b} to {a} kB"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web3_py_and_eth_account_on_a_three_node_network() {
    let alice = secp256k1::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let net = eth_network(3, &[alice]).await;
    let u = urls(&net);
    let out = run_python(&[
        "-c",
        WEB3_SCRIPT,
        &format!("{},{}", u[1], u[2]),
        &path(&net, "user0_cert.pem"),
        &path(&net, "user0_privk.pem"),
        &path(&net, "service_cert.pem"),
        &hex::encode(storage_contract()),
    ]);
    assert!(
        out.status.success() && text(&out.stdout).contains("web3 ok"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethers_solc_and_openzeppelin_on_a_three_node_network() {
    let keys = test_keys(3);
    let net = eth_network(3, &keys).await;
    let out = run_node("erc.mjs", &js_env(&net, &keys));
    eprintln!("{out}");
    let summary = summary(&out);
    assert_eq!(summary["ok"], true, "{out}");
    assert_eq!(summary["failed"], json!([]), "{out}");
    assert!(
        summary["passed"].as_array().map_or(0, Vec::len) >= 14,
        "{out}"
    );
    // Contract state and calldata never appear in clear on disk: the ERC-20's name is
    // stored in its storage and was part of the deployment calldata.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in &net.nodes {
        for e in std::fs::read_dir(n.dir.join("ledger")).unwrap() {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes.windows(13).any(|w| w == b"Consort Token"),
                "token name in clear in {}",
                p.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_transactions_on_anvil_give_the_same_results() {
    let keys = test_keys(4);
    let net = eth_network(1, &keys).await;
    let port = free_port();
    let anvil = std::process::Command::new(anvil_bin())
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--chain-id",
            &CHAIN.to_string(),
            "--base-fee",
            "0",
            "--gas-price",
            "0",
            "--hardfork",
            "prague",
            "--accounts",
            "0",
            "--steps-tracing",
            "--silent",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start anvil");
    let anvil = KillOnDrop(anvil);
    let mut env = js_env(&net, &keys);
    env.push(("ANVIL_URL", format!("http://127.0.0.1:{port}")));
    env.push(("ETH_PEERS", "0".into()));
    let out = run_node("differential.mjs", &env);
    drop(anvil);
    eprintln!("{out}");
    let summary = summary(&out);
    assert_eq!(summary["ok"], true, "{out}");
    assert_eq!(summary["differences"], 0, "{out}");
    assert!(summary["transactions"].as_u64().unwrap_or(0) >= 40, "{out}");
    let compared: u64 = summary["compared"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    assert!(compared > 100, "{out}");
    // State at four past blocks, five reads each, all compared (none refused).
    assert_eq!(summary["compared"]["history"], 20, "{out}");
}

fn ok(r: &Reply) -> Value {
    assert!(
        (200..300).contains(&r.status),
        "HTTP {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.json().unwrap_or(Value::Null)
}

/// Propose `actions` and vote for them as member0 (the only member), then wait until the
/// change is committed.
async fn pass(net: &Network, g: &Gov, actions: Value) {
    let r = ok(&g
        .propose(&json!({ "actions": actions }).to_string())
        .await
        .unwrap());
    let id = r["proposalId"].as_str().unwrap();
    let reply = g.vote(id, true).await.unwrap();
    let r = ok(&reply);
    assert_eq!(r["proposalState"], "Accepted", "{r}");
    let txid: consort_kv::TxId = reply.txid.unwrap().parse().unwrap();
    net.wait_commit(0, txid.seqno, Duration::from_secs(10))
        .await;
}

fn transfer(from: &secp256k1::SecretKey, nonce: u64, chain_id: u64, to: Address) -> String {
    sign(
        from,
        TxLegacy {
            chain_id: Some(chain_id),
            nonce,
            gas_price: 0,
            gas_limit: 21_000,
            to: TxKind::Call(to),
            value: U256::from(1),
            input: ABytes::new(),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_allows_senders_and_sets_balances_and_the_chain_id() {
    let keys = test_keys(2);
    let (a, b) = (&keys[0], &keys[1]);
    let net = eth_network(1, &keys).await;
    let g = net.gov(0);
    ok(&g.activate().await.unwrap());
    let rpc = Rpc {
        client: net.client(0),
    };
    let carol = address(&secp256k1::SecretKey::from_slice(&[9u8; 32]).unwrap());
    // Anyone may send while the allow-list is empty.
    rpc.call(
        "eth_sendRawTransaction",
        json!([transfer(b, 0, CHAIN, carol)]),
    )
    .await;
    // Once a sender is allowed, only allowed senders may.
    pass(
        &net,
        &g,
        json!([{"name": "set_eth_sender", "args": {"address": address(a).to_string()}}]),
    )
    .await;
    let (code, msg) = rpc
        .error(
            "eth_sendRawTransaction",
            json!([transfer(b, 1, CHAIN, carol)]),
        )
        .await;
    assert_eq!(code, -32003, "{msg}");
    assert!(msg.contains("not allowed"), "{msg}");
    rpc.call(
        "eth_sendRawTransaction",
        json!([transfer(a, 0, CHAIN, carol)]),
    )
    .await;
    pass(
        &net,
        &g,
        json!([{"name": "remove_eth_sender", "args": {"address": address(a).to_string()}}]),
    )
    .await;
    rpc.call(
        "eth_sendRawTransaction",
        json!([transfer(b, 1, CHAIN, carol)]),
    )
    .await;
    // A bad address is refused by the constitution's apply: the proposal fails.
    let r = ok(&g
        .propose(
            &json!({"actions": [{"name": "set_eth_sender", "args": {"address": "0x12"}}]})
                .to_string(),
        )
        .await
        .unwrap());
    let r = ok(&g
        .vote(r["proposalId"].as_str().unwrap(), true)
        .await
        .unwrap());
    assert_eq!(r["proposalState"], "Failed", "{r}");
    rpc.call(
        "eth_sendRawTransaction",
        json!([transfer(b, 2, CHAIN, carol)]),
    )
    .await;
    // Balances by proposal (the value lands in the private state).
    pass(&net, &g, json!([{"name": "set_eth_balance", "args": {"address": carol.to_string(), "balance": "1000000"}}])).await;
    assert_eq!(
        rpc.call("eth_getBalance", json!([carol, "latest"])).await,
        "0xf4240"
    );
    // The chain id: transactions for the old chain are refused afterwards.
    pass(
        &net,
        &g,
        json!([{"name": "set_eth_chain_id", "args": {"chain_id": 777}}]),
    )
    .await;
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x309");
    let (code, _) = rpc
        .error(
            "eth_sendRawTransaction",
            json!([transfer(a, 1, CHAIN, carol)]),
        )
        .await;
    assert_eq!(code, -32000);
    rpc.call(
        "eth_sendRawTransaction",
        json!([transfer(a, 1, 777, carol)]),
    )
    .await;
}

/// `personal_sign` by Python's `eth_account` (an independent signer): 0x-hex signature.
fn eth_account_sign(key: &secp256k1::SecretKey, message: &str) -> String {
    let script = "import sys\nfrom eth_account import Account\nfrom eth_account.messages import encode_defunct\n\
                  print('0x' + Account.from_key(sys.argv[1]).sign_message(encode_defunct(text=sys.argv[2])).signature.hex())";
    let out = run_python(&[
        "-c",
        script,
        &format!("0x{}", hex::encode(key.secret_bytes())),
        message,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn addresses_are_bound_by_signature_or_by_governance() {
    let keys = test_keys(2);
    let (a, b) = (address(&keys[0]), address(&keys[1]));
    let net = eth_network_unbound(1, &keys).await;
    let g = net.gov(0);
    ok(&g.activate().await.unwrap());
    let mut c = net.client(0).connect().await.unwrap();
    let user_id = net.user.0.fingerprint().to_hex();
    // The message to sign names the caller and a nonce.
    let r = c
        .get(&format!("/app/eth/bind/message?address={a:#x}&nonce=1"))
        .await
        .unwrap();
    let m = ok(&r);
    assert_eq!(m["identity"], user_id.as_str());
    let message = m["message"].as_str().unwrap().to_string();
    assert!(
        message.contains(&user_id) && message.contains("nonce 1"),
        "{message}"
    );
    let sig = eth_account_sign(&keys[0], &message);
    let body = json!({"address": format!("{a:#x}"), "nonce": 1, "signature": sig});
    let r = c.post_json("/app/eth/bind", &body).await.unwrap();
    assert_eq!(r.status, 200, "{}", text(&r.body));
    // Replayed: refused. Signed by another key: refused.
    let r = c.post_json("/app/eth/bind", &body).await.unwrap();
    assert_eq!((r.status, ok_err(&r)), (400, "StaleNonce".into()));
    let wrong = eth_account_sign(&keys[1], &message);
    let r = c
        .post_json(
            "/app/eth/bind",
            &json!({"address": format!("{a:#x}"), "nonce": 2, "signature": wrong}),
        )
        .await
        .unwrap();
    assert_eq!((r.status, ok_err(&r)), (400, "InvalidSignature".into()));
    // Governance binds another address to the same user.
    pass(&net, &g, json!([{"name": "set_eth_address_binding", "args": {"address": format!("{b:#x}"), "user_id": user_id}}])).await;
    let r = c.get("/app/eth/bindings").await.unwrap();
    assert_eq!(
        ok(&r)["addresses"],
        json!([format!("{b:#x}"), format!("{a:#x}")])
    );
    // The user unbinds its own; governance's stays until governance removes it.
    let r = c
        .delete(&format!("/app/eth/bind?address={a:#x}"))
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", text(&r.body));
    pass(
        &net,
        &g,
        json!([{"name": "remove_eth_address_binding", "args": {"address": format!("{b:#x}")}}]),
    )
    .await;
    let r = c.get("/app/eth/bindings").await.unwrap();
    assert_eq!(ok(&r)["addresses"], json!([]));
}

fn ok_err(r: &Reply) -> String {
    serde_json::from_slice::<Value>(&r.body).unwrap_or_default()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `consort bench --eth` deploys the ERC-20 from `assets/erc20_token.hex`: it must be what
/// solc-js makes of `tests/js/contracts/Token.sol` today.
#[test]
fn the_benchmark_token_is_the_compiled_openzeppelin_erc20() {
    let fresh = run_node("token-bytecode.mjs", &[]);
    let embedded =
        std::fs::read_to_string(workspace().join("crates/consort/assets/erc20_token.hex")).unwrap();
    assert_eq!(fresh.trim(), embedded.trim());
}

const SANDBOX_SCRIPT: &str = r#"
import sys, json
from web3 import Web3, HTTPProvider
from eth_account import Account

url, d = sys.argv[1:3]
w3 = Web3(HTTPProvider(url, request_kwargs={"cert": (d + "/user0_cert.pem", d + "/user0_privk.pem"), "verify": d + "/service_cert.pem"}))
accounts = json.load(open(d + "/eth_accounts.json"))
assert len(accounts) == 10 and w3.eth.chain_id == 1337
a, b = Account.from_key(accounts[0]["private_key"]), accounts[1]["address"]
assert a.address == accounts[0]["address"]
before = w3.eth.get_balance(b)
assert before == 1000 * 10**18, before
tx = a.sign_transaction({"to": b, "value": 5, "gas": 21000, "gasPrice": 0, "nonce": 0, "chainId": 1337})
r = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction), timeout=20, poll_latency=0.05)
assert r.status == 1 and w3.eth.get_balance(b) == before + 5
print("sandbox eth ok")
"#;

/// `consort sandbox --eth`, as the README shows it: funded development accounts a client
/// can use at once.
#[test]
fn the_sandbox_runs_the_ethereum_app_with_funded_dev_accounts() {
    let tmp = tempfile::tempdir().unwrap();
    let sb = Sandbox::start_with(tmp.path(), &["--eth"]);
    assert!(sb.stdout.contains("/app/eth"), "{}", sb.stdout);
    let out = run_python(&[
        "-c",
        SANDBOX_SCRIPT,
        &sb.url("/app/eth"),
        tmp.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success() && text(&out.stdout).contains("sandbox eth ok"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // The Foundry settings it printed work as pasted: cast, with user0's token (acting as
    // user0, whose development accounts they are) and the service certificate.
    let recipe = sb
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Foundry: "))
        .unwrap_or_else(|| panic!("no Foundry settings printed:\n{}", sb.stdout));
    let token = tmp.path().join("user0.jwt");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "user0.jwt is owner-only");
    let secret = std::fs::read_to_string(&token).unwrap();
    assert!(
        !sb.stdout.contains(secret.trim()),
        "the token is not printed"
    );
    let accounts: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("eth_accounts.json")).unwrap())
            .unwrap();
    let cast = js_dir().join("node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{recipe} && {c} chain-id && {c} balance {a} && {c} nonce {a}",
            c = cast.display(),
            a = accounts[9]["address"].as_str().unwrap()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines[0], "1337", "{lines:?}");
    assert_ne!(
        lines[1], "0",
        "user0's development account is funded: {lines:?}"
    );
    assert_eq!(lines[2], "0", "{lines:?}");
}
