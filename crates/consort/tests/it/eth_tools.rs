//! Standard Ethereum tools with a bearer token, on a 3-node network with the `private`
//! default: governance trusts a JWT issuer made by `consort token issuer` and makes its
//! tokens for one subject act as user0; `consort token mint` signs one; Foundry's `cast`
//! (npm, unmodified) and a viem script then deploy, call, send, and read receipts and logs
//! with nothing but that token and the service certificate (`tests/js/tools.mjs`).

use crate::common::{
    eth::*,
    network::{NetOptions, Network},
    *,
};
use secp256k1::SecretKey;
use serde_json::{json, Value};

const CHAIN: u64 = 31_337;
/// An issuer name with `:` in it: the governance action (JavaScript) and the node's
/// identity lookup (Rust) must escape it alike for the token to act as user0.
const ISSUER: &str = "https://tools.test:8443";

#[tokio::test(flavor = "multi_thread")]
async fn cast_and_viem_with_a_minted_token_on_three_nodes() {
    let mine = SecretKey::from_slice(&[0x70; 32]).unwrap();
    let hidden = SecretKey::from_slice(&[0x71; 32]).unwrap();
    let mut apps = eth_apps(CHAIN, &[address(&mine), address(&hidden)]);
    apps["ethereum"]["privacy_default"] = json!("private");
    let net = Network::start(
        3,
        NetOptions {
            apps,
            ..Default::default()
        },
    )
    .await;
    let g = net.gov(0);
    ok(&g.activate().await.unwrap());

    // The operator's side, with the CLI: an issuer key and the action that trusts it.
    let key_file = net.dir.join("tools_issuer_privk.pem");
    let out = consort()
        .args(["token", "issuer", "--issuer", ISSUER, "--issuer-key"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let proposal: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut actions = proposal["actions"].as_array().unwrap().clone();
    assert_eq!(actions[0]["name"], "set_jwt_issuer");
    let user0 = net.user.0.fingerprint().to_hex();
    actions.push(json!({"name": "set_eth_jwt_user", "args": {"jwt_issuer": ISSUER, "jwt_subject": "ci-bot", "user_id": user0}}));
    actions.push(json!({"name": "set_eth_address_binding", "args": {"address": format!("{:#x}", address(&mine)), "user_id": user0}}));
    pass(&net, &g, Value::Array(actions)).await;

    let token_file = net.dir.join("ci-bot.jwt");
    let out = consort()
        .args([
            "token",
            "mint",
            "--user",
            "ci-bot",
            "--issuer",
            ISSUER,
            "--issuer-key",
        ])
        .arg(&key_file)
        .arg("--out")
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    for f in [&key_file, &token_file] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is owner-only", f.display());
    }
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(
        !text(&out.stdout).contains(token.trim()),
        "the token is not printed"
    );

    let url = |i: usize| format!("https://{}/app/eth", net.nodes[i].rpc);
    let ca = path(&net, "service_cert.pem");
    let out = run_node(
        "tools.mjs",
        &[
            ("CAST_RPC_URL", url(1)),
            ("VIEM_RPC_URL", url(2)),
            ("TOKEN_FILE", token_file.to_str().unwrap().to_string()),
            ("CONSORT_CA", ca.clone()),
            ("NODE_EXTRA_CA_CERTS", ca),
            ("ETH_KEY", key_hex(&mine)),
            ("HIDDEN_ADDRESS", format!("{:#x}", address(&hidden))),
            ("ETH_CHAIN_ID", CHAIN.to_string()),
        ],
    );
    let s = summary(&out);
    assert_eq!(s["ok"], true, "{out}");
    assert!(s["checks"].as_u64().unwrap() >= 35, "{out}");
}
