//! The Ethereum application's privacy policy end to end, on one 3-node network whose
//! default is `private`, with ethers v6 unmodified (`tests/js/privacy.mjs`): users bound
//! to addresses by signature (alice) and by governance (bob, the auditor), an auditor
//! role, a user with no address (eve) and an address bound to nobody (carol). The script
//! checks who sees which transaction, receipt, log, block entry, filter, balance, nonce,
//! code and storage, and who may call, estimate and send as whom; hidden answers are
//! byte-identical to those for nonexistent things.
//!
//! Then governance changes the policy on the same network: the private token made public
//! (eve reads its storage and code), the default made public (eve reads carol's balance and
//! alice's nonce), and the relayer role (eve may submit carol's signed transaction, and may
//! not once the role is removed).

use crate::common::{
    eth::*,
    network::{NetOptions, Network},
    *,
};
use alloy_consensus::TxLegacy;
use alloy_primitives::{Address, Bytes as ABytes, TxKind, U256};
use consort_client::ClientConfig;
use consort_crypto::{cert::Certificate, keys::SigningKey};
use secp256k1::SecretKey;
use serde_json::{json, Value};

const CHAIN: u64 = 4242;
/// 1000 ether, each funded account's genesis balance.
const FUNDS: &str = "0x3635c9adc5dea00000";

/// A user's TLS identity.
struct User {
    name: &'static str,
    cert: Certificate,
    key: SigningKey,
}

impl User {
    /// A new identity whose certificate and key are written to the network directory as
    /// `{name}_cert.pem` and `{name}_privk.pem`.
    fn new(net: &Network, name: &'static str) -> User {
        let key = SigningKey::generate().unwrap();
        let cert = consort_crypto::cert::self_signed_leaf(&key, name, 30).unwrap();
        std::fs::write(net.dir.join(format!("{name}_cert.pem")), cert.to_pem()).unwrap();
        std::fs::write(net.dir.join(format!("{name}_privk.pem")), key.to_pem()).unwrap();
        User { name, cert, key }
    }

