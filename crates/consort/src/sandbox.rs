//! `consort sandbox`: a local service in one command, laid out like CCF's sandbox.

#![allow(clippy::print_stdout)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::keygen::{make_identity, write_file};

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Working directory: keys, certificates, node data and ledgers (CCF's file names).
    #[arg(long, default_value = "workspace/sandbox")]
    dir: PathBuf,
    /// Port of the first node's HTTPS interface.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Number of nodes (1 until replication exists).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Milliseconds between signature transactions (how soon writes become Committed).
    #[arg(long, default_value_t = 1000)]
    signature_ms: u64,
}

fn step(n: usize, total: usize, msg: impl std::fmt::Display) {
    println!("[{n}/{total}] {msg}");
}

fn log_tail(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

pub(crate) fn run(args: SandboxArgs) -> Result<ExitCode> {
    if args.nodes != 1 {
        bail!("--nodes {}: multi-node networks need replication, which is not built yet; use --nodes 1", args.nodes);
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = args.dir.canonicalize()?;
    let total = 4;
    make_identity(&dir, "member0", true)?;
    make_identity(&dir, "user0", false)?;
    step(
        1,
        total,
        format!("member0 and user0 identities in {}", dir.display()),
    );

    let node_dir = dir.join("node0");
    std::fs::create_dir_all(&node_dir)?;
    let addr: SocketAddr = format!("127.0.0.1:{}", args.port).parse()?;
    let config = json!({
        "rpc_address": addr.to_string(),
        "data_dir": ".",
        "ledger_dir": "ledger",
        "signature_ms_interval": args.signature_ms,
        "members": [{"certificate_file": "../member0_cert.pem", "encryption_public_key_file": "../member0_enc_pubk.pem"}],
        "users": [{"certificate_file": "../user0_cert.pem"}],
    });
    let config_path = node_dir.join("config.json");
    write_file(&config_path, &serde_json::to_string_pretty(&config)?, false)?;
    step(
        2,
        total,
        format!("node0 configuration: {}", config_path.display()),
    );

    let log_path = node_dir.join("out.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["node", "start", "--config"])
        .arg(&config_path)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .context("cannot start node0")?;
    step(
        3,
        total,
        format!("node0 starting (log: {})", log_path.display()),
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()?;
    let node_cert = node_dir.join("service_cert.pem");
    let ready = rt.block_on(consort_client::wait_until_open(
        addr,
        &node_cert,
        Duration::from_secs(60),
        || matches!(child.try_wait(), Ok(None)),
    ));
    let pem = match ready {
        Ok(cert) => cert.to_pem(),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "node0 did not open the service: {e}\n{}",
                log_tail(&log_path)
            );
        }
    };
    let service_cert = dir.join("service_cert.pem");
    write_file(&service_cert, &pem, false)?;
    let url = format!("https://{addr}");
    let d = dir.display();
    step(4, total, format!("service open at {url}"));
    println!("  service certificate: {}", service_cert.display());
    println!("  user0:   {d}/user0_cert.pem {d}/user0_privk.pem");
    println!("  member0: {d}/member0_cert.pem {d}/member0_privk.pem (recovery key {d}/member0_enc_pubk.pem)");
    println!("  ledger:  {}", node_dir.join("ledger").display());
    println!(
        "  try:     curl --cacert {d}/service_cert.pem --cert {d}/user0_cert.pem --key {d}/user0_privk.pem \
         {url}/app/log/private -H 'content-type: application/json' -d '{{\"id\": 1, \"msg\": \"hello\"}}'"
    );
    println!("ready");

    let pid = child.id();
    let exited = rt.block_on(async {
        tokio::select! {
            _ = crate::signals::shutdown() => false,
            _ = async {
                loop {
                    if matches!(child.try_wait(), Ok(Some(_))) { break; }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            } => true,
        }
    });
    if exited {
        println!("node0 exited unexpectedly:\n{}", log_tail(&log_path));
        return Ok(ExitCode::FAILURE);
    }
    println!("stopping node0");
    crate::signals::terminate(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}
