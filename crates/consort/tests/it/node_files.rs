//! Snapshots and ledger chunks served to trusted nodes at CCF's paths, on a 3-node network
//! of real processes: a fourth (test-held) key joins as a trusted node and fetches, by
//! redirect, HEAD and byte ranges, exactly the files node 0 has on disk; everyone else is
//! refused with CCF's error body.

use std::time::Duration;

use consort_attestation::{report_data_for_key, virt::VirtualPlatform, Platform};
use consort_client::{ClientConfig, Connection, Reply};
use consort_crypto::keys::SigningKey;
use http_body_util::Full;
use serde_json::json;

use crate::common::network::{NetOptions, Network};

/// Join node 0's service as `key` (a virtual node running the tested binary): trusted at
/// once (the test network trusts joiners).
async fn join_as(net: &Network, key: &SigningKey) {
    let own = VirtualPlatform::of_this_process(None).unwrap();
    let platform = VirtualPlatform::new(
        consort_crypto::sha256(&std::fs::read(env!("CARGO_BIN_EXE_consort")).unwrap()).to_hex(),
        own.host_data().to_string(),
    );
    let evidence = platform
        .quote(&report_data_for_key(&key.public_key_der()))
        .unwrap();
    let r = node_client(net, key)
        .connect()
        .await
        .unwrap()
        .post_json(
            "/node/join",
            &json!({"node_to_node_address": "127.0.0.1:9", "rpc_address": "127.0.0.1:9",
                    "quote_info": evidence, "join_token": "test-join-token"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json().unwrap()["node_status"], "Trusted");
}

fn node_client(net: &Network, key: &SigningKey) -> ClientConfig {
    let cert = consort_crypto::cert::self_signed_leaf(key, "CCF Node", 1).unwrap();
    ClientConfig::new(net.nodes[0].rpc, &net.service_cert, Some((&cert, key))).unwrap()
}

async fn send(c: &mut Connection, method: http::Method, path: &str, range: Option<&str>) -> Reply {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "consort");
    if let Some(r) = range {
        b = b.header(http::header::RANGE, r);
    }
    c.send(b.body(Full::new(bytes::Bytes::new())).unwrap())
        .await
        .unwrap()
}

fn error_code(r: &Reply) -> String {
    r.json().unwrap()["error"]["code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Fetch `path` (a file endpoint) every way and check it against `file`.
async fn check_file(c: &mut Connection, path: &str, file: &[u8]) {
    let len = file.len();
    let head = send(c, http::Method::HEAD, path, None).await;
    assert_eq!(head.status, 200, "HEAD {path}");
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    assert!(head.body.is_empty());
    let whole = send(c, http::Method::GET, path, None).await;
    assert_eq!(whole.status, 200);
    assert_eq!(&whole.body[..], file, "GET {path} is the file on disk");
    for (range, first, last) in [
        ("bytes=0-99".to_string(), 0, 99),
        (format!("bytes={}-", len - 10), len - 10, len - 1),
        ("bytes=-7".to_string(), len - 7, len - 1),
        (format!("bytes=5-{}", len + 1000), 5, len - 1),
    ] {
        let r = send(c, http::Method::GET, path, Some(&range)).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/{len}").as_str()),
            "{range}"
        );
        assert_eq!(&r.body[..], &file[first..=last], "{range}");
    }
    let r = send(c, http::Method::GET, path, Some(&format!("bytes={len}-"))).await;
    assert_eq!(r.status, 416);
    assert_eq!(error_code(&r), "InvalidHeaderValue");
    let r = send(c, http::Method::GET, path, Some("bytes=0-1,4-5")).await;
    assert_eq!(r.status, 400);
    assert_eq!(error_code(&r), "InvalidHeaderValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trusted_nodes_fetch_snapshots_and_ledger_chunks_by_ccfs_endpoints() {
    let opts = NetOptions {
        snapshot_tx_interval: 100,
        ..Default::default()
    };
    let net = Network::start(3, opts).await;
    let mut user = net.client(0).connect().await.unwrap();
    for k in 0..250u64 {
        let r = user
            .post_json(
                "/app/log/private",
                &json!({"id": k, "msg": format!("m{k}")}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let snapshot = {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut s: Vec<String> = std::fs::read_dir(net.nodes[0].snapshots())
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default();
            s.retain(|n| n.ends_with(".committed"));
            s.sort_by_key(|n| n.split('_').nth(1).and_then(|x| x.parse::<u64>().ok()));
            if let Some(n) = s.pop() {
                break n;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no committed snapshot"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    // Not a node: refused, with CCF's error body.
    for r in [
        user.get("/node/snapshot").await.unwrap(),
        user.get("/node/ledger-chunk?since=1").await.unwrap(),
        user.get(&format!("/node/snapshot/{snapshot}"))
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(error_code(&r), "InvalidAuthenticationInfo");
    }
    let stranger = SigningKey::generate().unwrap();
    let r = node_client(&net, &stranger)
        .connect()
        .await
        .unwrap()
        .get("/node/snapshot")
        .await
        .unwrap();
    assert_eq!(r.status, 401, "a key that is no node's");

    let key = SigningKey::generate().unwrap();
    join_as(&net, &key).await;
    let mut c = node_client(&net, &key).connect().await.unwrap();

    // The newest committed snapshot, by redirect; then the file every way.
    let r = c.get("/node/snapshot").await.unwrap();
    assert_eq!(r.status, 308, "{}", String::from_utf8_lossy(&r.body));
    let loc = r.header("location").unwrap().to_string();
    let newest = std::fs::read_dir(net.nodes[0].snapshots())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".committed"))
        .max_by_key(|n| n.split('_').nth(1).and_then(|x| x.parse::<u64>().ok()))
        .unwrap();
    assert_eq!(loc, format!("/node/snapshot/{newest}"));
    let file = std::fs::read(net.nodes[0].snapshots().join(&newest)).unwrap();
    check_file(&mut c, &loc, &file).await;
    let seqno: u64 = newest.split('_').nth(1).unwrap().parse().unwrap();
    let r = c
        .get(&format!("/node/snapshot?since={seqno}"))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(error_code(&r), "ResourceNotFound");
    let r = c.get("/node/snapshot/snapshot_1_2").await.unwrap();
    assert_eq!(r.status, 404, "only committed snapshots are served");

    // The committed chunk holding seqno 1, by redirect.
    let r = c.get("/node/ledger-chunk?since=1").await.unwrap();
    assert_eq!(r.status, 308);
    let loc = r.header("location").unwrap().to_string();
    let name = loc.strip_prefix("/node/ledger-chunk/").unwrap();
    assert!(
        name.starts_with("ledger_1-") && name.ends_with(".committed"),
        "{name}"
    );
    let file = std::fs::read(net.nodes[0].ledger().join(name)).unwrap();
    check_file(&mut c, &loc, &file).await;
    let r = c.get("/node/ledger-chunk").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(error_code(&r), "MissingQueryParameter");
    let r = c.get("/node/ledger-chunk?since=100000000").await.unwrap();
    assert_eq!(r.status, 404, "not committed yet");
}