    /// Its user id: the hex SHA-256 of its certificate (what bindings and roles name).
    fn id(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// A JSON-RPC client for node `i` with this identity.
    fn rpc(&self, net: &Network, i: usize) -> Rpc {
        Rpc {
            client: ClientConfig::new(
                net.nodes[i].rpc,
                &net.service_cert,
                Some((&self.cert, &self.key)),
            )
            .unwrap(),
        }
    }
}

fn hex_address(k: &SecretKey) -> String {
    format!("{:#x}", address(k))
}

/// The answers of `method(params)` to two callers (here: eve, and the auditor who sees
/// everything).
async fn both(a: &Rpc, b: &Rpc, method: &str, params: Value) -> (Value, Value) {
    (
        a.call(method, params.clone()).await,
        b.call(method, params).await,
    )
}

/// A plain transfer of `value` wei signed by `from`.
fn transfer(from: &SecretKey, nonce: u64, to: Address, value: u64) -> String {
    sign(
        from,
        TxLegacy {
            chain_id: Some(CHAIN),
            nonce,
            gas_price: 0,
            gas_limit: 21_000,
            to: TxKind::Call(to),
            value: U256::from(value),
            input: ABytes::new(),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_matrix_through_ethers_on_three_nodes() {
    let alice_key = SecretKey::from_slice(&[0xa1; 32]).unwrap();
    let bob_key = SecretKey::from_slice(&[0xb0; 32]).unwrap();
    let auditor_key = SecretKey::from_slice(&[0xad; 32]).unwrap();
    let carol_key = SecretKey::from_slice(&[0xca; 32]).unwrap();
    let genesis: serde_json::Map<String, Value> = [&alice_key, &bob_key, &auditor_key, &carol_key]
        .iter()
        .map(|k| (address(k).to_string(), json!(FUNDS)))
        .collect();
    let net = Network::start(
        3,
        NetOptions {
            apps: json!({"ethereum": {
                "chain_id": CHAIN,
                "genesis": genesis,
                "privacy_default": "private",
            }}),
            ..Default::default()
        },
    )
    .await;
    let g = net.gov(0);
    ok(&g.activate().await.unwrap());

    // alice is user0 (a user from the start); bob, the auditor and eve join by vote.
    let alice_id = net.user.0.fingerprint().to_hex();
    let bob = User::new(&net, "bob");
    let auditor = User::new(&net, "auditor");
    let eve = User::new(&net, "eve");
    let users: Vec<Value> = [&bob, &auditor, &eve]
        .iter()
        .map(|u| json!({"name": "set_user", "args": {"cert": u.cert.to_pem()}}))
        .collect();
    pass(&net, &g, Value::Array(users)).await;
    // Governance binds bob's and the auditor's addresses (alice binds hers herself, in the
    // script) and makes the auditor one.
    pass(
        &net,
        &g,
        json!([
            {"name": "set_eth_address_binding", "args": {"address": hex_address(&bob_key), "user_id": bob.id()}},
            {"name": "set_eth_address_binding", "args": {"address": hex_address(&auditor_key), "user_id": auditor.id()}},
            {"name": "set_eth_role", "args": {"role": "auditor", "user_id": auditor.id()}},
        ]),
    )
    .await;

    let urls: Vec<String> = net
        .nodes
        .iter()
        .map(|n| format!("https://{}/app/eth", n.rpc))
        .collect();
    let mut env = vec![
        ("ETH_RPC_URLS", urls.join(",")),
        ("CONSORT_CA", path(&net, "service_cert.pem")),
        ("ETH_CHAIN_ID", CHAIN.to_string()),
        ("ALICE_CERT", path(&net, "user0_cert.pem")),
        ("ALICE_KEY", path(&net, "user0_privk.pem")),
        ("ALICE_ETH_KEY", key_hex(&alice_key)),
        ("BOB_ETH_KEY", key_hex(&bob_key)),
        ("AUDITOR_ETH_KEY", key_hex(&auditor_key)),
        ("CAROL_ETH_KEY", key_hex(&carol_key)),
    ];
    for (u, cert, key) in [
        (&bob, "BOB_CERT", "BOB_KEY"),
        (&auditor, "AUDITOR_CERT", "AUDITOR_KEY"),
        (&eve, "EVE_CERT", "EVE_KEY"),
    ] {
        env.push((cert, path(&net, &format!("{}_cert.pem", u.name))));
        env.push((key, path(&net, &format!("{}_privk.pem", u.name))));
    }
    let out = run_node("privacy.mjs", &env);
    eprintln!("{out}");
    let s = summary(&out);
    assert_eq!(s["ok"], true, "{out}");
    assert_eq!(s["failed"], json!([]), "{out}");
    assert_eq!(
        s["passed"].as_array().map_or(0, Vec::len) as u64,
        s["steps"].as_u64().unwrap(),
        "every step passed: {out}"
    );
    assert!(s["steps"].as_u64().unwrap() >= 22, "{out}");
    assert!(s["checks"].as_u64().unwrap() >= 600, "{out}");
    assert_eq!(
        s["users"],
        json!({"alice": alice_id, "bob": bob.id(), "auditor": auditor.id(), "eve": eve.id()}),
        "the script's user ids (SHA-256 of each certificate) are governance's"
    );
    assert_eq!(
        s["transactions"].as_object().map_or(0, |m| m.len()),
        6,
        "{out}"
    );

    // ---- Governance changes the policy, on the same network. ----
    let token = s["private_token"].as_str().unwrap().to_string();
    let (eve_rpc, auditor_rpc) = (eve.rpc(&net, 1), auditor.rpc(&net, 2));
    let carol = hex_address(&carol_key);
    let alice = hex_address(&alice_key);
    let fresh = format!("{:#x}", Address::repeat_byte(0x5e));

    // The private token made public: eve reads its storage and code as the auditor does.
    let (code, msg) = eve_rpc
        .error("eth_getStorageAt", json!([token, "0x2", "latest"]))
        .await;
    assert_eq!(code, -32000, "{msg}");
    assert!(msg.contains("private"), "{msg}");
    pass(
        &net,
        &g,
        json!([{"name": "set_eth_contract_privacy", "args": {"address": token.to_lowercase(), "privacy": "public"}}]),
    )
    .await;
    let (seen, truth) = both(
        &eve_rpc,
        &auditor_rpc,
        "eth_getStorageAt",
        json!([token, "0x2", "latest"]),
    )
    .await;
    assert_eq!(seen, truth, "eve reads the now public token's storage");
    assert_eq!(
        seen, s["private_supply_slot"],
        "slot 2 holds the total supply"
    );
    let (seen, truth) = both(
        &eve_rpc,
        &auditor_rpc,
        "eth_getCode",
        json!([token, "latest"]),
    )
    .await;
    assert_eq!(seen, truth, "eve reads the now public token's code");
    assert_ne!(seen, json!("0x"), "the token has code");

    // The default made public: accounts bound to nobody else are readable by everyone.
    let hidden = eve_rpc
        .call("eth_getBalance", json!([fresh, "latest"]))
        .await;
    assert_eq!(
        eve_rpc
            .call("eth_getBalance", json!([carol, "latest"]))
            .await,
        hidden,
        "before: carol's balance reads as a fresh address's"
    );
    pass(
        &net,
        &g,
        json!([{"name": "set_eth_privacy_default", "args": {"privacy": "public"}}]),
    )
    .await;
    let (seen, truth) = both(
        &eve_rpc,
        &auditor_rpc,
        "eth_getBalance",
        json!([carol, "latest"]),
    )
    .await;
    assert_eq!(seen, truth, "eve reads carol's balance");
    assert_eq!(
        seen,
        json!("0x3643aa647986040000"),
        "1001 ether: carol's funds and alice's transfer"
    );
    let (seen, truth) = both(
        &eve_rpc,
        &auditor_rpc,
        "eth_getTransactionCount",
        json!([alice, "latest"]),
    )
    .await;
    assert_eq!(
        (&seen, &truth),
        (&json!("0x5"), &json!("0x5")),
        "alice's nonce"
    );

    // The relayer role: eve may submit carol's transaction only while she holds it.
    let to = Address::repeat_byte(0x77);
    let (code, msg) = eve_rpc
        .error(
            "eth_sendRawTransaction",
            json!([transfer(&carol_key, 0, to, 7)]),
        )
        .await;
    assert_eq!(code, -32003, "{msg}");
    assert!(msg.contains("is not bound to the caller"), "{msg}");
    pass(
        &net,
        &g,
        json!([{"name": "set_eth_role", "args": {"role": "relayer", "user_id": eve.id()}}]),
    )
    .await;
    let hash = eve_rpc
        .call(
            "eth_sendRawTransaction",
            json!([transfer(&carol_key, 0, to, 7)]),
        )
        .await;
    let r = auditor_rpc.receipt(&hash).await;
    assert_eq!(r["status"], "0x1", "{r}");
    assert_eq!(
        r["from"].as_str().map(str::to_lowercase),
        Some(carol.clone()),
        "{r}"
    );
    assert_eq!(
        auditor_rpc
            .call("eth_getBalance", json!([format!("{to:#x}"), "latest"]))
            .await,
        "0x7"
    );
    pass(
        &net,
        &g,
        json!([{"name": "remove_eth_role", "args": {"role": "relayer", "user_id": eve.id()}}]),
    )
    .await;
    let (code, msg) = eve_rpc
        .error(
            "eth_sendRawTransaction",
            json!([transfer(&carol_key, 1, to, 7)]),
        )
        .await;
    assert_eq!(code, -32003, "a relayer no more: {msg}");
    assert_eq!(
        auditor_rpc
            .call("eth_getTransactionCount", json!([carol, "latest"]))
            .await,
        "0x1",
        "only the relayed transaction used a nonce of carol's"
    );
}
