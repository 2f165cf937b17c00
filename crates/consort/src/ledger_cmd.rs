//! `consort ledger …` and `consort receipt …`.

#![allow(clippy::print_stdout)]

use std::{
    io::{BufWriter, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context, Result};
use clap::Subcommand;
use consort_crypto::cert::Certificate;
use consort_kv::{entry, Bytes, MapWrites};
use consort_ledger::{verify, Receipt};
use serde_json::{json, Map, Value};

#[derive(Debug, Subcommand)]
pub(crate) enum LedgerCmd {
    /// Verify a ledger directory: structure, Merkle tree, every signature against the node
    /// certificates recorded in the ledger and the service identity. Exits 1 naming the
    /// first bad seqno.
    Verify {
        /// Ledger directory (holding ledger_* chunk files).
        dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Require the ledger's service identity to be this certificate (PEM file).
        #[arg(long)]
        service_cert: Option<PathBuf>,
        /// The ledger continues from this committed snapshot file (a node that joined from a
        /// snapshot); its evidence receipt and the evidence transaction are checked.
        #[arg(long)]
        snapshot: Option<PathBuf>,
    },
    /// Print the ledger's transactions as JSON lines (public maps; private maps by size).
    Show {
        dir: PathBuf,
        /// Only transactions touching public tables whose name matches this regex, and only
        /// those tables.
        #[arg(long)]
        table: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ReceiptCmd {
    /// Verify a receipt (CCF's JSON shape) against the service identity certificate.
    Verify {
        /// Receipt JSON file ("-" for stdin).
        receipt: PathBuf,
        /// PEM file of the service identity certificate.
        #[arg(long)]
        service_cert: PathBuf,
    },
}

/// Check an Ethereum receipt upgrade's claims: they hash to the leaf's claims digest, the
/// claim is among them, and it is the receipt of the transaction shown.
fn check_claims(
    claims: &str,
    claim: Option<&str>,
    tx: Option<&str>,
    r: &Receipt,
) -> Result<(), String> {
    if consort_crypto::sha256(claims.as_bytes()) != r.leaf_components.claims_digest {
        return Err("the claims do not match the receipt's claims digest".into());
    }
    let Some(tx) = tx else {
        return Ok(());
    };
    let claim = claim.ok_or("an Ethereum receipt upgrade must carry its claim")?;
    let digests: Vec<String> =
        serde_json::from_str(claims).map_err(|_| "claims are not a JSON array of digests")?;
    let digest = consort_crypto::sha256(claim.as_bytes()).to_string();
    if !digests.contains(&digest) {
        return Err("the transaction's claim is not among the receipt's claims".into());
    }
    let shown: serde_json::Value =
        serde_json::from_str(claim).map_err(|_| "the claim is not JSON")?;
    if shown["transaction_hash"].as_str() != Some(tx) {
        return Err(format!("transaction {tx} is not the one the claim proves"));
    }
    Ok(())
}

pub(crate) fn run_ledger(cmd: LedgerCmd) -> Result<ExitCode> {
    match cmd {
        LedgerCmd::Verify {
            dir,
            json,
            service_cert,
            snapshot,
        } => match verify::verify_dir_with(&dir, auditor_for(service_cert, snapshot)?) {
            Ok(r) => {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    let upto = r
                        .verified_up_to
                        .map_or("nothing".to_string(), |t| t.to_string());
                    println!(
                        "OK: {} chunks, {} transactions, {} signatures; verified up to {upto}",
                        r.chunks, r.transactions, r.signatures
                    );
                    if r.unsigned_tail > 0 {
                        println!(
                            "note: the last {} transactions are not yet covered by a signature",
                            r.unsigned_tail
                        );
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("FAILED: {e}");
                if let Some(s) = e.bad_seqno() {
                    eprintln!("first bad seqno: {s}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        LedgerCmd::Show { dir, table } => {
            let filter = table
                .map(|t| regex::Regex::new(&t))
                .transpose()
                .context("invalid --table regex")?;
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let mut auditor = verify::Auditor::new();
            let mut write_err = None;
            let res = verify::for_each_entry(&dir, |seqno, bytes| {
                let a = auditor.add(seqno, bytes)?;
                if let Some(line) = show_line(&a, filter.as_ref()) {
                    if let Err(e) = writeln!(out, "{line}") {
                        write_err = Some(e);
                    }
                }
                Ok(())
            });
            out.flush().ok();
            if let Some(e) = write_err {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
            match res {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("FAILED: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn auditor_for(
    service_cert: Option<PathBuf>,
    snapshot: Option<PathBuf>,
) -> Result<verify::Auditor> {
    let mut a = match snapshot {
        Some(p) => verify::Auditor::from_snapshot(
            &std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => verify::Auditor::new(),
    };
    if let Some(p) = service_cert {
        let pem =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        a = a.with_service_cert(Certificate::from_pem(&pem).context("service certificate")?);
    }
    Ok(a)
}

fn render(b: &Bytes, as_json: bool) -> Value {
    if as_json {
        if let Ok(v) = serde_json::from_slice::<Value>(b) {
            return v;
        }
    }
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n') => Value::String(s.to_string()),
        _ => json!({ "hex": hex::encode(b) }),
    }
}

fn render_map(writes: &MapWrites) -> Value {
    let mut w = Vec::new();
    let mut r = Vec::new();
    for (k, v) in writes {
        match v {
            Some(v) => w.push(json!({ "key": render(k, false), "value": render(v, true) })),
            None => r.push(render(k, false)),
        }
    }
    json!({ "writes": w, "removes": r })
}

fn show_line(a: &verify::AuditedEntry, filter: Option<&regex::Regex>) -> Option<String> {
    let mut tables = Map::new();
    for (name, writes) in &a.public.maps.maps {
        if filter.is_none_or(|f| f.is_match(name)) {
            tables.insert(name.clone(), render_map(writes));
        }
    }
    if filter.is_some() && tables.is_empty() {
        return None;
    }
    let mut line = json!({
        "txid": a.txid.to_string(),
        "view": a.txid.view,
        "seqno": a.txid.seqno,
        "tables": tables,
        "private_bytes": a.private_len,
        "write_set_digest": a.write_set_digest.to_hex(),
    });
    if a.public.entry_type != entry::EntryType::WriteSetWithCommitEvidenceAndClaims {
        line["entry_type"] = json!(a.public.entry_type as u8);
    }
    if a.signature.is_some() {
        line["signature"] = json!(true);
    }
    Some(line.to_string())
}

pub(crate) fn run_receipt(cmd: ReceiptCmd) -> Result<ExitCode> {
    match cmd {
        ReceiptCmd::Verify {
            receipt,
            service_cert,
        } => {
            let text = if receipt.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading receipt from stdin")?
            } else {
                std::fs::read_to_string(&receipt)
                    .with_context(|| format!("reading {}", receipt.display()))?
            };
            let v: serde_json::Value =
                serde_json::from_str(&text).context("receipt is not valid receipt JSON")?;
            // An Ethereum receipt upgrade (`GET /app/eth/receipt`): a receipt, the claims its
            // leaf commits to (the digests of the block's Ethereum receipts) and the claim of
            // this transaction (its receipt, whose digest is among them).
            let wrapper_tx = v["ethereum_receipt"]["transactionHash"]
                .as_str()
                .map(str::to_string);
            let claim = v.get("claim").and_then(|c| c.as_str()).map(str::to_string);
            let (v, claims) = match (v.get("receipt"), v.get("claims")) {
                (Some(r), Some(c)) => (
                    r.clone(),
                    Some(
                        c.as_str()
                            .context("claims must be a string (the exact claimed text)")?
                            .to_string(),
                    ),
                ),
                _ => (v, None),
            };
            let r: Receipt =
                serde_json::from_value(v).context("receipt is not valid receipt JSON")?;
            if let Some(c) = &claims {
                if let Err(why) = check_claims(c, claim.as_deref(), wrapper_tx.as_deref(), &r) {
                    eprintln!("FAILED: {why}");
                    return Ok(ExitCode::FAILURE);
                }
            }
            let pem = std::fs::read_to_string(&service_cert)
                .with_context(|| format!("reading {}", service_cert.display()))?;
            let cert = Certificate::from_pem(&pem).context("service certificate")?;
            match r.verify(&cert) {
                Ok(txid) => {
                    println!(
                        "OK: transaction {txid} is in the ledger, signed by node {} (root {})",
                        r.node_id,
                        r.root()
                    );
                    if let (Some(_), Some(h)) = (&claims, &wrapper_tx) {
                        println!(
                            "OK: its claims (digest {}) prove Ethereum transaction {h} and its receipt",
                            r.leaf_components.claims_digest
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("FAILED: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
