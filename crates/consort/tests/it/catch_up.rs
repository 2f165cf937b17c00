//! A follower that was down while the service moved past what its peers can replicate to
//! it: a node that joined from a snapshot holds nothing before it. On restart the follower
//! fetches a peer's snapshot and catches up, without joining again; a tampered snapshot is
//! refused with a clear error, and the node stops rather than run behind.

use std::time::Duration;

use crate::{
    common::network::{NetOptions, Network},
    replication::{committed_snapshots, write_many},
};

/// Node `i`'s id, as `/node/state` names it.
async fn node_id(net: &Network, i: usize) -> String {
    let mut c = net.client(i).connect().await.unwrap();
    let r = c.get("/node/state").await.unwrap();
    assert_eq!(r.status, 200);
    r.json().unwrap()["node_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_behind_a_snapshot_started_peer_catches_up_from_its_snapshot() {
    let opts = NetOptions {
        snapshot_tx_interval: 100,
        ..Default::default()
    };
    let mut net = Network::start(3, opts).await;
    let p = net.wait_primary(&[], Duration::from_secs(10)).await;
    write_many(&net, p, 1, 40).await;
    let f = (0..3).find(|i| *i != p).unwrap();
    let f_id = node_id(&net, f).await;
    let f_last = net.consensus(f).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    // 1. The follower stops; the service moves on and a node joins from a snapshot past
    //    the follower's last entry.
    net.kill(f);
    write_many(&net, p, 1_000, 400).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while committed_snapshots(&net.nodes[p].snapshots()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no committed snapshot"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let j = net.add_node(true).await;
    write_many(&net, p, 5_000, 100).await;
    let commit = net.commit(p).await.unwrap().seqno;
    net.wait_commit(j, commit, Duration::from_secs(30)).await;
    let first = std::fs::read_dir(net.nodes[j].ledger())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| {
            n.strip_prefix("ledger_")?
                .split(['-', '.'])
                .next()?
                .parse::<u64>()
                .ok()
        })
        .min()
        .unwrap_or_else(|| panic!("no chunk in {:?}", net.nodes[j].ledger()));
    assert!(
        first > f_last + 1,
        "the joiner's ledger starts at {first}, after {f_last}"
    );

    // 3. Every snapshot a peer could offer is tampered with: the follower refuses each
    //    and stops, saying why, with its ledger untouched.
    // (Once no snapshot is pending: each one's evidence committed everywhere.)
    let peers: Vec<usize> = (0..net.nodes.len()).filter(|i| *i != f).collect();
    let names = |net: &Network| {
        peers
            .iter()
            .map(|i| committed_snapshots(&net.nodes[*i].snapshots()).len())
            .collect::<Vec<_>>()
    };
    let mut seen = names(&net);
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = names(&net);
        if now == seen {
            break;
        }
        seen = now;
    }
    let mut saved = Vec::new();
    for &i in &peers {
        for (name, bytes) in committed_snapshots(&net.nodes[i].snapshots()) {
            let path = net.nodes[i].snapshots().join(&name);
            let mut bad = bytes.clone();
            let k = bad.len() / 3;
            bad[k] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            saved.push((path, bytes));
        }
    }
    let listing = |dir: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".committed"))
            .collect();
        v.sort();
        v
    };
    let f_files = listing(&net.nodes[f].ledger());
    net.spawn(f);
    let status = net.wait_exit(f, Duration::from_secs(60)).await;
    let log = net.nodes[f].log_tail();
    assert!(
        !status.success(),
        "the follower must stop: {status:?}\n{log}"
    );
    assert!(
        log.contains("every snapshot offered was refused") && log.contains("refused the snapshot"),
        "{log}"
    );
    assert_eq!(
        listing(&net.nodes[f].ledger()),
        f_files,
        "its committed ledger is untouched"
    );

    // 2. The genuine snapshots back: on restart it fetches one and catches up, as the
    //    same node (no new join).
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).unwrap();
    }
    net.restart(f).await;
    let commit = net.commit(p).await.unwrap().seqno;
    net.wait_commit(f, commit, Duration::from_secs(30)).await;
    assert_eq!(node_id(&net, f).await, f_id, "the same node, not a new one");
    let log = std::fs::read_to_string(net.nodes[f].dir.join("out.log")).unwrap();
    assert!(log.contains("caught up from a peer's snapshot"), "{log}");
    assert!(
        !log.contains("differs from the primary's"),
        "a node started from a snapshot writes the same snapshots as the others: {log}"
    );
    let mut c = net.client(f).connect().await.unwrap();
    for k in [1u64, 1_399, 5_099] {
        let r = c.get(&format!("/app/log/private?id={k}")).await.unwrap();
        assert_eq!(r.status, 200, "key {k} on the caught-up follower");
        assert_eq!(r.json().unwrap()["msg"], format!("m{k}"));
    }
    // Its old ledger is kept beside the new one; it writes again as a member.
    let aside: Vec<String> = std::fs::read_dir(&net.nodes[f].dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("ledger.before_"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    write_many(&net, f, 9_000, 20).await;
    net.stop_all();
}
