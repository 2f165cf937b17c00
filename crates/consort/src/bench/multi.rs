//! `consort bench --nodes N [--etcd PATH]`: the logging app on a local N-node network, and
//! optionally a 3-member etcd cluster driven by the same client load (same connection
//! count, message size and duration) in the same run, one after the other.
//!
//! Consort: `POST /app/log/private` over HTTPS; a write counts when it is seen Committed
//! (the commit point is watched on node 0). etcd: `PUT` through its JSON gateway
//! (`POST /v3/kv/put`, plain HTTP as etcd runs by default), which answers once the write
//! is committed by a majority; a write counts when answered.

#![allow(clippy::print_stdout)]

use std::{
    net::SocketAddr,
    path::Path,
    process::{ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use base64::Engine;
use bytes::Bytes;
use consort_crypto::keys::SigningKey;
use http_body_util::{BodyExt, Full};
use serde_json::json;

use super::{
    args::BenchArgs,
    logging::load,
    net::{http_conn, log_tails, resolve_bin, start_consort, Procs, Sender},
    stats::{ms, percentile, LoadResult},
};
use crate::sandbox::free_port;

/// Start a 3-member etcd cluster; returns the processes and client addresses.
fn start_etcd(bin: &Path, dir: &Path) -> Result<(Procs, Vec<SocketAddr>)> {
    let mut procs = Procs(Vec::new());
    let peers: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_>>()?;
    let clients: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_>>()?;
    let cluster = (0..3)
        .map(|i| format!("e{i}=http://127.0.0.1:{}", peers[i]))
        .collect::<Vec<_>>()
        .join(",");
    for i in 0..3 {
        let log = std::fs::File::create(dir.join(format!("etcd{i}.log")))?;
        let child = std::process::Command::new(bin)
            .arg(format!("--name=e{i}"))
            .arg(format!(
                "--data-dir={}",
                dir.join(format!("etcd{i}")).display()
            ))
            .arg(format!(
                "--listen-client-urls=http://127.0.0.1:{}",
                clients[i]
            ))
            .arg(format!(
                "--advertise-client-urls=http://127.0.0.1:{}",
                clients[i]
            ))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{}", peers[i]))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{}",
                peers[i]
            ))
            .arg(format!("--initial-cluster={cluster}"))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=consort-bench")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        procs.0.push(child);
    }
    let addrs = clients
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    Ok((procs, addrs))
}

async fn etcd_post(s: &mut Sender, path: &str, body: &serde_json::Value) -> Result<u16> {
    let req = http::Request::post(path)
        .header(http::header::HOST, "etcd")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?;
    s.ready().await?;
    let r = s.send_request(req).await?;
    let status = r.status().as_u16();
    r.into_body().collect().await?;
    Ok(status)
}

