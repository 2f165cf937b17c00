//! `consort`: one binary for Consort's tools.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, not glibc's malloc: a primary's request threads each get a glibc arena, and
/// under steady load its RSS grew without end (60 → 354 MB in 11 minutes of `bench --soak`
/// while the backups stayed at 70 MB); see the README's soak figures.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod attest_cmd;
mod bench;
mod gov_cmd;
mod keygen;
mod ledger_cmd;
mod node_cmd;
mod sandbox;
mod signals;
mod token_cmd;

/// Consort: a confidential consortium ledger.
#[derive(Debug, Parser)]
#[command(name = "consort", version, about)]
enum Cli {
    /// Inspect and verify ledger directories.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCmd),
    /// Verify attestation evidence offline (a node's quote, or a raw SEV-SNP report).
    #[command(subcommand)]
    Attest(attest_cmd::AttestCmd),
    /// Verify receipts offline.
    #[command(subcommand)]
    Receipt(ledger_cmd::ReceiptCmd),
    /// Run a node.
    #[command(subcommand)]
    Node(node_cmd::NodeCmd),
    /// Governance as a member: propose, vote, withdraw, activate, inspect.
    Gov(gov_cmd::GovArgs),
    /// Start a local service: keys, a node, an open service; Ctrl-C stops it.
    Sandbox(sandbox::SandboxArgs),
    /// Load-test the logging app over HTTPS on a local node; reports committed writes/s and
    /// p50/p99 commit latency next to an in-process baseline from the same run.
    Bench(bench::BenchArgs),
    /// JWTs for tools that can only send a bearer token: an issuer key and its governance
    /// action, and tokens it signs.
    #[command(subcommand)]
    Token(token_cmd::TokenCmd),
    /// Make an identity (P-384 key and self-signed certificate) for a member or user.
    Keygen {
        /// Name; files are <name>_privk.pem and <name>_cert.pem.
        name: String,
        /// Directory to write into.
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        /// Also make an RSA-2048 recovery encryption key pair (members).
        #[arg(long)]
        encryption_key: bool,
        /// A member identity (with its recovery encryption key pair).
        #[arg(long, conflicts_with = "user")]
        member: bool,
        /// A user identity.
        #[arg(long)]
        user: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONSORT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli {
        Cli::Ledger(cmd) => ledger_cmd::run_ledger(cmd),
        Cli::Receipt(cmd) => ledger_cmd::run_receipt(cmd),
        Cli::Attest(cmd) => attest_cmd::run(cmd),
        Cli::Node(cmd) => node_cmd::run(cmd),
        Cli::Sandbox(args) => sandbox::run(args),
        Cli::Gov(args) => gov_cmd::run(args),
        Cli::Bench(args) => bench::run(args),
        Cli::Token(cmd) => token_cmd::run(cmd),
        Cli::Keygen {
            name,
            dir,
            encryption_key,
            member,
            user: _,
        } => keygen::run(&name, &dir, encryption_key || member),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
