//! `consort bench --soak [MINUTES]`: a long-lived service's memory under steady load. A
//! 3-node network is first driven as fast as it goes for a short while (its throughput),
//! then at half that for MINUTES (default 60) over a fixed key space (`--soak-keys`, the
//! writes overwrite), while each node's resident memory is read from `/proc` at regular
//! intervals (every 5 s at most). A service whose memory is bounded by its state, not its
//! history, stays flat: over the last three quarters of the run the report gives, per node,
//! the spread (max − min, over min) of the RSS medians of consecutive buckets (a minute,
//! or a tenth of the window in a short run), against the 10 % aimed for; the growth from
//! the first bucket's median to the last one's; and the spread of every sample, which
//! includes the moments a snapshot is being serialized (a transient copy of the state).

#![allow(clippy::print_stdout)]

use std::{
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use consort_client::ClientConfig;
use serde_json::{json, Value};

use super::{
    args::BenchArgs,
    net::{log_tails, start_consort_ext, wait_open},
    scale::rss_mb,
};

/// How long a connection may keep failing (the node restarting, say) before the run stops.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// Counters shared by the writers.
#[derive(Default)]
struct Counts {
    done: AtomicU64,
    /// Connection errors (each followed by a reconnect).
    reconnects: AtomicU64,
}

/// Write over `connections` until `stop`, keys cycling through `keys`, each connection at
/// most `per_conn` writes/s (unpaced when `None`). A failed connection is opened again
/// (counted): only one that keeps failing for [`GIVE_UP_AFTER`] stops the run.
async fn drive(
    client: &ClientConfig,
    connections: u64,
    keys: u64,
    per_conn: Option<f64>,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    msg: &str,
) -> Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, next, msg) = (client.clone(), next.clone(), msg.to_string());
        let (stop, counts) = (stop.clone(), counts.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<consort_client::Connection> = None;
            let mut failing_since: Option<Instant> = None;
            let start = Instant::now();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some(rate) = per_conn {
                    let due = Duration::from_secs_f64(sent as f64 / rate);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                let k = next.fetch_add(1, Ordering::Relaxed) % keys;
                let body = json!({"id": k, "msg": msg});
                let r = match conn.as_mut() {
                    Some(c) => c.post_json("/app/log/private", &body).await,
                    None => match client.connect().await {
                        Ok(c) => {
                            conn = Some(c);
                            continue;
                        }
                        Err(e) => Err(e),
                    },
                };
                let r = match r {
                    Ok(r) => {
                        failing_since = None;
                        r
                    }
                    Err(e) => {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > GIVE_UP_AFTER {
                            bail!("write {k}: connection failing for {GIVE_UP_AFTER:?}: {e}");
                        }
                        if conn.take().is_some() {
                            counts.reconnects.fetch_add(1, Ordering::Relaxed);
                            eprintln!("  soak: connection error ({e}); reconnecting");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                match r.status {
                    200 => {
                        counts.done.fetch_add(1, Ordering::Relaxed);
                    }
                    503 => tokio::time::sleep(Duration::from_millis(50)).await,
                    s => bail!("write {k}: HTTP {s}: {}", String::from_utf8_lossy(&r.body)),
                }
                sent += 1;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Each node's spread over `samples` (each a row of per-node MB): (max − min) / min.
fn spreads(samples: &[Vec<f64>]) -> Vec<f64> {
    let nodes = samples.first().map_or(0, Vec::len);
    (0..nodes)
        .map(|i| {
            let col = samples.iter().map(|s| s[i]);
            let (lo, hi) = col.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            (hi - lo) / lo.max(1e-9)
        })
        .collect()
}

/// Per-node medians of `samples` (time, per-node MB) over consecutive buckets of
/// `bucket` seconds: what memory holds, without the moment a snapshot is being
/// serialized (which a single sample may catch).
fn bucket_medians(samples: &[(f64, Vec<f64>)], bucket: f64) -> Vec<Vec<f64>> {
    let Some(t0) = samples.first().map(|(t, _)| *t) else {
        return Vec::new();
    };
    let mut buckets: Vec<Vec<&Vec<f64>>> = Vec::new();
    for (t, r) in samples {
        let b = ((t - t0) / bucket) as usize;
        if buckets.len() <= b {
            buckets.resize_with(b + 1, Vec::new);
        }
        buckets[b].push(r);
    }
    buckets
        .into_iter()
        .filter(|b| !b.is_empty())
        .map(|b| {
            (0..b[0].len())
                .map(|i| {
                    let mut col: Vec<f64> = b.iter().map(|r| r[i]).collect();
                    col.sort_by(f64::total_cmp);
                    col[col.len() / 2]
                })
                .collect()
        })
        .collect()
}

fn percents(v: &[f64]) -> String {
    v.iter()
        .map(|s| format!("{:.1} %", s * 100.0))
        .collect::<Vec<_>>()
        .join(" / ")
}

pub(crate) fn run(args: &BenchArgs, minutes: f64) -> Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let ukey = consort_crypto::keys::SigningKey::generate()?;
    let cert = consort_crypto::cert::self_signed_leaf(&ukey, "bench", 30)?;
    std::fs::write(dir.join("user_cert.pem"), cert.to_pem())?;
    let keys = args.soak_keys.max(1);
    let extra = json!({"snapshot_tx_interval": (keys / 2).clamp(1_000, 100_000)});
    let (mut procs, addrs) = start_consort_ext(3, dir, args.signature_ms, &Value::Null, &extra)?;
    let pids: Vec<u32> = procs.0.iter().map(std::process::Child::id).collect();
    let msg = "x".repeat(args.msg_bytes);
    let total = Duration::from_secs_f64(minutes * 60.0);
    let calibrate = Duration::from_secs_f64((total.as_secs_f64() / 6.0).clamp(2.0, 10.0));
    // Sampled often (a median per bucket needs several), printed about 60 times.
    let every = Duration::from_secs_f64((total.as_secs_f64() / 240.0).clamp(1.0, 5.0));
    let print_every = (total.as_secs_f64() / 60.0).clamp(1.0, 60.0);
    let conns = args.connections as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let service = wait_open(&addrs, dir, &mut procs).await?;
        let c0 = ClientConfig::new(addrs[0], &service, Some((&cert, &ukey)))?;
        // Throughput: as fast as it goes, for a short while.
        let (stop, counts) = (Arc::new(AtomicBool::new(false)), Arc::new(Counts::default()));
        let flat_out = {
            let (c, stop, counts, msg) = (c0.clone(), stop.clone(), counts.clone(), msg.clone());
            tokio::spawn(async move { drive(&c, conns, keys, None, stop, counts, &msg).await })
        };
        tokio::time::sleep(calibrate).await;
        stop.store(true, Ordering::Relaxed);
        flat_out.await??;
        let full = counts.done.load(Ordering::Relaxed) as f64 / calibrate.as_secs_f64();
        let target = full / 2.0;
        println!(
            "soak: {minutes} min at {target:.0} writes/s (half of {full:.0}/s), {keys} keys, 3 nodes; RSS every {every:?}"
        );
        let (stop, counts) = (Arc::new(AtomicBool::new(false)), Arc::new(Counts::default()));
        let done = &counts.done;
        let load = {
            let (c, stop, counts, msg) = (c0.clone(), stop.clone(), counts.clone(), msg.clone());
            let per_conn = target / conns.max(1) as f64;
            tokio::spawn(async move { drive(&c, conns, keys, Some(per_conn), stop, counts, &msg).await })
        };
        let start = Instant::now();
        let mut samples: Vec<(f64, Vec<f64>)> = Vec::new();
        while start.elapsed() < total {
            tokio::time::sleep(every.min(total.saturating_sub(start.elapsed()))).await;
            if load.is_finished() {
                break;
            }
            for (i, p) in procs.0.iter_mut().enumerate() {
                if let Some(status) = p.try_wait()? {
                    bail!(
                        "node {i} exited ({status}) after {:.0} s of the soak\n{}",
                        start.elapsed().as_secs_f64(),
                        log_tails(dir, 3)
                    );
                }
            }
            let t = start.elapsed().as_secs_f64();
            let rss: Vec<f64> = pids.iter().map(|p| rss_mb(*p)).collect::<Result<_>>()?;
            let rate = done.load(Ordering::Relaxed) as f64 / t;
            if samples.last().is_none_or(|(p, _)| (p / print_every) as u64 != (t / print_every) as u64) {
                println!(
                    "  {:>5.0} s: RSS {} MB; {rate:.0} writes/s",
                    t,
                    rss.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(" / ")
                );
            }
            samples.push((t, rss));
        }
        stop.store(true, Ordering::Relaxed);
        load.await??;
        let elapsed = start.elapsed().as_secs_f64();
        let late: Vec<(f64, Vec<f64>)> = samples
            .iter()
            .filter(|(t, _)| *t >= elapsed / 4.0)
            .cloned()
            .collect();
        let bucket = (elapsed * 0.75 / 10.0).min(60.0);
        let medians = bucket_medians(&late, bucket);
        let raw: Vec<Vec<f64>> = late.iter().map(|(_, r)| r.clone()).collect();
        let growth: Vec<f64> = match (medians.first(), medians.last()) {
            (Some(a), Some(b)) => a.iter().zip(b).map(|(a, b)| (b - a) / a).collect(),
            _ => Vec::new(),
        };
        anyhow::Ok(json!({
            "minutes": minutes, "keys": keys, "full_per_s": full, "target_per_s": target,
            "writes": done.load(Ordering::Relaxed),
            "reconnects": counts.reconnects.load(Ordering::Relaxed),
            "achieved_per_s": done.load(Ordering::Relaxed) as f64 / elapsed,
            "samples": samples.iter().map(|(t, r)| json!({"t_s": t, "rss_mb": r})).collect::<Vec<_>>(),
            "bucket_s": bucket,
            "late_spread": spreads(&medians),
            "late_raw_spread": spreads(&raw),
            "late_growth": growth,
        }))
    });
    drop(procs);
    let out = out?;
    let get = |k: &str| -> Vec<f64> {
        out[k]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let spread = get("late_spread");
    let flat = !spread.is_empty() && spread.iter().all(|s| *s <= 0.10);
    println!(
        "results: {} writes at {:.0}/s ({} reconnects); over the last three quarters, RSS per node: spread of the {:.0}-s medians {} (goal ≤ 10 %: {}), growth first → last median {}, spread of every sample {}",
        out["writes"],
        out["achieved_per_s"].as_f64().unwrap_or(0.0),
        out["reconnects"],
        out["bucket_s"].as_f64().unwrap_or(0.0),
        percents(&spread),
        if flat { "met" } else { "not met" },
        percents(&get("late_growth")),
        percents(&get("late_raw_spread")),
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
