//! `consort bench --eth` end to end on a small workload, as a user runs it from the
//! repository root: the Uniswap V2 swaps (`--swaps`, Uniswap's npm builds read from
//! `node_modules`) on a Consort node and on anvil in the same run, every swap accounted for.

use serde_json::Value;

use crate::common::{consort, eth::anvil_bin, text, workspace};

#[test]
fn bench_eth_swaps_runs_uniswap_on_consort_and_on_anvil() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = consort()
        .current_dir(workspace())
        .args([
            "bench",
            "--eth",
            "--swaps",
            "--nodes",
            "1",
            "--senders",
            "6",
        ])
        .args([
            "--txs-per-sender",
            "4",
            "--connections",
            "3",
            "--eth-privacy",
            "public",
        ])
        .arg("--anvil")
        .arg(anvil_bin())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "bench failed:\n{o}\n{e}");
    assert!(o.contains("Uniswap V2 swaps on one pair"), "{o}");
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["workload"], "swaps", "{v}");
    // Every swap committed on Consort (the bench also checked each receipt and that the
    // pair's reserves grew by the fees), none refused.
    assert_eq!(v["consort_public"]["transfers"], 24, "{v}");
    assert_eq!(v["consort_public"]["errors"], 0, "{v}");
    assert_eq!(v["consort_public"]["not_included"], 0, "{v}");
    // anvil ran the same signed swaps.
    assert_eq!(v["anvil"]["errors"], 0, "{v}");
    let anvil =
        v["anvil"]["transfers"].as_u64().unwrap() + v["anvil"]["not_included"].as_u64().unwrap();
    assert_eq!(anvil, 24, "{v}");
    assert!(v["in_process_per_s"].as_f64().unwrap() > 0.0, "{v}");
}

/// `consort bench --scale N` at a small N: every figure it reports is measured (memory
/// from `/proc`, files on disk, a real join, restart and `ledger verify`).
#[test]
fn bench_soak_samples_memory_under_steady_load() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("soak.json");
    let out = consort()
        .args([
            "bench",
            "--soak",
            "0.25",
            "--soak-keys",
            "500",
            "--connections",
            "4",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "bench failed:\n{o}\n{e}");
    assert!(
        o.contains("spread of the") && o.contains("growth first"),
        "{o}"
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let samples = v["samples"].as_array().unwrap();
    assert!(samples.len() >= 5, "RSS sampled throughout: {v}");
    assert!(samples
        .iter()
        .all(|s| s["rss_mb"].as_array().unwrap().len() == 3));
    // Half the measured throughput, and it was held (within a generous margin: 2 cores).
    let (full, achieved) = (
        v["full_per_s"].as_f64().unwrap(),
        v["achieved_per_s"].as_f64().unwrap(),
    );
    assert!(
        full > 0.0 && achieved > 0.2 * full && achieved < 0.8 * full,
        "{v}"
    );
    for k in ["late_spread", "late_raw_spread", "late_growth"] {
        assert_eq!(v[k].as_array().unwrap().len(), 3, "{k}: {v}");
    }
    // The medians' spread cannot exceed that of every sample.
    for (m, r) in v["late_spread"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v["late_raw_spread"].as_array().unwrap())
    {
        assert!(m.as_f64().unwrap() <= r.as_f64().unwrap() + 1e-9, "{v}");
    }
}

#[test]
fn bench_scale_measures_a_filled_network() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("scale.json");
    let out = consort()
        .args(["bench", "--scale", "3000", "--connections", "8", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "bench failed:\n{o}\n{e}");
    assert!(o.contains("30% (900 writes"), "progress is printed:\n{o}");
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["n"], 3000);
    assert_eq!(v["present"], 3000, "every write is held: {v}");
    assert!(v["last_seqno"].as_u64().unwrap() >= 3000, "{v}");
    let rss = v["rss_mb"].as_array().unwrap();
    assert_eq!(rss.len(), 3);
    assert!(rss.iter().all(|r| r.as_f64().unwrap() > 1.0), "{v}");
    assert!(
        v["rss_mb_node1_after_restart"].as_f64().unwrap() > 1.0,
        "{v}"
    );
    // The ledger holds at least the raw data (3,000 × 108 bytes), encrypted and framed.
    assert!(
        v["ledger_bytes"].as_u64().unwrap() > v["raw_bytes"].as_u64().unwrap(),
        "{v}"
    );
    assert!(v["snapshot_bytes"].as_u64().unwrap() > 300_000, "{v}");
    assert!(
        v["restart_replayed"].as_f64().unwrap() >= 3000.0,
        "the restart replayed the ledger: {v}"
    );
    for k in [
        "join_s",
        "restart_replay_per_s",
        "verify_per_s",
        "range_1000_p50_ms",
    ] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
}
