//! Disaster recovery end to end, with real processes and CCF's own tools: a 3-node service
//! with 3 recovery members (keys made by CCF's `keygenerator.sh`) and threshold 2 takes
//! public and private writes and two rekeys; every node is killed and its sealed secrets
//! deleted; a new node recovers the service from a copy of one node's ledger and a second
//! joins it; members open it and submit shares — one with `consort gov share submit`, one
//! with CCF's `submit_recovery_share.sh` (openssl + `ccf_cose_sign1`) — and the service
//! opens with every committed write. Refusals (too few, forged, replayed, wrong state) and
//! a scan of every file for secrets in clear are checked on the way.

use std::{collections::BTreeMap, path::Path, time::Duration};

use crate::common::{
    network::{NetOptions, Network},
    *,
};
use base64::Engine;
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Accept `actions`: member 0 proposes, members 0, 2 and 1 vote until it is accepted.
async fn pass(net: &Network, via: usize, actions: Value) -> Value {
    // The same proposal signed in the same second is a replay: let the clock move on.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let g = |m: usize| net.gov_as(via, net.members[m].0.clone(), &net.members[m].1);
    let p = ok(&g(0)
        .propose(&json!({ "actions": actions }).to_string())
        .await
        .unwrap());
    let id = p["proposalId"].as_str().unwrap().to_string();
    let mut v = p;
    for m in [0, 2, 1] {
        if v["proposalState"] != "Open" {
            break;
        }
        v = ok(&g(m).vote(&id, true).await.unwrap());
    }
    v
}

async fn accepted(net: &Network, via: usize, actions: Value) {
    let v = pass(net, via, actions.clone()).await;
    assert_eq!(v["proposalState"], "Accepted", "{actions}: {v}");
}

/// Write `/app/log/{scope}` id → msg via node `via`; returns the transaction id.
async fn write(net: &Network, via: usize, scope: &str, id: u64, msg: &str) -> String {
    let mut c = net.client(via).connect().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c
            .post_json(&format!("/app/log/{scope}"), &json!({"id": id, "msg": msg}))
            .await
        {
            Ok(r) if r.status == 200 => return r.txid.expect("a write has a transaction id"),
            other => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "write {scope}/{id} via node {via}: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                c = net.client(via).connect().await.unwrap();
            }
        }
    }
}

async fn wait_all_committed(net: &Network, nodes: &[usize]) {
    let p = net.wait_primary(&[], Duration::from_secs(20)).await;
    let last = net.consensus(p).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    for &i in nodes {
        net.wait_commit(i, last, Duration::from_secs(30)).await;
    }
}

