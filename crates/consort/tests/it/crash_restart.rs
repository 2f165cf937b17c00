//! kill -9 a node in the middle of a write load, restart it: every write that was
//! acknowledged and then reported Committed is still there, and the ledger verifies with
//! `consort ledger verify` and CCF's `read_ledger.py`.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::common::*;
use consort_client::ClientConfig;
use consort_crypto::{cert::Certificate, keys::SigningKey};
use consort_kv::TxId;
use serde_json::json;

fn start_node(config: &Path) -> std::process::Child {
    consort()
        .args(["node", "start", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_open(addr: SocketAddr, dir: &Path) -> Certificate {
    consort_client::wait_until_open(
        addr,
        &dir.join("service_cert.pem"),
        Duration::from_secs(30),
        || true,
    )
    .await
    .unwrap()
}

#[derive(Clone, Debug)]
struct Ack {
    path: &'static str,
    id: u64,
    msg: String,
    txid: TxId,
    invoked: u64,
    returned: u64,
}

/// A write cut off by the crash: (path, id, msg, invoked).
type Unknown = (&'static str, u64, String, u64);

/// Microseconds since the test started (one clock for the whole history).
fn micros(t0: Instant) -> u64 {
    t0.elapsed().as_micros() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committed_writes_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = SigningKey::generate().unwrap();
    let cert = consort_crypto::cert::self_signed_leaf(&key, "user0", 30).unwrap();
    std::fs::write(dir.join("user0_cert.pem"), cert.to_pem()).unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = dir.join("node.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&json!({
            "rpc_address": addr.to_string(),
            "data_dir": "node0",
            "signature_ms_interval": 20,
            "signature_tx_interval": 200,
            "ledger_chunk_bytes": 32768,
            "users": [{"certificate_file": "user0_cert.pem"}],
        }))
        .unwrap(),
    )
    .unwrap();
    let node_dir = dir.join("node0");
    let mut child = start_node(&config);
    let service = wait_open(addr, &node_dir).await;
    let client = ClientConfig::new(addr, &service, Some((&cert, &key))).unwrap();

    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    // Writes whose outcome the client never learned (the node died mid-request).
    let unknown: Arc<Mutex<Vec<Unknown>>> = Arc::default();
    let t0 = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let (client, acks, stop, unknown) =
            (client.clone(), acks.clone(), stop.clone(), unknown.clone());
        writers.push(tokio::spawn(async move {
            let Ok(mut c) = client.connect().await else {
                return;
            };
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = w * 1_000_000 + i;
                let path = if i % 2 == 0 {
                    "/app/log/private"
                } else {
                    "/app/log/public"
                };
                let msg = format!("msg-{id}");
                let invoked = micros(t0);
                match c.post_json(path, &json!({"id": id, "msg": msg})).await {
                    Ok(r) if r.status == 200 => acks.lock().unwrap().push(Ack {
                        path,
                        id,
                        msg,
                        txid: r.txid.unwrap().parse().unwrap(),
                        invoked,
                        returned: micros(t0),
                    }),
                    _ => {
                        // The node died: this write may or may not have happened.
                        unknown.lock().unwrap().push((path, id, msg, invoked));
                        return;
                    }
                }
                i += 1;
            }
        }));
    }
    // Watch the commit point while the load runs; then kill -9.
    let mut observer = client.connect().await.unwrap();
    let mut committed = TxId::default();
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let r = observer.get("/node/commit").await.unwrap();
        committed = r.json().unwrap()["transaction_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let acks = acks.lock().unwrap().clone();
    let durable: Vec<&Ack> = acks
        .iter()
        .filter(|a| a.txid.seqno <= committed.seqno)
        .collect();
    assert!(
        durable.len() > 100,
        "load too small: {} acknowledged, {} committed",
        acks.len(),
        durable.len()
    );

    // Restart: every write acknowledged as Committed is still there.
    let mut child = start_node(&config);
    wait_open(addr, &node_dir).await;
    let mut c = client.connect().await.unwrap();
    for a in &durable {
        let r = c.get(&format!("{}?id={}", a.path, a.id)).await.unwrap();
        assert_eq!(
            r.status,
            200,
            "write {a:?} lost after kill -9: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json().unwrap()["msg"], a.msg.as_str());
        let st = c
            .get(&format!("/node/tx?transaction_id={}", a.txid))
            .await
            .unwrap();
        assert_eq!(st.json().unwrap()["status"], "Committed", "{a:?}");
    }
    // Linearizability of the whole history: a write is known to have happened only once
    // the client saw it Committed; acknowledged-but-uncommitted writes and writes cut off
    // by the crash may or may not have happened. Every key is read back after the restart.
    use crate::common::linearizability::{check, Event, Op};
    let mut history = Vec::new();
    let mut keys = Vec::new();
    for a in &acks {
        let committed_seen = a.txid.seqno <= committed.seqno;
        history.push(Event {
            key: a.id,
            op: Op::Write(a.msg.clone()),
            invoked: a.invoked,
            returned: committed_seen.then_some(a.returned),
        });
        keys.push((a.path, a.id));
    }
    for (path, id, msg, invoked) in unknown.lock().unwrap().iter() {
        history.push(Event {
            key: *id,
            op: Op::Write(msg.clone()),
            invoked: *invoked,
            returned: None,
        });
        keys.push((path, *id));
    }
    for (path, id) in keys {
        let invoked = micros(t0);
        let r = c.get(&format!("{path}?id={id}")).await.unwrap();
        let seen = match r.status {
            200 => Some(r.json().unwrap()["msg"].as_str().unwrap().to_string()),
            404 => None,
            s => panic!("read of {id}: {s}"),
        };
        history.push(Event {
            key: id,
            op: Op::Read(seen),
            invoked,
            returned: Some(micros(t0)),
        });
    }
    check(&history).unwrap_or_else(|e| panic!("history not linearizable: {e:?}"));

    // The node keeps working after the restart.
    let r = c
        .post_json(
            "/app/log/private",
            &json!({"id": 1, "msg": "after restart"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    child.wait().unwrap();

    let ledger = node_dir.join("ledger");
    let out = consort()
        .args(["ledger", "verify"])
        .arg(&ledger)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    for extra in [None, Some("--uncommitted")] {
        let mut args = vec!["-m", "ccf.read_ledger", "-q"];
        args.extend(extra);
        args.push(ledger.to_str().unwrap());
        let out = run_python(&args);
        assert!(
            out.status.success(),
            "read_ledger.py {extra:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains("Ledger verification complete"));
    }
}
