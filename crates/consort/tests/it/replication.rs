//! Replication end to end: networks of real `consort node` processes on loopback under a
//! logging-app load. Primaries are killed with SIGKILL, links are cut by the test network's
//! proxies, nodes restart and join; the clients' history must be linearizable, every
//! committed write must be found, and every node's ledger must verify (`consort ledger
//! verify`, CCF's `read_ledger.py`) with committed prefixes byte-identical across nodes.

use std::time::Duration;

use crate::common::{
    linearizability::check,
    network::{ledger_entries, NetOptions, Network},
    workload::{Load, UNIQUE_BASE},
    *,
};
use consort_kv::TxId;
use serde_json::json;

/// Every committed write is found; the history (with final reads of every key) checks.
async fn check_history(net: &Network, load: &Load, judge: usize) {
    let (mut events, committed, invalid) = load.history(net, judge).await;
    assert!(
        committed.len() > 50,
        "load too small: {} committed writes",
        committed.len()
    );
    let mut c = net.client(judge).connect().await.unwrap();
    let mut keys: Vec<u64> = committed.iter().map(|r| r.key).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let invoked = load.now();
        let r = c.get(&format!("/app/log/private?id={key}")).await.unwrap();
        let seen = match r.status {
            200 => Some(r.json().unwrap()["msg"].as_str().unwrap().to_string()),
            404 => None,
            s => panic!("final read of {key}: {s}"),
        };
        if key >= UNIQUE_BASE {
            let w = committed.iter().find(|r| r.key == key).unwrap();
            assert_eq!(
                seen.as_ref(),
                Some(match &w.op {
                    crate::common::linearizability::Op::Write(m) => m,
                    _ => unreachable!(),
                }),
                "committed write {w:?} not found"
            );
        }
        events.push(crate::common::linearizability::Event {
            key,
            op: crate::common::linearizability::Op::Read(seen),
            invoked,
            returned: Some(load.now()),
        });
    }
    eprintln!(
        "history: {} operations, {} committed writes, {} rolled back",
        events.len(),
        committed.len(),
        invalid
    );
    check(&events).unwrap_or_else(|e| panic!("history not linearizable: {e:?}"));
}

