//! The node's API surface through a Rust HTTPS client, and its behaviour under a flood.

use std::{net::SocketAddr, time::Duration};

use crate::common::*;
use consort_client::ClientConfig;
use consort_crypto::{cert::Certificate, keys::SigningKey};
use serde_json::json;

struct Node {
    child: std::process::Child,
    _tmp: tempfile::TempDir,
    addr: SocketAddr,
    service: Certificate,
    user: (Certificate, SigningKey),
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

async fn start(extra: serde_json::Value) -> Node {
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let cert = consort_crypto::cert::self_signed_leaf(&key, "user0", 30).unwrap();
    std::fs::write(tmp.path().join("user0_cert.pem"), cert.to_pem()).unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cfg = json!({
        "rpc_address": addr.to_string(),
        "data_dir": "node0",
        "signature_ms_interval": 20,
        "users": [{"certificate_file": "user0_cert.pem"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let path = tmp.path().join("node.toml");
    std::fs::write(&path, toml_of(&cfg)).unwrap();
    let child = consort()
        .args(["node", "start", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let service = consort_client::wait_until_open(
        addr,
        &tmp.path().join("node0/service_cert.pem"),
        Duration::from_secs(30),
        || true,
    )
    .await
    .unwrap();
    Node {
        child,
        _tmp: tmp,
        addr,
        service,
        user: (cert, key),
    }
}

/// The config as TOML (exercises the TOML loader).
fn toml_of(v: &serde_json::Value) -> String {
    let mut s = String::new();
    let mut tables = String::new();
    for (k, v) in v.as_object().unwrap() {
        match v {
            serde_json::Value::Array(items) => {
                for i in items {
                    tables.push_str(&format!("[[{k}]]\n"));
                    for (ik, iv) in i.as_object().unwrap() {
                        tables.push_str(&format!("{ik} = {iv}\n"));
                    }
                }
            }
            other => s.push_str(&format!("{k} = {other}\n")),
        }
    }
    s + &tables
}

impl Node {
    fn client(&self) -> ClientConfig {
        ClientConfig::new(self.addr, &self.service, Some((&self.user.0, &self.user.1))).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_app_and_node_endpoints() {
    let node = start(json!({})).await;
    let mut c = node.client().connect().await.unwrap();
    for id in [5u64, 1, 3, 2, 4] {
        let r = c
            .post_json(
                "/app/log/public",
                &json!({"id": id, "msg": format!("m{id}")}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    // Ordered range with pagination.
    let r = c
        .get("/app/log/public/range?from=2&limit=2")
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        r["records"],
        json!([{"id": 2, "msg": "m2"}, {"id": 3, "msg": "m3"}])
    );
    assert_eq!(r["next"], 4);
    // Delete, then read: 404 with CCF's error body.
    let r = c
        .request(http::Method::DELETE, "/app/log/public?id=3", None)
        .await
        .unwrap();
    assert_eq!((r.status, r.json().unwrap()), (200, json!(true)));
    let r = c.get("/app/log/public?id=3").await.unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json().unwrap()["error"]["code"], "ResourceNotFound");
    // Historical query on the public map, once committed.
    let w = c
        .post_json("/app/log/public", &json!({"id": 9, "msg": "old"}))
        .await
        .unwrap();
    let txid: consort_kv::TxId = w.txid.unwrap().parse().unwrap();
    c.post_json("/app/log/public", &json!({"id": 9, "msg": "new"}))
        .await
        .unwrap();
    let path = format!("/app/log/public/historical?id=9&seqno={}", txid.seqno);
    let mut r = c.get(&path).await.unwrap();
    for _ in 0..200 {
        if r.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        r = c.get(&path).await.unwrap();
    }
    assert_eq!(r.json().unwrap()["msg"], "old");
    assert_eq!(
        c.get("/app/log/public?id=9").await.unwrap().json().unwrap()["msg"],
        "new"
    );

    let nodes = c.get("/node/network/nodes").await.unwrap().json().unwrap();
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(nodes["nodes"][0]["status"], "Trusted");
    assert_eq!(nodes["nodes"][0]["primary"], true);
    let st = c.get("/node/state").await.unwrap().json().unwrap();
    assert_eq!(st["state"], "PartOfNetwork");
    assert_eq!(st["node_id"], nodes["nodes"][0]["node_id"]);
    assert!(
        c.get("/node/version").await.unwrap().json().unwrap()["ccf_version"]
            .as_str()
            .unwrap()
            .starts_with("consort-")
    );
    let m = String::from_utf8(c.get("/node/metrics").await.unwrap().body.to_vec()).unwrap();
    for name in [
        "consort_tx_writes_total",
        "consort_commit_latency_seconds_bucket",
        "consort_ledger_size_bytes",
        "consort_requests_total",
    ] {
        assert!(m.contains(name), "{name} missing from metrics:\n{m}");
    }
    for (api, path) in [
        ("/node/api", "/node/commit"),
        ("/app/api", "/app/log/public/range"),
        ("/gov/api", ""),
    ] {
        let doc = c.get(api).await.unwrap().json().unwrap();
        assert_eq!(doc["openapi"], "3.0.0");
        if !path.is_empty() {
            assert!(doc["paths"][path].is_object(), "{api} lacks {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_bounded_and_the_node_survives() {
    let node = start(
        json!({"max_connections": 24, "max_concurrent_requests": 2, "max_queued_requests": 8}),
    )
    .await;
    let client = node.client();
    let mut tasks = Vec::new();
    for w in 0..60u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u32;
            let mut refused = 0u32;
            let Ok(mut c) = client.connect().await else {
                return (0, 1);
            };
            for i in 0..20u64 {
                match c
                    .post_json(
                        "/app/log/private",
                        &json!({"id": w * 100 + i, "msg": "flood"}),
                    )
                    .await
                {
                    Ok(r) if r.status == 200 => ok += 1,
                    Ok(r) if r.status == 503 => refused += 1,
                    Ok(r) => panic!("unexpected {}: {:?}", r.status, r.body),
                    Err(_) => return (ok, refused + 1),
                }
            }
            (ok, refused)
        }));
    }
    let mut total_ok = 0;
    for t in tasks {
        total_ok += t.await.unwrap().0;
    }
    assert!(total_ok > 0);
    // Still serving afterwards.
    let mut c = client.connect().await.unwrap();
    let r = c
        .post_json("/app/log/private", &json!({"id": 1, "msg": "after"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        c.get("/app/log/private?id=1")
            .await
            .unwrap()
            .json()
            .unwrap()["msg"],
        "after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_writes_snapshots_ccf_can_read() {
    let node = start(json!({"snapshot_tx_interval": 50})).await;
    let mut c = node.client().connect().await.unwrap();
    for id in 0..120u64 {
        let r = c
            .post_json(
                "/app/log/public",
                &json!({"id": id, "msg": format!("snap-{id}")}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let dir = node._tmp.path().join("node0/snapshots");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let snap = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(".committed"))
        });
        if let Some(p) = found {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "no snapshot written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let script = "import sys, ccf.ledger\ns = ccf.ledger.Snapshot(sys.argv[1])\nprint(s.get_public_domain().get_seqno())";
    let out = run_python(&["-c", script, snap.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let seqno: u64 = text(&out.stdout).trim().parse().unwrap();
    assert!(snap
        .to_string_lossy()
        .contains(&format!("snapshot_{seqno}_")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_refuses_identity_files_the_ledger_does_not_record() {
    let mut node = start(json!({})).await;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(node.child.id().to_string())
        .status();
    node.child.wait().unwrap();
    let dir = node._tmp.path().to_path_buf();
    let other = consort_ledger::identity::ServiceIdentity::generate().unwrap();
    std::fs::write(dir.join("node0/service_cert.pem"), other.cert.to_pem()).unwrap();
    let out = consort()
        .args(["node", "start", "--config"])
        .arg(dir.join("node.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not the service identity recorded in the ledger"),
        "{}",
        text(&out.stderr)
    );
}
