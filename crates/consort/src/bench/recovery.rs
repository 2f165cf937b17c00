//! `consort bench --recovery`: how fast a lost service comes back. A ledger of N private
//! 100-byte writes (with two rekeys) is written in-process; then, in the same run, its
//! `ledger verify` (the baseline), the public replay of a recovery start
//! (`Journal::open_for_recovery`: every entry audited, public maps applied) and the private
//! replay once the secrets are unlocked (`Journal::recover_private`) are timed, as
//! transactions per second.

#![allow(clippy::print_stdout)]

use std::{sync::Arc, time::Instant};

use anyhow::{ensure, Context, Result};
use consort_crypto::cert::Sans;
use consort_kv::{LedgerSecret, LedgerSecrets, Store};
use consort_ledger::{
    identity::{NodeIdentity, ServiceIdentity},
    verify::verify_dir,
    Journal, JournalConfig,
};
use serde_json::json;

const MAP: &str = "private:bench.records";

fn identity(service: &ServiceIdentity) -> Result<Arc<NodeIdentity>> {
    let sans = Sans {
        ips: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    };
    Ok(Arc::new(NodeIdentity::generate(service, &sans)?))
}

/// Write `n` private records (rekeys at a third and two thirds); returns every secret.
fn fill(dir: &std::path::Path, n: u64, msg_bytes: usize) -> Result<Vec<(u64, [u8; 32])>> {
    let service = ServiceIdentity::generate()?;
    let node = identity(&service)?;
    let journal = Journal::create(
        JournalConfig::new(dir),
        Arc::new(Store::new()),
        node,
        LedgerSecrets::single(LedgerSecret::generate()?),
    )?;
    journal.bootstrap_service(&service.cert)?;
    journal.open_service()?;
    let msg = vec![b'x'; msg_bytes];
    let started = Instant::now();
    for i in 0..n {
        if i == n / 3 || i == 2 * n / 3 {
            let mut tx = journal.begin();
            journal.rekey(&mut tx)?;
            journal.commit(tx)?;
        }
        let mut tx = journal.begin();
        tx.put(
            MAP,
            (i % (n / 2).max(1)).to_be_bytes().to_vec(),
            msg.clone(),
        );
        journal.commit(tx)?;
        if (i + 1) % (n / 10).max(1) == 0 {
            println!(
                "  filling: {}/{n} transactions ({:.0}/s)",
                i + 1,
                (i + 1) as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    journal.sign()?;
    journal.flush()?;
    Ok(journal.export_secrets())
}

pub(crate) fn run(n: u64, msg_bytes: usize, json_out: Option<&std::path::Path>) -> Result<()> {
    ensure!(n >= 10, "--recovery-txs must be at least 10");
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("ledger");
    println!("recovery benchmark: a ledger of {n} private {msg_bytes}-byte writes, two rekeys");
    let secrets = fill(&dir, n, msg_bytes)?;
    let t = Instant::now();
    let report = verify_dir(&dir).context("ledger verify")?;
    let verify_s = t.elapsed().as_secs_f64();
    let txs = report.transactions;
    println!("  ledger verify:   {txs} transactions in {verify_s:.2}s");
    // Recovery: a new node, no secret.
    let service = ServiceIdentity::generate()?;
    let node = identity(&service)?;
    let t = Instant::now();
    let (journal, open) = Journal::open_for_recovery(
        JournalConfig::new(&dir),
        Arc::new(Store::new()),
        node,
        LedgerSecret::generate()?,
    )?;
    let public_s = t.elapsed().as_secs_f64();
    println!(
        "  public replay:   {} transactions in {public_s:.2}s",
        open.replayed
    );
    let old: Vec<(u64, LedgerSecret)> = secrets
        .into_iter()
        .map(|(v, raw)| Ok((v, LedgerSecret::from_raw(raw)?)))
        .collect::<Result<_>>()?;
    let t = Instant::now();
    let recovered = journal.recover_private(old, &mut |done, total| {
        if done < total {
            println!("  private replay:  {done}/{total}");
        }
    })?;
    let private_s = t.elapsed().as_secs_f64();
    println!("  private replay:  {recovered} transactions in {private_s:.2}s");
    let snap = journal.store().snapshot();
    let v = snap.get(MAP, &0u64.to_be_bytes());
    ensure!(
        v.as_deref() == Some(&vec![b'x'; msg_bytes][..]),
        "a recovered record does not have its value"
    );
    let rate = |s: f64| txs as f64 / s;
    println!(
        "  tx/s: ledger verify {:.0}, public replay {:.0} ({:.2}x verify), private replay {:.0} ({:.2}x verify); recovery in all {:.2}s",
        rate(verify_s),
        rate(public_s),
        verify_s / public_s,
        rate(private_s),
        verify_s / private_s,
        public_s + private_s
    );
    if let Some(p) = json_out {
        std::fs::write(
            p,
            serde_json::to_vec_pretty(&json!({
                "transactions": txs,
                "verify_s": verify_s,
                "public_replay_s": public_s,
                "private_replay_s": private_s,
                "verify_tx_per_s": rate(verify_s),
                "public_replay_tx_per_s": rate(public_s),
                "private_replay_tx_per_s": rate(private_s),
            }))?,
        )?;
    }
    Ok(())
}