/// Same load against etcd: (answered writes, seconds, latencies, errors).
fn load_etcd(args: &BenchArgs, addrs: &[SocketAddr]) -> Result<LoadResult> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Healthy: a write goes through.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = async {
                let mut s = http_conn(addrs[0]).await?;
                let b64 = base64::engine::general_purpose::STANDARD;
                etcd_post(
                    &mut s,
                    "/v3/kv/put",
                    &json!({"key": b64.encode("probe"), "value": b64.encode("1")}),
                )
                .await
            }
            .await;
            if matches!(ok, Ok(200)) {
                break;
            }
            if Instant::now() > deadline {
                bail!("etcd did not become healthy: {ok:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let start = Instant::now();
        let end = start + Duration::from_secs(args.duration);
        let msg = "x".repeat(args.msg_bytes);
        let mut tasks = Vec::new();
        for w in 0..args.connections as u64 {
            let addr = addrs[w as usize % addrs.len()];
            let msg = msg.clone();
            tasks.push(tokio::spawn(async move {
                let b64 = base64::engine::general_purpose::STANDARD;
                let mut s = http_conn(addr).await?;
                let (mut lat, mut errors, mut last) = (Vec::new(), 0u64, start);
                let mut i = 0u64;
                while Instant::now() < end {
                    let t = Instant::now();
                    let body = json!({
                        "key": b64.encode(format!("{}", w << 32 | i)),
                        "value": b64.encode(&msg),
                    });
                    match etcd_post(&mut s, "/v3/kv/put", &body).await {
                        Ok(200) => {
                            last = Instant::now();
                            lat.push(last - t);
                        }
                        _ => errors += 1,
                    }
                    i += 1;
                }
                anyhow::Ok((lat, errors, last))
            }));
        }
        let (mut lat, mut errors, mut last) = (Vec::new(), 0, start);
        for t in tasks {
            let (l, e, at) = t.await??;
            lat.extend(l);
            errors += e;
            last = last.max(at);
        }
        lat.sort();
        Ok((
            lat.len() as u64,
            (last - start).as_secs_f64().max(1e-9),
            lat,
            errors,
        ))
    })
}

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let key = SigningKey::generate()?;
    let cert = consort_crypto::cert::self_signed_leaf(&key, "bench", 30)?;
    std::fs::write(dir.join("user_cert.pem"), cert.to_pem())?;
    let nodes = args.nodes.max(1);
    let (consort, consort_addrs) = start_consort(nodes, dir, args.signature_ms)?;
    let r = load(
        &args,
        &consort_addrs,
        &dir.join("node0/service_cert.pem"),
        &cert,
        &key,
    );
    drop(consort);
    let (committed, elapsed, lat, errors) =
        r.map_err(|e| anyhow::anyhow!("{e:#}\n{}", log_tails(dir, nodes)))?;
    let tput = committed as f64 / elapsed;
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "Consort logging app, {nodes} node(s), HTTPS: {} connections, {} s, {}-byte messages, signature every {} ms",
        args.connections, args.duration, args.msg_bytes, args.signature_ms
    );
    println!("  committed writes:  {committed} ({tput:.0}/s), errors: {errors}");
    println!(
        "  commit latency:    p50 {:.2} ms, p99 {:.2} ms (send -> Committed)",
        ms(p50),
        ms(p99)
    );
    let mut report = json!({
        "nodes": nodes, "connections": args.connections, "duration_s": args.duration,
        "msg_bytes": args.msg_bytes, "signature_ms": args.signature_ms,
        "consort": {"committed_writes": committed, "writes_per_s": tput, "errors": errors,
                    "p50_ms": ms(p50), "p99_ms": ms(p99)},
    });
    if let Some(bin) = &args.etcd {
        let bin = resolve_bin(bin);
        let (etcd, etcd_addrs) = start_etcd(&bin, dir)?;
        let r = load_etcd(&args, &etcd_addrs);
        drop(etcd);
        let (n, secs, elat, eerr) = r?;
        let etput = n as f64 / secs;
        let (e50, e99) = (percentile(&elat, 0.5), percentile(&elat, 0.99));
        println!(
            "etcd ({}), 3 members, HTTP JSON gateway: same load",
            bin.display()
        );
        println!("  committed writes:  {n} ({etput:.0}/s), errors: {eerr}");
        println!(
            "  commit latency:    p50 {:.2} ms, p99 {:.2} ms (send -> answered)",
            ms(e50),
            ms(e99)
        );
        println!(
            "  ratio Consort/etcd: throughput {:.2}x, p99 latency {:.2}x",
            tput / etput,
            ms(p99) / ms(e99).max(1e-9)
        );
        report["etcd"] = json!({"committed_writes": n, "writes_per_s": etput, "errors": eerr,
                                "p50_ms": ms(e50), "p99_ms": ms(e99)});
        report["ratio_throughput"] = json!(tput / etput);
        report["ratio_p99"] = json!(ms(p99) / ms(e99).max(1e-9));
    }
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
