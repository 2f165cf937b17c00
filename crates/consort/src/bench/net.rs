//! Processes and connections of the benchmarks: Consort networks of node processes,
//! their logs, plain HTTP/1 connections, binaries found on `PATH`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;

use crate::sandbox::{free_port, log_tail};

/// Processes started for a run, killed on drop.
pub(crate) struct Procs(pub(crate) Vec<Child>);

impl Procs {
    /// Whether every process is still running (a node that exited, e.g. because its port
    /// was taken, fails the run at once instead of after the start-up timeout).
    pub(crate) fn all_running(&mut self) -> bool {
        self.0.iter_mut().all(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The last lines of each node's log in `dir` (what a failed run shows).
pub(crate) fn log_tails(dir: &Path, n: usize) -> String {
    (0..n)
        .map(|i| {
            let tail = log_tail(&dir.join(format!("node{i}.log")));
            format!("--- node{i}.log (last lines)\n{tail}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Start an n-node Consort network; returns the processes and RPC addresses.
pub(crate) fn start_consort(
    n: usize,
    dir: &Path,
    signature_ms: u64,
) -> Result<(Procs, Vec<SocketAddr>)> {
    start_consort_with(n, dir, signature_ms, &serde_json::Value::Null)
}

/// Start an n-node Consort network with these `apps` (null: none).
pub(crate) fn start_consort_with(
    n: usize,
    dir: &Path,
    signature_ms: u64,
    apps: &serde_json::Value,
) -> Result<(Procs, Vec<SocketAddr>)> {
    start_consort_ext(n, dir, signature_ms, apps, &serde_json::Value::Null)
}

/// Start `consort node start --config <dir>/node<i>.json` (written before), its output
/// appended to `node<i>.log`.
pub(crate) fn spawn_node(dir: &Path, i: usize) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("node{i}.log")))?;
    Ok(std::process::Command::new(std::env::current_exe()?)
        .current_dir(dir)
        .args(["node", "start", "--config"])
        .arg(format!("node{i}.json"))
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()?)
}

/// [`start_consort_with`], with `extra` settings (an object) in every node's config.
pub(crate) fn start_consort_ext(
    n: usize,
    dir: &Path,
    signature_ms: u64,
    apps: &serde_json::Value,
    extra: &serde_json::Value,
) -> Result<(Procs, Vec<SocketAddr>)> {
    let mut procs = Procs(Vec::new());
    let mut addrs = Vec::new();
    let token = "bench-join-token";
    for i in 0..n {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let mut cfg = json!({
            "rpc_address": addr.to_string(),
            "node_to_node_address": format!("127.0.0.1:{}", free_port()?),
            "data_dir": format!("node{i}"),
            "signature_ms_interval": signature_ms,
            "max_concurrent_requests": 64,
            "auto_trust_joiners": true,
            "join_token": token,
        });
        if !apps.is_null() {
            cfg["apps"] = apps.clone();
        }
        if let Some(extra) = extra.as_object() {
            for (k, v) in extra {
                cfg[k] = v.clone();
            }
        }
        if i == 0 {
            cfg["users"] = json!([{"certificate_file": "user_cert.pem"}]);
        } else {
            cfg["join"] = json!({
                "target_rpc_address": addrs[0],
                "service_certificate_file": "node0/service_cert.pem",
                "token": token,
            });
        }
        std::fs::write(dir.join(format!("node{i}.json")), serde_json::to_vec(&cfg)?)?;
        let child = spawn_node(dir, i)?;
        procs.0.push(child);
        addrs.push(addr);
        if i == 0 {
            // Joiners need the service certificate node 0 writes.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !dir.join("node0/service_cert.pem").exists() {
                if Instant::now() > deadline {
                    bail!("node0 did not start");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Ok((procs, addrs))
}

/// An HTTP/1 connection.
pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A plain HTTP/1 connection to `addr`.
pub(crate) async fn http_conn(addr: SocketAddr) -> Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (s, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(s)
}

/// `p` itself if it is a path (or exists), else the first `p` on `PATH`.
pub(crate) fn resolve_bin(p: &Path) -> PathBuf {
    if p.components().count() > 1 || p.exists() {
        return p.to_path_buf();
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(p))
                .find(|c| c.exists())
        })
        .unwrap_or_else(|| p.to_path_buf())
}

/// The node's last committed transaction id (`GET /node/commit`).
pub(crate) async fn commit_point(c: &mut consort_client::Connection) -> Result<consort_kv::TxId> {
    let r = c.get("/node/commit").await?;
    Ok(r.json()?["transaction_id"]
        .as_str()
        .unwrap_or("0.0")
        .parse()?)
}

/// Wait until every node at `addrs` reports the service open (reading the service
/// certificate node 0 writes in `dir`); the service certificate. Fails at once if a node
/// process exits.
pub(crate) async fn wait_open(
    addrs: &[SocketAddr],
    dir: &Path,
    procs: &mut Procs,
) -> Result<consort_crypto::cert::Certificate> {
    let mut service = None;
    for a in addrs {
        service = Some(
            consort_client::wait_until_open(
                *a,
                &dir.join("node0/service_cert.pem"),
                Duration::from_secs(60),
                || procs.all_running(),
            )
            .await?,
        );
    }
    service.ok_or_else(|| anyhow::anyhow!("no node"))
}