/// Stop every node; each ledger verifies with `consort ledger verify` and `read_ledger.py`,
/// and all nodes hold the same bytes for every transaction up to the lowest commit point.
fn verify_ledgers(net: &mut Network, commit: u64) {
    net.stop_all();
    let mut reference: Option<std::collections::BTreeMap<u64, Vec<u8>>> = None;
    for n in &net.nodes {
        let out = consort()
            .args(["ledger", "verify"])
            .arg(n.ledger())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            n.name,
            text(&out.stdout),
            text(&out.stderr)
        );
        let out = run_python(&["-m", "ccf.read_ledger", "-q", n.ledger().to_str().unwrap()]);
        assert!(
            out.status.success() && text(&out.stdout).contains("Ledger verification complete"),
            "read_ledger.py on {}: {}{}",
            n.name,
            text(&out.stdout),
            text(&out.stderr)
        );
        let entries = ledger_entries(&n.ledger(), commit);
        assert_eq!(
            entries.len() as u64,
            commit,
            "{} holds {} of {commit} committed entries",
            n.name,
            entries.len()
        );
        match &reference {
            None => reference = Some(entries),
            Some(r) => {
                for (s, b) in &entries {
                    assert_eq!(Some(b), r.get(s), "{} differs at seqno {s}", n.name);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_fail_over_when_the_primary_is_killed() {
    let mut net = Network::start(3, NetOptions::default()).await;
    let p0 = net.wait_primary(&[], Duration::from_secs(10)).await;
    let mut load = Load::start(&net, 6, 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = net.commit(p0).await.unwrap();
    net.kill(p0);
    let killed_at = load.now();
    let p1 = net.wait_primary(&[p0], Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    load.stop().await;
    // Clients continued: writes after the failover committed.
    let after = net.commit(p1).await.unwrap();
    assert!(
        after.view > before.view && after.seqno > before.seqno + 50,
        "no progress after failover: {before} -> {after}"
    );
    let recs = load.recs.lock().unwrap().clone();
    assert!(
        recs.iter()
            .any(|r| r.invoked > killed_at && r.txid.is_some_and(|t| t.view > before.view)),
        "no write was answered by the new primary"
    );
    // The killed node restarts and catches up.
    net.restart(p0).await;
    let last: u64 = net.consensus(p1).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    for i in 0..3 {
        net.wait_commit(i, last, Duration::from_secs(20)).await;
    }
    check_history(&net, &load, p1).await;
    let commit = net.commit(p1).await.unwrap().seqno;
    for i in 0..3 {
        net.wait_commit(i, commit, Duration::from_secs(20)).await;
    }
    verify_ledgers(&mut net, commit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_minority_cannot_commit_and_the_majority_goes_on() {
    let mut net = Network::start(3, NetOptions::default()).await;
    let old = net.wait_primary(&[], Duration::from_secs(10)).await;
    let mut c = net.client(old).connect().await.unwrap();
    let r = c
        .post_json("/app/log/private", &json!({"id": 1, "msg": "before"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let t: TxId = r.txid.unwrap().parse().unwrap();
    net.wait_commit(old, t.seqno, Duration::from_secs(5)).await;

    // Cut the primary off. Whatever it still accepts can never commit.
    net.partition(&[old]);
    // (Messages already in flight when the links were cut may still land.)
    tokio::time::sleep(Duration::from_millis(100)).await;
    let commit_at_cut = net.commit(old).await.unwrap();
    let mut minority_txids = Vec::new();
    for i in 0..20 {
        let r = c
            .post_json(
                "/app/log/private",
                &json!({"id": 100 + i, "msg": format!("minority {i}")}),
            )
            .await
            .unwrap();
        if r.status == 200 {
            minority_txids.push(r.txid.unwrap().parse::<TxId>().unwrap());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        !minority_txids.is_empty(),
        "the isolated primary accepted nothing before stepping down"
    );
    // The majority elects a primary and commits.
    let new = net.wait_primary(&[old], Duration::from_secs(10)).await;
    let other = (0..3).find(|i| *i != old && *i != new).unwrap();
    let mut m = net.client(other).connect().await.unwrap();
    let r = m
        .post_json("/app/log/private", &json!({"id": 2, "msg": "majority"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let majority_tx: TxId = r.txid.unwrap().parse().unwrap();
    net.wait_commit(new, majority_tx.seqno, Duration::from_secs(10))
        .await;
    // The minority never committed anything of its own.
    let commit_isolated = net.commit(old).await.unwrap();
    assert_eq!(
        commit_isolated, commit_at_cut,
        "the isolated node's commit point moved"
    );
    // Having heard from no majority for an election timeout, it steps down.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let d = net.consensus(old).await.unwrap();
        if d["leadership_state"] != "Leader" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the isolated primary did not step down: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = c
        .post_json("/app/log/private", &json!({"id": 3, "msg": "refused"}))
        .await
        .unwrap();
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    let e: serde_json::Value = r.json().unwrap();
    assert!(e["error"]["code"].is_string(), "{e}");

    // Heal: the old primary rolls its writes back and follows.
    net.heal();
    let last = net.consensus(new).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    net.wait_commit(old, last, Duration::from_secs(20)).await;
    let mut j = net.client(new).connect().await.unwrap();
    for t in &minority_txids {
        assert_eq!(net.tx_status(&mut j, *t).await, "Invalid", "{t}");
        assert_eq!(
            net.tx_status(&mut c, *t).await,
            "Invalid",
            "{t} on the old primary"
        );
    }
    let r = c.get("/app/log/private?id=100").await.unwrap();
    assert_eq!(r.status, 404, "a minority write survived");
    let r = c.get("/app/log/private?id=2").await.unwrap();
    assert_eq!(r.json().unwrap()["msg"], "majority");
    let commit = net.commit(new).await.unwrap().seqno;
    for i in 0..3 {
        net.wait_commit(i, commit, Duration::from_secs(20)).await;
    }
    verify_ledgers(&mut net, commit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_nodes_survive_two_failures() {
    let mut net = Network::start(5, NetOptions::default()).await;
    let p0 = net.wait_primary(&[], Duration::from_secs(10)).await;
    let mut load = Load::start(&net, 6, 2);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let victim = (p0 + 1) % 5;
    net.kill(p0);
    net.kill(victim);
    let p1 = net
        .wait_primary(&[p0, victim], Duration::from_secs(10))
        .await;
    let c1 = net.commit(p1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    load.stop().await;
    let c2 = net.commit(p1).await.unwrap();
    assert!(
        c2.seqno > c1.seqno + 50,
        "three of five nodes did not make progress: {c1} -> {c2}"
    );
    net.restart(p0).await;
    net.restart(victim).await;
    let last = net.consensus(p1).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    for i in 0..5 {
        net.wait_commit(i, last, Duration::from_secs(30)).await;
    }
    check_history(&net, &load, p1).await;
    let commit = net.commit(p1).await.unwrap().seqno;
    for i in 0..5 {
        net.wait_commit(i, commit, Duration::from_secs(20)).await;
    }
    verify_ledgers(&mut net, commit);
}

/// Write `n` entries with ids from `from`, 4 connections to node `i`.
pub(crate) async fn write_many(net: &Network, i: usize, from: u64, n: u64) {
    let mut tasks = Vec::new();
    for w in 0..4 {
        let client = net.client(i);
        tasks.push(tokio::spawn(async move {
            let mut c = client.connect().await.unwrap();
            for k in (from + w..from + n).step_by(4) {
                let r = c
                    .post_json(
                        "/app/log/private",
                        &json!({"id": k, "msg": format!("m{k}")}),
                    )
                    .await
                    .unwrap();
                assert_eq!(r.status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

pub(crate) fn committed_snapshots(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                (name.starts_with("snapshot_") && name.ends_with(".committed"))
                    .then(|| (name, std::fs::read(e.path()).unwrap()))
            })
            .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_node_joins_from_a_snapshot_and_catches_up() {
    let opts = NetOptions {
        snapshot_tx_interval: 200,
        ..Default::default()
    };
    let mut net = Network::start(3, opts).await;
    let p = net.wait_primary(&[], Duration::from_secs(10)).await;
    write_many(&net, p, 1, 600).await;
    // Every node writes the same snapshots: backups reproduce the primary's bytes.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let snaps = loop {
        let s: Vec<_> = (0..3)
            .map(|i| committed_snapshots(&net.nodes[i].snapshots()))
            .collect();
        if s.iter().all(|v| !v.is_empty()) && s.iter().all(|v| v == &s[0]) {
            break s[0].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nodes did not all write the same committed snapshots: {:?}",
            s.iter()
                .map(|v| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // CCF's reader accepts them.
    let (name, _) = snaps.last().unwrap();
    let path = net.nodes[p].snapshots().join(name);
    let out = run_python(&[
        "-c",
        "import sys, ccf.ledger as l; s = l.Snapshot(sys.argv[1]); print(s.get_public_domain().get_seqno())",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A fourth node joins through node 0, starts from the latest snapshot and replays only
    // the suffix.
    let i = net.add_node(true).await;
    write_many(&net, i, 10_000, 200).await; // forwarded by the new node
    let last = net.consensus(p).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    net.wait_commit(i, last, Duration::from_secs(20)).await;
    // It serves state from before and after the snapshot.
    let mut c = net.client(i).connect().await.unwrap();
    for k in [1u64, 599, 10_000, 10_199] {
        let r = c.get(&format!("/app/log/private?id={k}")).await.unwrap();
        assert_eq!(r.status, 200, "key {k} on the new node");
        assert_eq!(r.json().unwrap()["msg"], format!("m{k}"));
    }
    // It is a voting member: with one of the original nodes down, three of four commit.
    let victim = (0..3).find(|n| *n != p).unwrap();
    net.kill(victim);
    write_many(&net, p, 20_000, 40).await;
    // It restarts (from its snapshot and ledger suffix) and catches up again.
    net.kill(i);
    write_many(&net, p, 30_000, 40).await;
    net.restart(i).await;
    net.restart(victim).await;
    let commit = net.commit(p).await.unwrap().seqno;
    net.wait_commit(i, commit, Duration::from_secs(20)).await;
    let r = c.get("/app/log/private?id=30039").await;
    assert!(r.is_err(), "the old connection died with the node");
    let mut c = net.client(i).connect().await.unwrap();
    for k in [1u64, 20_000, 30_039] {
        let r = c.get(&format!("/app/log/private?id={k}")).await.unwrap();
        assert_eq!(r.status, 200, "key {k} on the restarted node");
    }
    net.stop_all();
    let first_chunk = std::fs::read_dir(net.nodes[i].ledger())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("ledger_"))
        .min_by_key(|n| {
            n.trim_start_matches("ledger_")
                .split(['-', '.'])
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .unwrap();
    let start: u64 = first_chunk
        .trim_start_matches("ledger_")
        .split(['-', '.'])
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        start > 400,
        "the new node replayed from {start}, not from a snapshot"
    );
    // Its ledger verifies from the snapshot it started from, and matches the others.
    let joined_from = net.nodes[i].snapshots().join("joined_from.snapshot");
    let out = consort()
        .args(["ledger", "verify", "--snapshot"])
        .arg(&joined_from)
        .arg(net.nodes[i].ledger())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let theirs = ledger_entries(&net.nodes[p].ledger(), commit);
    let ours = ledger_entries(&net.nodes[i].ledger(), commit);
    assert_eq!(ours.keys().next(), Some(&start));
    for (s, b) in &ours {
        assert_eq!(Some(b), theirs.get(s), "the new node differs at {s}");
    }
}

/// Joiners started together (as `consort sandbox` and `consort bench` start them) are all
/// trusted: a join that commits while another is in flight is not "a change of two
/// trusted nodes at once" (the second retries once the first has settled). This refusal
/// once made `bench --nodes 3` fail with `400 MembershipChangeTooLarge`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn joiners_that_arrive_together_are_all_trusted() {
    let mut net = Network::start(1, NetOptions::default()).await;
    let joiners: Vec<usize> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(net.add_node_pending(false).await);
        }
        v
    };
    for &i in &joiners {
        net.wait_up(i).await;
    }
    let p = net.wait_primary(&[], Duration::from_secs(10)).await;
    write_many(&net, p, 1, 20).await;
    let commit = net.commit(p).await.unwrap().seqno;
    for i in 0..5 {
        net.wait_commit(i, commit, Duration::from_secs(20)).await;
    }
}
