//! `consort attest verify`: check attestation evidence offline and print its claims.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Subcommand;
use consort_attestation::{snp, Claims, Evidence, Format, ReportData};

#[derive(Debug, Subcommand)]
pub(crate) enum AttestCmd {
    /// Verify evidence (CCF's QuoteInfo or Quote JSON, as `/node/quotes` serves it), or a
    /// raw SEV-SNP report with its VCEK and ASK/ARK chain; print the measurement and every
    /// claim. Exits 1 naming the first failed check.
    Verify {
        /// evidence.json, or report.bin with --vcek and --chain.
        file: PathBuf,
        /// The VCEK certificate (DER or PEM) of a raw report.
        #[arg(long, requires = "chain")]
        vcek: Option<PathBuf>,
        /// The ASK then ARK certificates (PEM) of a raw report.
        #[arg(long, requires = "vcek")]
        chain: Option<PathBuf>,
        /// Also require the report data to be this (hex, up to 64 bytes, zero-padded).
        #[arg(long)]
        report_data: Option<String>,
    },
}

pub(crate) fn run(cmd: AttestCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AttestCmd::Verify {
            file,
            vcek,
            chain,
            report_data,
        } => {
            let outcome = load(&file, vcek.as_deref(), chain.as_deref()).and_then(|evidence| {
                let expected = report_data.as_deref().map(parse_report_data).transpose()?;
                check(&evidence, expected.as_ref())
            });
            match outcome {
                Ok(claims) => {
                    print_claims(&claims, report_data.is_some())?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    eprintln!("{why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// Read a file, or say which one could not be read.
fn read(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

/// The evidence in `file`: JSON, or a raw SEV-SNP report with `vcek` and `chain`.
fn load(file: &Path, vcek: Option<&Path>, chain: Option<&Path>) -> Result<Evidence, String> {
    let bytes = read("evidence", file)?;
    if let (Some(vcek), Some(chain)) = (vcek, chain) {
        let endorsements = snp::endorsements_from(&read("VCEK", vcek)?, &read("chain", chain)?);
        return Ok(Evidence {
            format: Format::AmdSevSnpV1,
            quote: bytes,
            endorsements,
        });
    }
    evidence_from_json(&bytes).map_err(|e| format!("{}: {e}", file.display()))
}

/// CCF's `QuoteInfo` (`format`, `quote`, `endorsements`) or `Quote` as `/node/quotes`
/// serves it (`node_id`, `raw`, `endorsements`, `format`, `measurement`), base64.
fn evidence_from_json(bytes: &[u8]) -> Result<Evidence, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        format!("not JSON evidence ({e}); for a raw SEV-SNP report give --vcek and --chain")
    })?;
    let field = |name: &str| v.get(name).and_then(serde_json::Value::as_str);
    let format = field("format").ok_or("the evidence has no \"format\"")?;
    let Some(quote) = field("quote").or_else(|| field("raw")) else {
        return Err("the evidence has neither \"quote\" (QuoteInfo) nor \"raw\" (Quote)".into());
    };
    Evidence::from_parts(format, quote, field("endorsements").unwrap_or_default())
        .map_err(|e| e.to_string())
}

/// `--report-data`: hex, up to 64 bytes, zero-padded.
fn parse_report_data(hex_data: &str) -> Result<ReportData, String> {
    let bytes = hex::decode(hex_data).map_err(|e| format!("--report-data is not hex: {e}"))?;
    if bytes.len() > 64 {
        return Err(format!(
            "--report-data is {} bytes, at most 64",
            bytes.len()
        ));
    }
    let mut out = [0u8; 64];
    out[..bytes.len()].copy_from_slice(&bytes);
    Ok(out)
}

/// Verify, binding the report data when given.
fn check(evidence: &Evidence, expected: Option<&ReportData>) -> Result<Claims, String> {
    let verified = match expected {
        Some(rd) => consort_attestation::verify(evidence, rd),
        None => consort_attestation::verify_unbound(evidence),
    };
    verified.map_err(|e| format!("attestation check failed: {e}"))
}

/// Every claim, `name: value`, then the verdict.
fn print_claims(c: &Claims, bound: bool) -> std::io::Result<()> {
    let none = || "none".to_string();
    let policy = c.policy.map_or_else(none, |p| {
        format!(
            "0x{:x} (abi {}.{}, smt_allowed={}, migrate_ma_allowed={}, debug_allowed={}, single_socket={})",
            p.raw, p.abi_major, p.abi_minor, p.smt_allowed, p.migrate_ma_allowed, p.debug_allowed, p.single_socket
        )
    });
    let tcb = c.reported_tcb.as_ref().map_or_else(none, |t| {
        format!("{} ({})", t.hexstring.as_deref().unwrap_or(""), t.summary())
    });
    let chip_id = match (&c.chip_id, c.format) {
        (Some(id), _) => id.clone(),
        (None, Format::AmdSevSnpV1) => "masked by the guest".into(),
        (None, _) => none(),
    };
    let lines = [
        ("format", c.format.to_string()),
        ("product", c.product.map_or_else(none, |p| p.to_string())),
        (
            "report_version",
            c.report_version.map_or_else(none, |v| v.to_string()),
        ),
        ("measurement", c.measurement.clone()),
        ("host_data", c.host_data.clone()),
        ("report_data", c.report_data.clone()),
        ("policy", policy),
        ("reported_tcb", tcb),
        ("cpuid", c.cpuid.clone().unwrap_or_else(none)),
        ("chip_id", chip_id),
    ];
    let mut out = std::io::stdout().lock();
    for (name, value) in lines {
        writeln!(out, "{name}: {value}")?;
    }
    if c.insecure {
        writeln!(
            out,
            "warning: {} evidence proves nothing",
            c.format.as_str()
        )?;
    }
    if bound {
        writeln!(out, "verified: every check passed")
    } else {
        writeln!(
            out,
            "verified: every check passed (the key binding was not checked: give --report-data, e.g. the node id, to check it)"
        )
    }
}
