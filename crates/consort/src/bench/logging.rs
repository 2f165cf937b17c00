//! `consort bench` on one node: load on the logging app over HTTPS, with many connections.
//!
//! Starts a real node process, drives `POST /app/log/private` from `--connections`
//! keep-alive connections for `--duration` seconds, and watches `/node/commit` to time each
//! write from send to Committed. Reports committed writes per second and p50/p99 commit
//! latency, next to a baseline measured in the same run: the same writes committed
//! in-process through the journal (no network, no TLS), the ceiling for this machine.

#![allow(clippy::print_stdout)]

use std::{
    net::SocketAddr,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use consort_client::ClientConfig;
use consort_crypto::{cert::Certificate, keys::SigningKey};
use consort_kv::TxId;
use serde_json::json;

use super::{
    args::BenchArgs,
    stats::{ms, percentile, LoadResult},
};

struct Sent {
    sent: Instant,
    txid: TxId,
}

/// In-process baseline: the same writes straight into a journal.
fn baseline(msg: &str, secs: f64) -> Result<f64> {
    use consort_ledger::identity::{NodeIdentity, ServiceIdentity};
    let d = tempfile::tempdir()?;
    let service = ServiceIdentity::generate()?;
    let node = Arc::new(NodeIdentity::generate(&service, &Default::default())?);
    let secrets = consort_kv::LedgerSecrets::single(consort_kv::LedgerSecret::generate()?);
    let journal = consort_ledger::Journal::create(
        consort_ledger::JournalConfig::new(d.path()),
        Arc::new(consort_kv::Store::new()),
        node,
        secrets,
    )?;
    journal.bootstrap_service(&service.cert)?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        let mut tx = journal.begin();
        tx.put(
            "records",
            n.to_be_bytes().to_vec(),
            serde_json::to_vec(msg)?,
        );
        journal.commit(tx)?;
        n += 1;
    }
    journal.sign()?;
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// A node started for the run, the load, and the in-process baseline.
pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let key = SigningKey::generate()?;
    let cert = consort_crypto::cert::self_signed_leaf(&key, "bench", 30)?;
    std::fs::write(dir.join("user_cert.pem"), cert.to_pem())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    std::fs::write(
        dir.join("node.json"),
        serde_json::to_vec(&json!({
            "rpc_address": addr.to_string(),
            "data_dir": "node",
            "signature_ms_interval": args.signature_ms,
            "users": [{"certificate_file": "user_cert.pem"}],
            "max_concurrent_requests": 64,
        }))?,
    )?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["node", "start", "--config"])
        .arg(dir.join("node.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        load(
            &args,
            &[addr],
            &dir.join("node/service_cert.pem"),
            &cert,
            &key,
        )
    }));
    let _ = child.kill();
    let _ = child.wait();
    let (committed, elapsed, lat, errors) = match result {
        Ok(r) => r?,
        Err(_) => bail!("load generator panicked"),
    };
    let msg = "x".repeat(args.msg_bytes);
    let base = baseline(&msg, 3.0)?;
    let tput = committed as f64 / elapsed;
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "logging app over HTTPS: {} connections, {} s, {}-byte messages",
        args.connections, args.duration, args.msg_bytes
    );
    println!("  committed writes:  {committed} ({tput:.0}/s), errors: {errors}");
    println!(
        "  commit latency:    p50 {:.2} ms, p99 {:.2} ms (send -> Committed)",
        ms(p50),
        ms(p99)
    );
    println!("  baseline (same run, in-process journal, 1 thread): {base:.0} commits/s");
    println!("  ratio HTTPS/in-process: {:.3}", tput / base);
    if let Some(p) = args.json {
        std::fs::write(
            &p,
            serde_json::to_vec_pretty(&json!({
                "connections": args.connections, "duration_s": args.duration, "msg_bytes": args.msg_bytes,
                "committed_writes": committed, "writes_per_s": tput, "errors": errors,
                "p50_ms": ms(p50), "p99_ms": ms(p99), "baseline_in_process_per_s": base, "ratio": tput / base,
            }))?,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `connections` writers, spread over `clients`, posting `msg` until `end`; what each
/// write's transaction id was, and how many were refused.
fn spawn_writers(
    clients: &[ClientConfig],
    connections: u64,
    end: Instant,
    msg: &str,
    sent: &Arc<Mutex<Vec<Sent>>>,
    errors: &Arc<std::sync::atomic::AtomicU64>,
) -> Vec<tokio::task::JoinHandle<Result<()>>> {
    let mut tasks = Vec::new();
    for w in 0..connections {
        let client = clients[w as usize % clients.len()].clone();
        let (sent, errors, msg) = (sent.clone(), errors.clone(), msg.to_string());
        tasks.push(tokio::spawn(async move {
            let mut c = client.connect().await.context("connect")?;
            let mut i = 0u64;
            while Instant::now() < end {
                let t = Instant::now();
                let r = c
                    .post_json("/app/log/private", &json!({"id": w << 32 | i, "msg": msg}))
                    .await?;
                match r.txid.and_then(|t| t.parse::<TxId>().ok()) {
                    Some(txid) if r.status == 200 => {
                        sent.lock().expect("lock").push(Sent { sent: t, txid })
                    }
                    _ => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                i += 1;
            }
            anyhow::Ok(())
        }));
    }
    tasks
}

/// Drive the logging app on `addrs` (connections spread over them; the first is watched
/// for the commit point).
pub(crate) fn load(
    args: &BenchArgs,
    addrs: &[SocketAddr],
    service_cert_file: &std::path::Path,
    cert: &Certificate,
    key: &SigningKey,
) -> Result<LoadResult> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut service = None;
        for a in addrs {
            service = Some(
                consort_client::wait_until_open(
                    *a,
                    service_cert_file,
                    Duration::from_secs(60),
                    || true,
                )
                .await?,
            );
        }
        let service = service.context("no node")?;
        let clients: Vec<ClientConfig> = addrs
            .iter()
            .map(|a| ClientConfig::new(*a, &service, Some((cert, key))))
            .collect::<Result<_, _>>()?;
        let client = clients[0].clone();
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let start = Instant::now();
        let end = start + Duration::from_secs(args.duration);
        let msg = "x".repeat(args.msg_bytes);
        let tasks = spawn_writers(&clients, args.connections as u64, end, &msg, &sent, &errors);
        // Watch the commit point; a write's latency ends when it is first seen committed.
        let mut watcher = client.connect().await?;
        let mut lat = Vec::new();
        let mut done = 0usize;
        let mut last_commit_seen = start;
        loop {
            let now = Instant::now();
            let c = super::net::commit_point(&mut watcher).await?;
            {
                let mut s = sent.lock().expect("lock");
                s.sort_by_key(|x| x.txid.seqno);
                let mut keep = Vec::new();
                for x in s.drain(..) {
                    if x.txid.seqno <= c.seqno {
                        lat.push(now - x.sent);
                        done += 1;
                        last_commit_seen = now;
                    } else {
                        keep.push(x);
                    }
                }
                *s = keep;
                if now > end && s.is_empty() && tasks.iter().all(|t| t.is_finished()) {
                    break;
                }
            }
            if now > end + Duration::from_secs(10) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for t in tasks {
            t.await??;
        }
        lat.sort();
        let elapsed = (last_commit_seen - start).as_secs_f64().max(1e-9);
        Ok((
            done as u64,
            elapsed,
            lat,
            errors.load(std::sync::atomic::Ordering::Relaxed),
        ))
    })
}
