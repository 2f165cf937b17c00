//! `consort`: one binary for Consort's tools.

use std::process::ExitCode;

use clap::Parser;

mod ledger_cmd;

/// Consort: a confidential consortium ledger.
#[derive(Debug, Parser)]
#[command(name = "consort", version, about)]
enum Cli {
    /// Inspect and verify ledger directories.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCmd),
    /// Verify receipts offline.
    #[command(subcommand)]
    Receipt(ledger_cmd::ReceiptCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli {
        Cli::Ledger(cmd) => ledger_cmd::run_ledger(cmd),
        Cli::Receipt(cmd) => ledger_cmd::run_receipt(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
