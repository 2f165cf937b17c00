//! Attestation end to end on a 3-node network of real processes: a node whose binary is
//! not allowed (one byte appended: another measurement) cannot join and is told why; an
//! `add_virtual_measurement` vote lets it join; `remove_virtual_measurement` stops new
//! joins with it while the node already in stays; a service that requires hardware
//! attestation refuses virtual joiners. Every trusted node's evidence from `/node/quotes`
//! re-verifies offline with `consort attest verify`.

use std::{path::PathBuf, time::Duration};

use consort_attestation::{report_data_for_key, virt::VirtualPlatform, Evidence, Format, Platform};
use consort_client::{gov::Gov, ClientConfig};
use consort_crypto::keys::SigningKey;
use serde_json::{json, Value};

use crate::common::{
    network::{NetOptions, Network},
    *,
};

const MEASUREMENTS: &str = "public:ccf.gov.nodes.virtual.measurements";

async fn pass(g: &Gov, actions: Value) {
    let r = g
        .propose(&json!({ "actions": actions }).to_string())
        .await
        .unwrap();
    let v = ok(&r);
    let id = v["proposalId"].as_str().unwrap().to_string();
    let state = if v["proposalState"] == "Accepted" {
        "Accepted".to_string()
    } else {
        ok(&g.vote(&id, true).await.unwrap())["proposalState"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state, "Accepted", "{actions}");
}

/// A copy of the `consort` binary with one byte appended, and its measurement.
fn modified_binary(dir: &std::path::Path) -> (PathBuf, String) {
    let mut bytes = std::fs::read(env!("CARGO_BIN_EXE_consort")).unwrap();
    bytes.push(0x0a);
    let path = dir.join("consort-modified");
    std::fs::write(&path, &bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (path, consort_crypto::sha256(&bytes).to_hex())
}

/// POST /node/join as a fresh node key presenting `platform`'s evidence: the reply.
async fn join_directly(net: &Network, platform: &VirtualPlatform) -> (u16, Value) {
    let key = SigningKey::generate().unwrap();
    let evidence = platform
        .quote(&report_data_for_key(&key.public_key_der()))
        .unwrap();
    join_with(net, &key, &evidence).await
}

/// POST /node/join as `key` presenting `evidence`: the reply.
async fn join_with(net: &Network, key: &SigningKey, evidence: &Evidence) -> (u16, Value) {
    let cert = consort_crypto::cert::self_signed_leaf(key, "CCF Node", 1).unwrap();
    let c = ClientConfig::new(net.nodes[0].rpc, &net.service_cert, Some((&cert, key))).unwrap();
    let r = c
        .connect()
        .await
        .unwrap()
        .post_json(
            "/node/join",
            &json!({
                "node_to_node_address": "127.0.0.1:9",
                "rpc_address": "127.0.0.1:9",
                "quote_info": evidence,
                "join_token": "test-join-token",
            }),
        )
        .await
        .unwrap();
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

/// Start a joiner running `binary` and expect it to be refused with `reason`.
async fn refused(net: &mut Network, binary: &std::path::Path, reason: &str) {
    let i = net
        .add_node_running(Some(binary.to_path_buf()), false)
        .await;
    let status = net.wait_exit(i, Duration::from_secs(90)).await;
    assert!(!status.success());
    let log = net.nodes[i].log_tail();
    assert!(log.contains("401 InvalidQuote"), "{log}");
    assert!(log.contains(reason), "{log}");
}

/// Every trusted node's evidence, each re-verified offline by `consort attest verify`
/// and bound to the node's key: node id -> measurement.
async fn verified_quotes(net: &Network) -> std::collections::BTreeMap<String, String> {
    let quotes = net.get_json(0, "/node/quotes").await.unwrap();
    let nodes = net.get_json(0, "/node/network/nodes").await.unwrap();
    let trusted = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "Trusted")
        .count();
    let quotes = quotes["quotes"].as_array().unwrap();
    assert_eq!(quotes.len(), trusted, "{quotes:?}");
    let mut out = std::collections::BTreeMap::new();
    for q in quotes {
        assert_eq!(q["format"], "Insecure_Virtual");
        assert_eq!(q["insecure"], true);
        let id = q["node_id"].as_str().unwrap();
        // The node id is the SHA-256 of the DER key, which the report data binds.
        let file = net.dir.join(format!("quote-{id}.json"));
        std::fs::write(&file, q.to_string()).unwrap();
        let out_ = consort()
            .args(["attest", "verify"])
            .arg(&file)
            .args(["--report-data", id])
            .output()
            .unwrap();
        let stdout = text(&out_.stdout);
        assert!(out_.status.success(), "{stdout}{}", text(&out_.stderr));
        let m = q["measurement"].as_str().unwrap();
        assert!(stdout.contains(m), "{stdout}");
        assert!(stdout.contains("insecure"), "{stdout}");
        out.insert(id.to_string(), m.to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_allowed_code_joins_and_every_quote_verifies() {
    let mut net = Network::start(3, NetOptions::default()).await;
    let g = net.gov(0);
    assert_eq!(g.activate().await.unwrap().status, 204);
    let own = VirtualPlatform::of_this_process(None).unwrap();
    let standard = VirtualPlatform::new(
        consort_crypto::sha256(&std::fs::read(env!("CARGO_BIN_EXE_consort")).unwrap()).to_hex(),
        own.host_data().to_string(),
    );
    let (binary, m) = modified_binary(&net.dir);
    let not_allowed = format!("measurement {m} is not in {MEASUREMENTS}");

    // The genesis allowed the first node's binary; the three nodes run it.
    let before = verified_quotes(&net).await;
    assert_eq!(before.len(), 3);
    assert!(before.values().all(|v| *v == standard.measurement()));

    // 1. Another binary cannot join; the service says why, in CCF's error shape.
    let (status, body) = join_directly(
        &net,
        &VirtualPlatform::new(m.clone(), own.host_data().into()),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "InvalidQuote");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&not_allowed), "{msg}");
    refused(&mut net, &binary, &not_allowed).await;
    // Host data nobody allowed is refused too.
    let (status, body) = join_directly(
        &net,
        &VirtualPlatform::new(standard.measurement().into(), "00".repeat(32)),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("host data"),
        "{body}"
    );

    // A real SEV-SNP report that verifies, but binds another key than the joiner's.
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../consort-attestation/testdata/snp/"
    );
    let snp = Evidence {
        format: Format::AmdSevSnpV1,
        quote: std::fs::read(format!("{dir}ccf_milan_v3.bin")).unwrap(),
        endorsements: std::fs::read(format!("{dir}ccf_milan_endorsements.pem")).unwrap(),
    };
    let (status, body) = join_with(&net, &SigningKey::generate().unwrap(), &snp).await;
    assert_eq!(status, 401, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("report data check failed"), "{msg}");
    // With one bit of its measurement flipped, its signature no longer verifies.
    let mut forged = snp.clone();
    forged.quote[0x90] ^= 1;
    let (status, body) = join_with(&net, &SigningKey::generate().unwrap(), &forged).await;
    assert_eq!(status, 401, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("report signature check failed"), "{msg}");

    // 2. After a vote it joins.
    pass(
        &g,
        json!([{"name": "add_virtual_measurement", "args": {"measurement": m}}]),
    )
    .await;
    let policy = net
        .get_json(0, "/gov/service/join-policy?api-version=2024-07-01")
        .await
        .unwrap();
    let allowed = policy["virtual"]["measurements"].as_array().unwrap();
    assert!(allowed.contains(&json!(m)), "{policy}");
    assert!(allowed.contains(&json!(standard.measurement())), "{policy}");
    let i = net.add_node_running(Some(binary.clone()), false).await;
    net.wait_up(i).await;
    let after = verified_quotes(&net).await;
    assert_eq!(after.len(), 4);
    assert_eq!(after.values().filter(|v| **v == m).count(), 1);

    // 3. Removed: a fresh join with it is refused again; the node already in stays.
    pass(
        &g,
        json!([{"name": "remove_virtual_measurement", "args": {"measurement": m}}]),
    )
    .await;
    refused(&mut net, &binary, &not_allowed).await;
    assert_eq!(verified_quotes(&net).await.len(), 4);

    // A service that requires hardware attestation refuses virtual joiners, even of
    // allowed code.
    pass(
        &g,
        json!([{"name": "set_service_configuration", "args": {"require_hardware_attestation": true}}]),
    )
    .await;
    let (status, body) = join_directly(&net, &standard).await;
    assert_eq!(status, 401, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("hardware attestation required"), "{msg}");
}

#[test]
fn a_virtual_node_cannot_create_a_service_that_requires_hardware() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let cert = consort_crypto::cert::self_signed_leaf(&key, "member0", 30).unwrap();
    std::fs::write(dir.path().join("m.pem"), cert.to_pem()).unwrap();
    let config = json!({
        "rpc_address": format!("127.0.0.1:{}", free_port()),
        "data_dir": ".",
        "members": [{"certificate_file": "m.pem"}],
        "attestation": {"platform": "virtual", "require_hardware": true},
    });
    let f = dir.path().join("config.json");
    std::fs::write(&f, config.to_string()).unwrap();
    let out = consort()
        .args(["node", "start", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("attestation.require_hardware is set"), "{err}");
    assert!(err.contains("Insecure_Virtual (insecure)"), "{err}");
}
