//! The command line of `consort bench`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Concurrent HTTPS connections.
    #[arg(long, default_value_t = 32)]
    pub(crate) connections: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub(crate) duration: u64,
    /// Bytes per message.
    #[arg(long, default_value_t = 100)]
    pub(crate) msg_bytes: usize,
    /// Milliseconds between signatures on the node started for the run.
    #[arg(long, default_value_t = 20)]
    pub(crate) signature_ms: u64,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Nodes in the network started for the run (they join the first; connections are
    /// spread over all of them, backups forward writes to the primary).
    #[arg(long, default_value_t = 1)]
    pub(crate) nodes: usize,
    /// Also run a 3-member etcd cluster (this `etcd` binary, e.g. from Debian's
    /// etcd-server) under the same client load in the same run, and report the ratio.
    #[arg(long)]
    pub(crate) etcd: Option<PathBuf>,
    /// Benchmark the Ethereum application instead: ERC-20 transfers through
    /// eth_sendRawTransaction (see --senders, --txs-per-sender, --anvil).
    #[arg(long)]
    pub(crate) eth: bool,
    /// With --eth: accounts sending transfers.
    #[arg(long, default_value_t = 2000)]
    pub(crate) senders: usize,
    /// With --eth: transfers per sender.
    #[arg(long, default_value_t = 15)]
    pub(crate) txs_per_sender: usize,
    /// With --eth: spread the connections over all nodes (backups forward to the primary);
    /// by default they all go to the primary, as CCF advises clients that write.
    #[arg(long)]
    pub(crate) spread: bool,
    /// With --eth: every transfer to one recipient (a hot balance slot every transfer writes).
    #[arg(long)]
    pub(crate) hot_recipient: bool,
    /// With --eth: swaps on one Uniswap V2 pair through Router02 instead of transfers (the
    /// pair's reserves are written by every swap), from Uniswap's npm builds (see --uniswap).
    #[arg(long, conflicts_with = "hot_recipient")]
    pub(crate) swaps: bool,
    /// With --swaps: the directory holding npm's `v2-core` and `v2-periphery` packages
    /// [default: crates/consort/tests/js/node_modules/@uniswap, installed by scripts/test.sh].
    #[arg(long)]
    pub(crate) uniswap: Option<PathBuf>,
    /// With --eth: the privacy default of the network (`public`, `private`), or `both`:
    /// one network each, in the same run, with their ratio.
    #[arg(long, default_value = "both", value_parser = ["both", "public", "private"])]
    pub(crate) eth_privacy: String,
    /// With --eth: also drive this anvil binary (e.g. from npm's
    /// @foundry-rs/anvil-linux-amd64) with the same transactions, and report the ratio.
    #[arg(long)]
    pub(crate) anvil: Option<PathBuf>,
    /// Benchmark disaster recovery instead: write a ledger of --recovery-txs private
    /// writes, then time `ledger verify` of it, the public replay of a recovery start and
    /// the private replay once shares unlock the secrets.
    #[arg(long)]
    pub(crate) recovery: bool,
    /// Benchmark a long-lived service instead: fill a 3-node network with N private
    /// logging writes through the API (default 1,000,000), then report each node's RSS,
    /// the ledger and snapshot sizes, a fresh node's join time, a restart's replay rate,
    /// `ledger verify`'s rate and a 1,000-key range query's latency.
    #[arg(long, num_args = 0..=1, default_missing_value = "1000000", value_name = "N")]
    pub(crate) scale: Option<u64>,
    /// Benchmark memory under steady load instead: a 3-node network at half its
    /// throughput for MINUTES (default 60) over a fixed key space, each node's RSS sampled
    /// throughout; reports its spread over the last three quarters (goal ≤ 10 %).
    #[arg(long, num_args = 0..=1, default_missing_value = "60", value_name = "MINUTES")]
    pub(crate) soak: Option<f64>,
    /// With --soak: the keys written (over and over).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) soak_keys: u64,
    /// With --recovery: transactions in the ledger.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) recovery_txs: u64,
}
