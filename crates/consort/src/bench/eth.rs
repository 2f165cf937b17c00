//! `consort bench --eth`: committed ERC-20 transfers per second through
//! `eth_sendRawTransaction` on a local Consort network, next to (same run, same machine,
//! same pre-signed transactions) the in-process revm rate — the ceiling — and, with
//! `--anvil PATH`, anvil driven by the same workload.
//!
//! The workloads (`eth_work`) are signed before the clock starts. A transaction counts
//! on Consort when seen Committed, on anvil (automine) when its receipt exists.
//! (automine) when its receipt exists.

#![allow(clippy::print_stdout)]

use std::{
    net::SocketAddr,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, U256};
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use consort_client::ClientConfig;
use consort_kv::TxId;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use super::{
    args::BenchArgs,
    eth_work::{address, workload, Check, Kind, Workload, CHAIN, UNISWAP_DEFAULT},
    net::{http_conn, log_tails, resolve_bin, start_consort_with, wait_open, Sender},
    stats::{ms, percentile},
};
use crate::sandbox::free_port;

fn raw_hex(raw: &[u8]) -> String {
    format!("0x{}", hex::encode(raw))
}

/// In-process ceiling: the same setup and transfers through `consort_evm::send_raw` on an
/// in-memory store, one KV transaction each, one thread (sender recovery included).
fn ceiling(w: &Workload) -> Result<f64> {
    let store = consort_kv::Store::new();
    let chain = consort_evm::Chain {
        chain_id: CHAIN,
        ..Default::default()
    };
    let no_hashes = |_: u64| None;
    let run = |raw: &[u8]| -> Result<()> {
        let mut tx = store.begin();
        let b = consort_evm::BlockCtx {
            chain: &chain,
            number: store.version() + 1,
            timestamp: 0,
            hashes: &no_hashes,
            earlier: None,
        };
        let r = consort_evm::send_raw(&mut tx, &b, raw)?;
        if !r.status {
            bail!("transaction {} failed in-process", r.transaction_hash);
        }
        store
            .commit(tx, |_| Ok::<_, String>(()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    };
    for raw in &w.setup {
        run(raw)?;
    }
    let start = Instant::now();
    let mut n = 0u64;
    let per = w.transfers.first().map_or(0, Vec::len);
    for j in 0..per {
        for s in &w.transfers {
            run(&s[j])?;
            n += 1;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// A JSON-RPC endpoint: Consort over HTTPS (client certificate) or anvil over HTTP.
#[derive(Clone)]
enum Endpoint {
    Consort(ClientConfig),
    Plain(SocketAddr),
}

enum Conn {
    Consort(consort_client::Connection),
    Plain(Sender),
}

impl Endpoint {
    async fn connect(&self) -> Result<Conn> {
        Ok(match self {
            Endpoint::Consort(c) => Conn::Consort(c.connect().await?),
            Endpoint::Plain(a) => Conn::Plain(http_conn(*a).await?),
        })
    }
}

impl Conn {
    /// Post a JSON-RPC body: the response and, on Consort, the transaction id.
    async fn rpc(&mut self, body: &Value) -> Result<(Value, Option<TxId>)> {
        match self {
            Conn::Consort(c) => {
                let r = c.post_json("/app/eth", body).await?;
                if r.status != 200 {
                    bail!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body));
                }
                Ok((r.json()?, r.txid.and_then(|t| t.parse().ok())))
            }
            Conn::Plain(s) => {
                let req = http::Request::post("/")
                    .header(http::header::HOST, "anvil")
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?;
                s.ready().await?;
                let r = s.send_request(req).await?;
                let b = r.into_body().collect().await?.to_bytes();
                Ok((serde_json::from_slice(&b)?, None))
            }
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let (r, _) = self
            .rpc(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .await?;
        if let Some(e) = r.get("error") {
            bail!("{method}: {e}");
        }
        Ok(r["result"].clone())
    }
}

/// Bind every address of the workload to the bench user (`identity`), as wallets do
/// (`POST /app/eth/bind`), over `connections` connections (not timed).
async fn bind_all(
    ep: &ClientConfig,
    w: &Workload,
    identity: &str,
    connections: usize,
) -> Result<()> {
    let per = w.keys.len().div_ceil(connections.max(1));
    let mut tasks = Vec::new();
    for chunk in w.keys.chunks(per.max(1)) {
        let (ep, chunk, identity) = (ep.clone(), chunk.to_vec(), identity.to_string());
        tasks.push(tokio::spawn(async move {
            let mut c = ep.connect().await?;
            for k in &chunk {
                let a = address(k);
                let m = consort_evm::bindings::bind_message(&a, &identity, 1);
                let body = json!({"address": format!("{a:#x}"), "nonce": 1, "signature": raw_hex(&consort_evm::bindings::personal_sign(k, &m))});
                let r = c.post_json("/app/eth/bind", &body).await?;
                if r.status != 200 {
                    bail!("bind {a:#x}: HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body));
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Send the setup (in JSON-RPC batches) and wait until its last transaction has a receipt.
async fn setup(ep: &Endpoint, w: &Workload) -> Result<()> {
    let mut c = ep.connect().await?;
    for chunk in w.setup.chunks(200) {
        let batch: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, raw)| json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw_hex(raw)]}))
            .collect();
        let (r, _) = c.rpc(&Value::Array(batch)).await?;
        for x in r.as_array().context("batch reply")? {
            if let Some(e) = x.get("error") {
                bail!("setup transaction refused: {e}");
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let hashes = w.setup_hashes();
    while !all_succeeded(&mut c, &hashes).await? {
        if Instant::now() > deadline {
            bail!("setup not committed in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

struct Outcome {
    /// Transfers accepted (answered with a hash).
    sent: u64,
    done: u64,
    secs: f64,
    lat: Vec<Duration>,
    errors: u64,
}

/// Drive the transfers from `connections` connections over `eps`; each sender's
/// transactions go through one connection, in nonce order. `watch`: Consort's commit point
/// (a transfer counts once committed); otherwise (anvil) the run ends when every transfer
/// is mined, and latency is until the answer.
async fn drive(
    eps: &[Endpoint],
    w: &Workload,
    connections: usize,
    consort: bool,
) -> Result<Outcome> {
    let transfers = Arc::new(w.transfers.clone());
    let sent: Arc<Mutex<Vec<(Instant, TxId)>>> = Arc::default();
    let answered: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let ep = eps[c % eps.len()].clone();
        let (transfers, sent, answered, errors) = (
            transfers.clone(),
            sent.clone(),
            answered.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = ep.connect().await?;
            let mine: Vec<usize> = (c..transfers.len()).step_by(connections).collect();
            let per = transfers.first().map_or(0, Vec::len);
            for j in 0..per {
                for &s in &mine {
                    let t = Instant::now();
                    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw_hex(&transfers[s][j])]});
                    match conn.rpc(&body).await {
                        Ok((r, txid)) if r.get("result").is_some() => match txid {
                            Some(txid) => sent.lock().expect("lock").push((t, txid)),
                            None => answered.lock().expect("lock").push(t.elapsed()),
                        },
                        other => {
                            if errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                                eprintln!("first refused transfer: {:?}", other.map(|(r, _)| r));
                            }
                        }
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    // Consort: watched while the senders run. anvil: drained once they are done.
    let watched = if consort {
        Some(watch_commits(&eps[0], start, &tasks, &sent).await?)
    } else {
        None
    };
    for t in tasks {
        t.await??;
    }
    let (mut lat, done, finished_at) = match watched {
        Some(measured) => measured,
        None => drain_anvil(&eps[0], w, &answered).await?,
    };
    lat.sort();
    let errors = errors.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Outcome {
        sent: (w.transfers.iter().map(Vec::len).sum::<usize>() as u64).saturating_sub(errors),
        done,
        secs: (finished_at - start).as_secs_f64().max(1e-9),
        lat,
        errors,
    })
}

/// Latency and count of Consort transfers: each ends when `/node/commit` on the first
/// endpoint passes its transaction id. Returns once every sender is done and everything
/// sent committed.
async fn watch_commits(
    ep: &Endpoint,
    start: Instant,
    tasks: &[tokio::task::JoinHandle<Result<()>>],
    sent: &Mutex<Vec<(Instant, TxId)>>,
) -> Result<(Vec<Duration>, u64, Instant)> {
    let (mut lat, mut done, mut finished_at) = (Vec::new(), 0u64, start);
    // A transfer's latency ends when it is first seen committed (watched on node 0).
    let Endpoint::Consort(cfg) = ep else {
        bail!("consort endpoint expected")
    };
    let mut watcher = cfg.connect().await?;
    loop {
        let now = Instant::now();
        let c = super::net::commit_point(&mut watcher).await?;
        let all_sent = tasks.iter().all(|t| t.is_finished());
        let left = {
            let mut s = sent.lock().expect("lock");
            s.retain(|(t, txid)| {
                if txid.seqno <= c.seqno {
                    lat.push(now - *t);
                    done += 1;
                    finished_at = now;
                    false
                } else {
                    true
                }
            });
            s.len()
        };
        if all_sent && left == 0 {
            break;
        }
        if now > start + Duration::from_secs(600) {
            bail!("transfers not committed in 600 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((lat, done, finished_at))
}

/// Latency and count of anvil transfers: mine until its pool is empty, then count the
/// successful receipts.
async fn drain_anvil(
    ep: &Endpoint,
    w: &Workload,
    answered: &Mutex<Vec<Duration>>,
) -> Result<(Vec<Duration>, u64, Instant)> {
    // Automine mines when a transaction arrives; what a full block left pending waits
    // for the next arrival, so ask for blocks until the pool is empty.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut c = ep.connect().await?;
    loop {
        let pool = c.call("txpool_status", json!([])).await?;
        if pool["pending"] == "0x0" && pool["queued"] == "0x0" {
            break;
        }
        if Instant::now() > deadline {
            bail!("anvil: transfers not mined in 60 s (pool {pool})");
        }
        c.call("evm_mine", json!([])).await?;
    }
    let finished_at = Instant::now();
    let lat = std::mem::take(&mut *answered.lock().expect("lock"));
    // Only what was mined counts (anvil has been seen to drop an accepted transaction).
    let done = receipts(&mut c, &w.hashes())
        .await?
        .iter()
        .filter(|x| x["result"]["status"] == "0x1")
        .count() as u64;
    Ok((lat, done, finished_at))
}

/// The `eth_getTransactionReceipt` replies for `hashes` (batches of 200), in order.
async fn receipts(c: &mut Conn, hashes: &[B256]) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(hashes.len());
    for chunk in hashes.chunks(200) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|h| json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt", "params": [h]}))
            .collect();
        let (r, _) = c.rpc(&Value::Array(batch)).await?;
        match r {
            Value::Array(a) => out.extend(a),
            _ => bail!("batch reply expected, got {r}"),
        }
    }
    Ok(out)
}

/// Do all of `hashes` have receipts with status 1? (Errors on a failed one.)
async fn all_succeeded(c: &mut Conn, hashes: &[B256]) -> Result<bool> {
    for x in receipts(c, hashes).await? {
        if let Some(e) = x.get("error") {
            bail!("eth_getTransactionReceipt: {e}");
        }
        match &x["result"] {
            Value::Null => return Ok(false),
            r if r["status"] == "0x1" => {}
            r => bail!("transfer failed: {r}"),
        }
    }
    Ok(true)
}

/// Every timed transaction has a receipt with status 1 (if `all`), and the workload's own
/// check holds (not timed).
async fn check(ep: &Endpoint, w: &Workload, all: bool) -> Result<()> {
    let mut c = ep.connect().await?;
    if all && !all_succeeded(&mut c, &w.hashes()).await? {
        bail!("a timed transaction has no receipt");
    }
    let word = |r: &Value, i: usize| -> Result<U256> {
        let h = r.as_str().unwrap_or("0x").trim_start_matches("0x");
        let w = h
            .get(i * 64..(i + 1) * 64)
            .context("short eth_call result")?;
        Ok(U256::from_str_radix(w, 16)?)
    };
    match &w.check {
        Check::Balance {
            token,
            holder,
            expected,
        } => {
            let data = format!("0x70a08231{:0>64}", hex::encode(holder));
            let r = c
                .call("eth_call", json!([{"to": token, "data": data}, "latest"]))
                .await?;
            let left = word(&r, 0)?;
            if left != *expected {
                bail!("deployer's token balance {left}, expected {expected}");
            }
        }
        Check::KGrows { pair, k } => {
            let r = c
                .call(
                    "eth_call",
                    json!([{"to": pair, "data": "0x0902f1ac"}, "latest"]),
                )
                .await?;
            let (r0, r1) = (word(&r, 0)?, word(&r, 1)?);
            if r0 * r1 <= *k {
                bail!("the pair's reserves {r0} x {r1} did not grow past {k}");
            }
        }
    }
    Ok(())
}

fn report(name: &str, what: &str, o: &Outcome) -> Value {
    let tput = o.done as f64 / o.secs;
    let (p50, p99) = (percentile(&o.lat, 0.5), percentile(&o.lat, 0.99));
    println!("{name}");
    println!(
        "  {what}: {} ({tput:.0}/s), refused: {}, accepted but never included: {}; latency p50 {:.1} ms, p99 {:.1} ms",
        o.done,
        o.errors,
        o.sent - o.done,
        ms(p50),
        ms(p99)
    );
    json!({"transfers": o.done, "per_s": tput, "errors": o.errors, "not_included": o.sent - o.done,
           "p50_ms": ms(p50), "p99_ms": ms(p99)})
}

/// The same transfers on anvil (`bin`), automining, over plain HTTP.
fn run_anvil(
    bin: &std::path::Path,
    w: &Workload,
    connections: usize,
    rt: &tokio::runtime::Runtime,
) -> Result<Outcome> {
    let port = free_port()?;
    let mut child = std::process::Command::new(bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--chain-id",
            &CHAIN.to_string(),
            "--base-fee",
            "0",
            "--gas-price",
            "0",
            "--accounts",
            "0",
            "--silent",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let anvil = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if Instant::now() > deadline {
                bail!("anvil did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ep = Endpoint::Plain(addr);
        println!("  anvil setup: {} transactions …", w.setup.len());
        setup(&ep, w).await?;
        println!("  driving {} {} …", w.hashes().len(), w.what);
        let o = drive(std::slice::from_ref(&ep), w, connections, false).await?;
        check(&ep, w, false).await?;
        anyhow::Ok(o)
    });
    let _ = child.kill();
    let _ = child.wait();
    anvil
}

/// One Consort network with the privacy default `mode`: bind the workload's addresses to
/// the bench user, fund the senders, drive the transfers, check them.
fn run_consort(
    args: &BenchArgs,
    w: &Workload,
    mode: &str,
    rt: &tokio::runtime::Runtime,
) -> Result<Outcome> {
    let nodes = args.nodes.max(1);
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let ukey = consort_crypto::keys::SigningKey::generate()?;
    let cert = consort_crypto::cert::self_signed_leaf(&ukey, "bench", 30)?;
    std::fs::write(dir.join("user_cert.pem"), cert.to_pem())?;
    let apps = json!({"ethereum": {"chain_id": CHAIN, "genesis": {}, "privacy_default": mode}});
    let (mut procs, addrs) = start_consort_with(nodes, dir, args.signature_ms, &apps)?;
    let consort = rt.block_on(async {
        let service = wait_open(&addrs, dir, &mut procs).await?;
        let eps: Vec<Endpoint> = addrs
            .iter()
            .map(|a| ClientConfig::new(*a, &service, Some((&cert, &ukey))).map(Endpoint::Consort))
            .collect::<Result<_, _>>()?;
        if let Endpoint::Consort(c) = &eps[0] {
            println!("  binding {} addresses to the bench user …", w.keys.len());
            bind_all(c, w, &cert.fingerprint().to_hex(), args.connections).await?;
        }
        println!("  setup: {} transactions …", w.setup.len());
        setup(&eps[0], w).await?;
        println!("  driving {} {} …", w.hashes().len(), w.what);
        let to = if args.spread { &eps[..] } else { &eps[..1] };
        let o = drive(to, w, args.connections, true).await?;
        check(&eps[0], w, true).await?;
        anyhow::Ok(o)
    });
    drop(procs);
    consort.map_err(|e| anyhow::anyhow!("{e:#}\n{}", log_tails(dir, nodes)))
}

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    let nodes = args.nodes.max(1);
    let kind = if args.swaps {
        let dir = args
            .uniswap
            .clone()
            .unwrap_or_else(|| UNISWAP_DEFAULT.into());
        Kind::Swaps { uniswap: dir }
    } else {
        Kind::Transfers {
            hot: args.hot_recipient,
        }
    };
    let w = workload(args.senders, args.txs_per_sender, &kind)?;
    let total = args.senders * args.txs_per_sender;
    let what = w.what;
    println!(
        "{}: {} senders x {} = {total} pre-signed transactions ({} of setup), {} connections",
        match kind {
            Kind::Swaps { .. } => "Uniswap V2 swaps on one pair (Router02)",
            Kind::Transfers { hot: true } => "ERC-20 transfers to one recipient",
            Kind::Transfers { hot: false } => "ERC-20 transfers",
        },
        args.senders,
        args.txs_per_sender,
        w.setup.len(),
        args.connections
    );
    let base = ceiling(&w)?;
    println!("in-process revm (consort-evm over the KV store, 1 thread): {base:.0} {what}/s");
    let mut out = json!({"workload": what, "hot_recipient": args.hot_recipient, "senders": args.senders, "txs_per_sender": args.txs_per_sender, "spread": args.spread,
        "connections": args.connections, "nodes": nodes, "in_process_per_s": base});

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let modes: &[&str] = match args.eth_privacy.as_str() {
        "both" => &["public", "private"],
        "public" => &["public"],
        _ => &["private"],
    };
    let mut rates = Vec::new();
    for mode in modes {
        let consort = run_consort(&args, &w, mode, &rt)?;
        out[format!("consort_{mode}")] = report(
            &format!(
                "Consort, {nodes} node(s), privacy default {mode}, HTTPS to {}, signature every {} ms, a transaction counts when Committed",
                if args.spread { "every node" } else { "the primary" },
                args.signature_ms
            ),
            what,
            &consort,
        );
        let ctput = consort.done as f64 / consort.secs;
        println!("  ratio to in-process: {:.2}", ctput / base);
        rates.push(ctput);
    }
    if let [public, private] = rates[..] {
        println!("ratio private/public: throughput {:.2}", private / public);
        out["ratio_private_public"] = json!(private / public);
    }
    let ctput = rates.last().copied().unwrap_or(0.0);
    if let Some(bin) = &args.anvil {
        let bin = resolve_bin(bin);
        let anvil = run_anvil(&bin, &w, args.connections, &rt)?;
        out["anvil"] = report(
            &format!(
                "anvil ({}), automine, HTTP, a transaction counts when mined",
                bin.display()
            ),
            what,
            &anvil,
        );
        let atput = anvil.done as f64 / anvil.secs;
        println!("ratio Consort/anvil: throughput {:.2}x", ctput / atput);
        out["ratio_consort_anvil"] = json!(ctput / atput);
    }
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_vec_pretty(&out)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
