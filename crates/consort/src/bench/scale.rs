//! `consort bench --scale N`: a 3-node network filled with N private 100-byte logging
//! writes through the API, then measured as a long-lived service is: each node's resident
//! memory (read from `/proc`, not estimated) after the fill and after a restart, the ledger
//! on disk next to the raw data, snapshot size and serialization time, a fresh node's join
//! (snapshot fetch + catch-up), a restart's replay rate, `consort ledger verify`'s rate, and
//! a 1,000-key range query. Run at two sizes, the growth shows.

#![allow(clippy::print_stdout)]

use std::{
    net::SocketAddr,
    path::Path,
    process::ExitCode,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use consort_client::ClientConfig;
use serde_json::{json, Value};

use super::{
    args::BenchArgs,
    net::{commit_point, log_tails, spawn_node, start_consort_ext, wait_open},
    stats::{ms, percentile},
};
use crate::sandbox::free_port;

/// Resident set of process `pid` in MB (`VmRSS`).
pub(super) fn rss_mb(pid: u32) -> Result<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")?;
    Ok(kb / 1024.0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Write ids `0..n` (100-byte messages) over `connections`, printing progress; a write
/// answered 503 (e.g. `NotPrimary` while the service elects a primary) is sent again, as
/// clients do. Returns (writes/s, such retries, the highest seqno a write was given).
async fn fill(
    client: &ClientConfig,
    n: u64,
    connections: u64,
    msg: &str,
) -> Result<(f64, u64, u64)> {
    let next = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let highest = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, next, msg) = (client.clone(), next.clone(), msg.to_string());
        let (retries, highest) = (retries.clone(), highest.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = client.connect().await?;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    return anyhow::Ok(());
                }
                if k > 0 && k % (n / 10).max(1) == 0 {
                    println!(
                        "  {}% ({k} writes, {:.0}/s)",
                        k * 100 / n,
                        k as f64 / start.elapsed().as_secs_f64()
                    );
                }
                let body = json!({"id": k, "msg": msg});
                let mut tries = 0;
                loop {
                    let r = c.post_json("/app/log/private", &body).await?;
                    match r.status {
                        200 => {
                            let seqno = r
                                .txid
                                .as_deref()
                                .and_then(|t| t.parse::<consort_kv::TxId>().ok().map(|t| t.seqno));
                            highest.fetch_max(seqno.unwrap_or(0), Ordering::Relaxed);
                            break;
                        }
                        503 if tries < 200 => {
                            if retries.fetch_add(1, Ordering::Relaxed) == 0 {
                                println!(
                                    "  write {k} answered 503 ({}); retrying",
                                    String::from_utf8_lossy(&r.body)
                                );
                            }
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        s => bail!("write {k}: HTTP {s}: {}", String::from_utf8_lossy(&r.body)),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((
        n as f64 / start.elapsed().as_secs_f64(),
        retries.load(Ordering::Relaxed),
        highest.load(Ordering::Relaxed),
    ))
}

/// Wait until the node at `c` has committed `seqno`; the time it took.
async fn until_committed(c: &ClientConfig, seqno: u64, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if let Ok(mut conn) = c.connect().await {
            if commit_point(&mut conn)
                .await
                .is_ok_and(|t| t.seqno >= seqno)
            {
                return Ok(start.elapsed());
            }
        }
        if start.elapsed() > limit {
            bail!("seqno {seqno} not committed within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last line of node `i`'s log that contains `needle`, without colour sequences.
fn last_log_line(dir: &Path, i: usize, needle: &str) -> Option<String> {
    let log = std::fs::read_to_string(dir.join(format!("node{i}.log"))).ok()?;
    log.lines()
        .rev()
        .find(|l| l.contains(needle))
        .map(strip_ansi)
}

/// The number after `label` in `line` (digits, up to the first non-digit).
fn number_after(line: &str, label: &str) -> Option<f64> {
    let rest = line.split(label).nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// How long node 0's last snapshot took to serialize (ms, from its log), and the size of
/// its newest committed snapshot.
fn snapshot_figures(dir: &Path) -> (f64, u64) {
    let ms = last_log_line(dir, 0, "serialized in ")
        .and_then(|l| number_after(&l, "serialized in "))
        .unwrap_or(0.0);
    let snapshots = dir.join("node0/snapshots");
    let size = consort_node::lifecycle::snapshots::latest_snapshot(&snapshots)
        .and_then(|(name, _)| std::fs::metadata(snapshots.join(name)).ok())
        .map_or(0, |m| m.len());
    (ms, size)
}

/// The entries node `i` replayed at its last restart and how long it took (ms), from its
/// log (`replayed=N … replayed in Tms`).
fn replay_figures(dir: &Path, i: usize) -> Option<(f64, f64)> {
    let line = last_log_line(dir, i, "restarted from ledger")?;
    Some((
        number_after(&line, "replayed=")?,
        number_after(&line, "replayed in ")?,
    ))
}

/// `s` without terminal colour sequences (`ESC [ … m`), as the node's log has them.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Write `node<i>.json` for one more node joining node 0 (fetching its snapshot).
fn joiner_config(dir: &Path, i: usize, target: SocketAddr) -> Result<SocketAddr> {
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(dir.join("node1.json"))?)?;
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    cfg["rpc_address"] = json!(addr.to_string());
    cfg["node_to_node_address"] = json!(format!("127.0.0.1:{}", free_port()?));
    cfg["data_dir"] = json!(format!("node{i}"));
    cfg["join"]["target_rpc_address"] = json!(target.to_string());
    std::fs::write(dir.join(format!("node{i}.json")), serde_json::to_vec(&cfg)?)?;
    Ok(addr)
}

pub(crate) fn run(args: &BenchArgs, n: u64) -> Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let ukey = consort_crypto::keys::SigningKey::generate()?;
    let cert = consort_crypto::cert::self_signed_leaf(&ukey, "bench", 30)?;
    std::fs::write(dir.join("user_cert.pem"), cert.to_pem())?;
    let every = (n / 10).clamp(1_000, 100_000);
    let extra = json!({"snapshot_tx_interval": every});
    let (mut procs, addrs) = start_consort_ext(3, dir, args.signature_ms, &Value::Null, &extra)?;
    let msg = "x".repeat(args.msg_bytes);
    println!(
        "scale: {n} private {}-byte writes on 3 nodes ({} connections, a snapshot every {every})",
        args.msg_bytes, args.connections
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let service = wait_open(&addrs, dir, &mut procs).await?;
        let client = |a: SocketAddr| ClientConfig::new(a, &service, Some((&cert, &ukey)));
        let c0 = client(addrs[0])?;
        let (rate, retries, last) = fill(&c0, n, args.connections as u64, &msg).await?;
        // Every node commits the last write (node 0 may have stopped being the primary
        // during the fill; its writes were forwarded).
        for a in &addrs {
            until_committed(&client(*a)?, last, Duration::from_secs(120)).await?;
        }
        let pids: Vec<u32> = procs.0.iter().map(std::process::Child::id).collect();
        let rss: Vec<f64> = pids.iter().map(|p| rss_mb(*p)).collect::<Result<_>>()?;
        println!("  filled at {rate:.0} writes/s ({retries} writes sent again after a 503); committed through seqno {last}");

        // How many of the N writes the service holds (a write answered but not yet
        // committed when the primary changed is rolled back with it, as in CCF).
        let mut conn = c0.connect().await?;
        let (mut present, mut from) = (0u64, Some(0u64));
        while let Some(f) = from {
            let r = conn
                .get(&format!("/app/log/private/range?from={f}&limit=1000"))
                .await?;
            let v = r.json()?;
            present += v["records"].as_array().map_or(0, |a| a.len() as u64);
            from = v["next"].as_u64();
        }
        if present != n {
            println!("  {} of the {n} writes were rolled back with a change of primary", n - present);
        }
        // A 1,000-key range: median latency of 21.
        let mut conn = c0.connect().await?;
        let mut lat = Vec::new();
        for i in 0..21u64 {
            let from = (i * 7919) % n.saturating_sub(1000).max(1);
            let t = Instant::now();
            let r = conn
                .get(&format!(
                    "/app/log/private/range?from={from}&to={}&limit=1000",
                    from + 1000
                ))
                .await?;
            lat.push(t.elapsed());
            if r.status != 200 {
                bail!("range: HTTP {}", r.status);
            }
        }
        lat.sort();

        // A fresh node joins (snapshot fetch + catch-up).
        let a3 = joiner_config(dir, 3, addrs[0])?;
        let t = Instant::now();
        procs.0.push(spawn_node(dir, 3)?);
        consort_client::wait_until_open(
            a3,
            &dir.join("node0/service_cert.pem"),
            Duration::from_secs(300),
            || true,
        )
        .await?;
        until_committed(&client(a3)?, last, Duration::from_secs(300)).await?;
        let join = t.elapsed();

        // Node 1 restarts from its ledger.
        let _ = procs.0[1].kill();
        let _ = procs.0[1].wait();
        let t = Instant::now();
        procs.0[1] = spawn_node(dir, 1)?;
        until_committed(&client(addrs[1])?, last, Duration::from_secs(600)).await?;
        let restart = t.elapsed();
        let (replayed, replay_ms) = replay_figures(dir, 1).unwrap_or((0.0, 0.0));
        let rss_restarted = rss_mb(procs.0[1].id())?;
        anyhow::Ok(json!({
            "n": n, "present": present, "fill_per_s": rate, "retried_503": retries, "last_seqno": last,
            "rss_mb": rss, "rss_mb_node1_after_restart": rss_restarted,
            "range_1000_p50_ms": ms(percentile(&lat, 0.5)),
            "join_s": join.as_secs_f64(),
            "restart_s": restart.as_secs_f64(),
            "restart_caught_up_per_s": last as f64 / restart.as_secs_f64(),
            "restart_replayed": replayed,
            "restart_replay_ms": replay_ms,
            "restart_replay_per_s": replayed / (replay_ms / 1000.0).max(1e-9),
        }))
    });
    let mut out = match out {
        Ok(v) => v,
        Err(e) => bail!("{e:#}\n{}", log_tails(dir, 4)),
    };
    drop(procs);
    let ledger = dir.join("node0/ledger");
    let t = Instant::now();
    let verify = std::process::Command::new(std::env::current_exe()?)
        .args(["ledger", "verify"])
        .arg(&ledger)
        .output()?;
    let verify_s = t.elapsed().as_secs_f64();
    if !verify.status.success() {
        bail!(
            "ledger verify failed: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    let (snap_ms, snap_bytes) = snapshot_figures(dir);
    let last = out["last_seqno"].as_f64().unwrap_or(0.0);
    out["ledger_bytes"] = json!(dir_bytes(&ledger));
    out["raw_bytes"] = json!(n * (args.msg_bytes as u64 + 8));
    out["verify_per_s"] = json!(last / verify_s);
    out["snapshot_bytes"] = json!(snap_bytes);
    out["snapshot_serialize_ms"] = json!(snap_ms);
    report(&out);
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&out)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn report(o: &Value) {
    let mb = |k: &str| o[k].as_f64().unwrap_or(0.0) / 1e6;
    println!("results (N = {}):", o["n"]);
    println!(
        "  RSS after the fill (MB): {}; node 1 after a restart: {:.0}",
        o["rss_mb"]
            .as_array()
            .map(|a| a
                .iter()
                .map(|v| format!("{:.0}", v.as_f64().unwrap_or(0.0)))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        o["rss_mb_node1_after_restart"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  ledger on disk {:.1} MB (raw data {:.1} MB); newest snapshot {:.1} MB, serialized in {:.0} ms",
        mb("ledger_bytes"),
        mb("raw_bytes"),
        mb("snapshot_bytes"),
        o["snapshot_serialize_ms"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  fresh node joined and caught up in {:.2} s; a restart replayed {:.0} entries at {:.0} tx/s and was caught up after {:.1} s; ledger verify {:.0} tx/s; 1,000-key range p50 {:.2} ms",
        o["join_s"].as_f64().unwrap_or(0.0),
        o["restart_replayed"].as_f64().unwrap_or(0.0),
        o["restart_replay_per_s"].as_f64().unwrap_or(0.0),
        o["restart_s"].as_f64().unwrap_or(0.0),
        o["verify_per_s"].as_f64().unwrap_or(0.0),
        o["range_1000_p50_ms"].as_f64().unwrap_or(0.0)
    );
}