/// The service status node `i` reports.
async fn status(net: &Network, i: usize) -> String {
    net.get_json(i, "/node/network").await.unwrap()["service_status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Files under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// No secret appears in any file, raw, hex or base64.
fn assert_nowhere(dir: &Path, secrets: &[(String, Vec<u8>)], except: &[&Path]) {
    let mut all = Vec::new();
    files(dir, &mut all);
    for f in all.iter().filter(|f| !except.contains(&f.as_path())) {
        let bytes = std::fs::read(f).unwrap();
        for (what, s) in secrets {
            for needle in [
                s.clone(),
                hex::encode(s).into_bytes(),
                B64.encode(s).into_bytes(),
            ] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{what} found in clear in {}",
                    f.display()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_service_comes_back_from_its_ledger_with_members_shares() {
    scenario(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_service_comes_back_from_its_latest_snapshot_and_ledger() {
    scenario(true).await;
}

/// The recovery node must refuse a ledger whose public domain does not verify.
fn refuses_a_tampered_ledger(net: &Network, from: usize) {
    let d = net.dir.join("tampered");
    std::fs::create_dir_all(d.join("ledger")).unwrap();
    let mut chunks: Vec<_> = std::fs::read_dir(net.nodes[from].ledger())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    chunks.sort();
    for c in &chunks {
        std::fs::copy(c, d.join("ledger").join(c.file_name().unwrap())).unwrap();
    }
    let first = d.join("ledger").join(chunks[0].file_name().unwrap());
    let mut bytes = std::fs::read(&first).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&first, bytes).unwrap();
    std::fs::write(
        d.join("config.json"),
        json!({"rpc_address": format!("127.0.0.1:{}", free_port()), "data_dir": "."}).to_string(),
    )
    .unwrap();
    let out = consort()
        .args(["node", "recover", "--config"])
        .arg(d.join("config.json"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "a tampered ledger was recovered");
    let err = text(&out.stderr);
    assert!(err.contains("does not verify"), "{err}");
}

/// One run of the scenario: the network and what earlier phases found.
struct Run {
    net: Network,
    with_snapshot: bool,
    expected: BTreeMap<(String, u64), String>,
    receipt_tx: String,
    old_service: consort_crypto::cert::Certificate,
    member3: (
        consort_crypto::cert::Certificate,
        consort_crypto::keys::SigningKey,
    ),
    r: usize,
    j: usize,
    shares: Vec<zeroize::Zeroizing<Vec<u8>>>,
}

async fn scenario(with_snapshot: bool) {
    let mut run = Run::start(with_snapshot).await;
    run.governance_keeps_the_shares_right().await;
    run.writes_and_rekeys().await;
    run.disaster_and_recovery_start().await;
    run.first_share_and_refusals().await;
    run.second_share_with_ccfs_script().await;
    run.open_with_every_write().await;
    run.receipts_across_the_recovery().await;
    run.ledgers_verify_and_no_secret_leaks().await;
}

impl Run {
    /// 3 nodes, 3 recovery members (threshold 2), all active, shares issued.
    async fn start(with_snapshot: bool) -> Run {
        let net = Network::start(
            3,
            NetOptions {
                recovery_members: 3,
                recovery_threshold: Some(2),
                chunk_bytes: 4096,
                snapshot_tx_interval: if with_snapshot { 25 } else { 0 },
                ..Default::default()
            },
        )
        .await;
        for i in 0..3 {
            let g = net.gov_as(0, net.members[i].0.clone(), &net.members[i].1);
            assert_eq!(
                g.activate().await.unwrap().status,
                204,
                "member{i} activates"
            );
        }
        // Shares: one per recovery member, each decrypting with that member's key.
        let g0 = net.gov_as(0, net.members[0].0.clone(), &net.members[0].1);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while g0.encrypted_share().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "no share for member0");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let k3 = consort_crypto::keys::SigningKey::generate().unwrap();
        let c3 = consort_crypto::cert::self_signed_leaf(&k3, "member3", 30).unwrap();
        Run {
            net,
            with_snapshot,
            expected: BTreeMap::new(),
            receipt_tx: String::new(),
            old_service: c3.clone(),
            member3: (c3, k3),
            r: 0,
            j: 0,
            shares: Vec::new(),
        }
    }

    /// Shares follow governance: refresh, threshold, a member without an encryption key.
    async fn governance_keeps_the_shares_right(&mut self) {
        let r = self.r;
        let net = &mut self.net;
        let g0 = net.gov_as(r, net.members[0].0.clone(), &net.members[0].1);
        // Governance keeps the shares right: a refresh re-encrypts them, a threshold above the
        // recovery members is refused; a member without an encryption key gets no share.
        let before = g0.encrypted_share().await.unwrap();
        accepted(net, 0, json!([{"name": "trigger_recovery_shares_refresh"}])).await;
        assert_ne!(g0.encrypted_share().await.unwrap(), before, "fresh shares");
        let v = pass(
            net,
            0,
            json!([{"name": "set_recovery_threshold", "args": {"recovery_threshold": 4}}]),
        )
        .await;
        assert_eq!(v["proposalState"], "Failed", "{v}");
        let k3 = consort_crypto::keys::SigningKey::generate().unwrap();
        let c3 = consort_crypto::cert::self_signed_leaf(&k3, "member3", 30).unwrap();
        accepted(
            net,
            0,
            json!([{"name": "set_member", "args": {"cert": c3.to_pem()}}]),
        )
        .await;
        let g3 = net.gov_as(0, c3.clone(), &k3);
        assert_eq!(g3.activate().await.unwrap().status, 204);
        let none = g3.encrypted_share().await;
        assert!(
            matches!(
                &none,
                Err(consort_client::ClientError::Status { status: 404, .. })
            ),
            "{none:?}"
        );
        self.member3 = (c3, k3);
    }

    /// Public and private writes, two rekeys, a receipt.
    async fn writes_and_rekeys(&mut self) {
        let with_snapshot = self.with_snapshot;
        let net = &mut self.net;
        // 1. Public and private writes; 2. two rekeys, more writes after each.
        let mut expected: BTreeMap<(String, u64), String> = BTreeMap::new();
        let mut k = 0u64;
        let mut writes = |scope: &str, n: u64, round: &str| {
            let v: Vec<(String, u64, String)> = (0..n)
                .map(|_| {
                    k += 1;
                    (scope.to_string(), k, format!("{round}-{scope}-{k}"))
                })
                .collect();
            v
        };
        let mut receipt_tx = None;
        for round in ["before", "rekey1", "rekey2"] {
            if round != "before" {
                accepted(net, 0, json!([{"name": "trigger_ledger_rekey"}])).await;
            }
            for (scope, id, msg) in writes("private", 15, round)
                .into_iter()
                .chain(writes("public", 5, round))
            {
                let txid = write(net, id as usize % 3, &scope, id, &msg).await;
                receipt_tx.get_or_insert(txid);
                expected.insert((scope, id), msg);
            }
            // Overwrite one key per round: the latest value must come back.
            let txid = write(net, 0, "private", 1, &format!("{round}-overwritten")).await;
            let _ = txid;
            expected.insert(("private".into(), 1), format!("{round}-overwritten"));
        }
        wait_all_committed(net, &[0, 1, 2]).await;
        // A receipt fetched before the disaster (from a recovered snapshot, for a transaction
        // after the snapshot: a node started from a snapshot has no entries before it).
        let mut receipt_tx = receipt_tx.unwrap();
        let seqno = |t: &str| -> u64 { t.split('.').nth(1).unwrap().parse().unwrap() };
        if with_snapshot {
            let mut extra = 5000;
            loop {
                let snap =
                    consort_node::lifecycle::snapshots::latest_snapshot(&net.nodes[1].snapshots())
                        .expect("a committed snapshot")
                        .1;
                if seqno(&receipt_tx) > snap {
                    break;
                }
                extra += 1;
                receipt_tx = write(net, 0, "private", extra, "after the snapshot").await;
                expected.insert(("private".into(), extra), "after the snapshot".into());
                wait_all_committed(net, &[0, 1, 2]).await;
            }
        }
        let mut c = net.client(0).connect().await.unwrap();
        let old_receipt = ok(&c
            .get(&format!("/app/receipt?transaction_id={receipt_tx}"))
            .await
            .unwrap());
        let old_service = net.service_cert.clone();
        std::fs::write(net.dir.join("old_receipt.json"), old_receipt.to_string()).unwrap();
        self.expected = expected;
        self.receipt_tx = receipt_tx;
        self.old_service = old_service;
    }

    /// Every node lost; a recovery node and a joiner; the members open it.
    async fn disaster_and_recovery_start(&mut self) {
        let with_snapshot = self.with_snapshot;
        let old_service = self.old_service.clone();
        let net = &mut self.net;
        // 3. The disaster: every node killed, its sealed secrets and key deleted.
        for i in 0..3 {
            net.kill(i);
            for f in ["sealed_secrets.bin", "node_privk.pem"] {
                std::fs::remove_file(net.nodes[i].dir.join(f)).unwrap();
            }
        }
        // 4. A recovery node on a copy of node 1's ledger; a second node joins it.
        refuses_a_tampered_ledger(net, 1);
        let r = net.recover_from(1, with_snapshot).await;
        assert_eq!(status(net, r).await, "Recovering");
        let prev = net
            .get_json(r, "/node/service/previous_identity")
            .await
            .unwrap();
        assert_eq!(prev["previous_service_identity"], old_service.to_pem());
        let mut c = net.client(r).connect().await.unwrap();
        let locked = c.get("/app/log/private?id=2").await.unwrap();
        assert_eq!(
            locked.status,
            404,
            "{}",
            String::from_utf8_lossy(&locked.body)
        );
        assert_eq!(body(&locked)["error"]["code"], "FrontendNotOpen");
        let j = net.add_node_in(&["Recovering"]).await;
        // A share before the service waits for them is refused.
        let g1 = net.gov_as(r, net.members[1].0.clone(), &net.members[1].1);
        let early = g1.submit_share(&[1u8; 33]).await.unwrap();
        assert_eq!(
            early.status,
            403,
            "{}",
            String::from_utf8_lossy(&early.body)
        );
        assert_eq!(
            body(&early)["error"]["code"],
            "ServiceNotWaitingForRecoveryShares"
        );
        // Members open it: it waits for recovery shares.
        accepted(
            net,
            r,
            json!([{"name": "transition_service_to_open", "args": {
                "previous_service_identity": old_service.to_pem(),
                "next_service_identity": net.service_cert.to_pem(),
            }}]),
        )
        .await;
        assert_eq!(status(net, r).await, "WaitingForRecoveryShares");
        self.r = r;
        self.j = j;
    }

    /// The first share, and the refusals.
    async fn first_share_and_refusals(&mut self) {
        let r = self.r;
        let c3 = self.member3.0.clone();
        let k3 =
            consort_crypto::keys::SigningKey::from_pkcs8_der(self.member3.1.pkcs8_der()).unwrap();
        let net = &mut self.net;
        let mut c = net.client(r).connect().await.unwrap();
        // 5. Shares. A forged one is refused, one of two leaves it locked.
        let g0 = net.gov_as(r, net.members[0].0.clone(), &net.members[0].1);
        let enc0 = std::fs::read_to_string(net.dir.join("member0_enc_privk.pem")).unwrap();
        let share0 =
            consort_client::gov::decrypt_share(&g0.encrypted_share().await.unwrap(), &enc0)
                .unwrap();
        // A member that is no recovery member has no share to give.
        let g3 = net.gov_as(r, c3.clone(), &k3);
        let stranger = g3.submit_share(&share0).await.unwrap();
        assert_eq!(
            stranger.status,
            403,
            "{}",
            String::from_utf8_lossy(&stranger.body)
        );
        assert!(body(&stranger)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a recovery member"));
        let mut forged = share0.to_vec();
        forged[7] ^= 0x40;
        let bad = g0.submit_share(&forged).await.unwrap();
        assert_eq!(bad.status, 400, "{}", String::from_utf8_lossy(&bad.body));
        assert_eq!(body(&bad)["error"]["code"], "InvalidRecoveryShare");
        let out = consort()
            .args(["gov", "--address", &net.nodes[r].rpc.to_string()])
            .arg("--service-cert")
            .arg(net.dir.join("service_cert.pem"))
            .arg("--cert")
            .arg(net.dir.join("member0_cert.pem"))
            .arg("--key")
            .arg(net.dir.join("member0_privk_pk8.pem"))
            .args(["share", "submit", "--enc-key"])
            .arg(net.dir.join("member0_enc_privk.pem"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("1/2 recovery shares successfully submitted"),
            "{}",
            text(&out.stdout)
        );
        // The same signed submission again is a replay; signed anew, a second share from the
        // same member is refused too.
        let again = g0.submit_share(&share0).await.unwrap();
        if again.status == 403 {
            assert!(body(&again)["error"]["message"]
                .as_str()
                .unwrap()
                .contains("replay"));
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let again = g0.submit_share(&share0).await.unwrap();
        assert_eq!(
            again.status,
            400,
            "{}",
            String::from_utf8_lossy(&again.body)
        );
        assert_eq!(
            body(&again)["error"]["code"],
            "RecoveryShareAlreadySubmitted"
        );
        assert_eq!(
            status(net, r).await,
            "WaitingForRecoveryShares",
            "one share of two"
        );
        let locked = c.get("/app/log/private?id=2").await.unwrap();
        assert_eq!(body(&locked)["error"]["code"], "FrontendNotOpen");
        self.shares.push(share0);
    }

    /// The second share, with CCF's own script.
    async fn second_share_with_ccfs_script(&mut self) {
        let r = self.r;
        let net = &mut self.net;
        let g1 = net.gov_as(r, net.members[1].0.clone(), &net.members[1].1);
        // member1 with CCF's own script: openssl decrypts, ccf_cose_sign1 signs. (Its share is
        // decrypted here too, only to look for it in the files afterwards.)
        let enc1 = std::fs::read_to_string(net.dir.join("member1_enc_privk.pem")).unwrap();
        let share1 =
            consort_client::gov::decrypt_share(&g1.encrypted_share().await.unwrap(), &enc1)
                .unwrap();
        let script = python().parent().unwrap().join("submit_recovery_share.sh");
        let path = format!(
            "{}:{}",
            python().parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(format!("https://{}", net.nodes[r].rpc))
            .arg("--member-enc-privk")
            .arg(net.dir.join("member1_enc_privk.pem"))
            .args(["--api-version", "2024-07-01"])
            .arg("--member-id-privk")
            .arg(net.dir.join("member1_privk.pem"))
            .arg("--member-id-cert")
            .arg(net.dir.join("member1_cert.pem"))
            .arg("--cacert")
            .arg(net.dir.join("service_cert.pem"))
            .env("PATH", path)
            .output()
            .unwrap();
        let said = text(&out.stdout);
        assert!(
            out.status.success(),
            "submit_recovery_share.sh: {said}{}",
            text(&out.stderr)
        );
        assert!(
            said.contains("2/2 recovery shares successfully submitted"),
            "{said}"
        );
        assert!(
            said.contains("End of recovery procedure initiated"),
            "{said}"
        );
        self.shares.push(share1);
    }

    /// The service opens, with every committed write on both nodes.
    async fn open_with_every_write(&mut self) {
        let r = self.r;
        let j = self.j;
        let expected = self.expected.clone();
        let net = &mut self.net;
        // The service opens with every committed write, on both nodes.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while status(net, r).await != "Open" {
            assert!(
                std::time::Instant::now() < deadline,
                "did not open\n{}",
                net.nodes[r].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for node in [r, j] {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let mut c = net.client(node).connect().await.unwrap();
            for ((scope, id), msg) in &expected {
                loop {
                    let got = c.get(&format!("/app/log/{scope}?id={id}")).await.unwrap();
                    if got.status == 200 {
                        assert_eq!(body(&got)["msg"], *msg, "{scope}/{id} on node {node}");
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{scope}/{id} on node {node}: {} {}",
                        got.status,
                        String::from_utf8_lossy(&got.body)
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        // New writes commit.
        let new_tx = write(net, r, "private", 1000, "after recovery").await;
        net.wait_commit(
            r,
            new_tx.split('.').nth(1).unwrap().parse().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    }

    /// Receipts across the recovery.
    async fn receipts_across_the_recovery(&mut self) {
        let r = self.r;
        let receipt_tx = self.receipt_tx.clone();
        let net = &mut self.net;
        // Receipts: the old one against the old identity (ours and CCF's), and one fetched
        // now for the same transaction, through the endorsement chain, against the new.
        let mut c = net.client(r).connect().await.unwrap();
        let new_receipt = ok(&c
            .get(&format!("/app/receipt?transaction_id={receipt_tx}"))
            .await
            .unwrap());
        assert_eq!(
            new_receipt["service_endorsements"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        std::fs::write(net.dir.join("new_receipt.json"), new_receipt.to_string()).unwrap();
        for (receipt, cert) in [
            ("old_receipt.json", "previous_service_cert.pem"),
            ("new_receipt.json", "service_cert.pem"),
        ] {
            let out = consort()
                .args(["receipt", "verify"])
                .arg(net.dir.join(receipt))
                .arg("--service-cert")
                .arg(net.dir.join(cert))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{receipt}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
            let check = r#"
import sys, json, hashlib
from cryptography.x509 import load_pem_x509_certificate
import ccf.receipt
r = json.load(open(sys.argv[1]))
service = load_pem_x509_certificate(open(sys.argv[2], "rb").read())
lc = r["leaf_components"]
ce = hashlib.sha256(lc["commit_evidence"].encode()).digest()
leaf = hashlib.sha256(bytes.fromhex(lc["write_set_digest"]) + ce + bytes.fromhex(lc["claims_digest"])).hexdigest()
node_cert = load_pem_x509_certificate(r["cert"].encode())
ccf.receipt.verify(ccf.receipt.root(leaf, r["proof"]), r["signature"], node_cert)
ccf.receipt.check_endorsements(node_cert, service, [load_pem_x509_certificate(e.encode()) for e in r.get("service_endorsements", [])])
print("ok")
"#;
            let out = run_python(&[
                "-c",
                check,
                net.dir.join(receipt).to_str().unwrap(),
                net.dir.join(cert).to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "ccf.receipt, {receipt}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
    }

    /// The ledgers verify; no secret in clear anywhere.
    async fn ledgers_verify_and_no_secret_leaks(&mut self) {
        let (share0, share1) = (self.shares[0].clone(), self.shares[1].clone());
        let r = self.r;
        let j = self.j;
        let net = &mut self.net;
        // Every secret of the run: the ledger secrets (the recovered node reseals all of them;
        // unsealed here with its key), the shares and the wrapping key they combine to.
        wait_all_committed(net, &[r, j]).await;
        let sealed = net.nodes[r].dir.join("sealed_secrets.bin");
        let node_key = consort_crypto::keys::SigningKey::from_pem(
            &std::fs::read_to_string(net.nodes[r].dir.join("node_privk.pem")).unwrap(),
        )
        .unwrap();
        let state = consort_node::lifecycle::seal::read_sealed(
            &sealed,
            &consort_node::lifecycle::seal::VirtualSealer::new(&node_key).unwrap(),
        )
        .unwrap();
        assert!(
            state.ledger_secrets.len() >= 4,
            "3 old secrets and the new one"
        );
        let mut secrets: Vec<(String, Vec<u8>)> = state
            .ledger_secrets
            .iter()
            .map(|(v, s)| (format!("ledger secret from {v}"), hex::decode(s).unwrap()))
            .collect();
        secrets.push(("member0's share".into(), share0.to_vec()));
        secrets.push(("member1's share".into(), share1.to_vec()));
        let shares =
            [&share0, &share1].map(|s| consort_crypto::sharing::Share::from_bytes(s).unwrap());
        let wrapping_key = consort_crypto::sharing::combine(&shares).unwrap();
        secrets.push(("the wrapping key".into(), wrapping_key.to_vec()));
        net.stop_all();
        // The recovered ledger verifies: ours, and CCF's read_ledger.py.
        for n in [r, j] {
            let out = consort()
                .args(["ledger", "verify"])
                .arg(net.nodes[n].ledger())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ledger verify {}: {}{}",
                net.nodes[n].name,
                text(&out.stdout),
                text(&out.stderr)
            );
            let out = run_python(&[
                "-m",
                "ccf.read_ledger",
                "-q",
                "--uncommitted",
                net.nodes[n].ledger().to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "read_ledger.py {}: {}{}",
                net.nodes[n].name,
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        assert_nowhere(&net.dir, &secrets, &[]);
    }
}
