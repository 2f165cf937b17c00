//! `consort attest verify`: check attestation evidence offline and print its claims.

use std::{path::PathBuf, process::ExitCode};

use clap::Subcommand;

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
        AttestCmd::Verify { .. } => anyhow::bail!("not built yet"),
    }
}
