//! `consort bench`: load on a local Consort service, next to a baseline measured in the same
//! run. The command line (`args`) picks one of:
//! - `logging`: one node, the logging app over HTTPS, against the in-process journal;
//! - `multi` (`--nodes N`, `--etcd PATH`): the logging app on an N-node network, and an etcd
//!   cluster under the same load;
//! - `eth` (`--eth`): ERC-20 transfers (or, `--swaps`, Uniswap V2 swaps; `eth_work` signs
//!   them) through `eth_sendRawTransaction`, against in-process revm and, with
//!   `--anvil PATH`, anvil;
//! - `recovery` (`--recovery`): recovering a ledger of N transactions (public and private
//!   replay), against `ledger verify` of the same ledger;
//! - `scale` (`--scale N`): a 3-node network filled with N writes, measured as a
//!   long-lived service (memory, disk, snapshot, join, restart, verify, range query);
//! - `soak` (`--soak [MINUTES]`): memory under steady load at half the throughput.
//!
//! `stats` and `net` are what they share: latency figures, and the processes and connections.

use std::process::ExitCode;

use anyhow::Result;

mod args;
mod eth;
mod eth_work;
mod logging;
mod multi;
mod net;
mod recovery;
mod scale;
mod soak;
mod stats;

pub(crate) use args::BenchArgs;

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.recovery {
        recovery::run(args.recovery_txs, args.msg_bytes, args.json.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(n) = args.scale {
        return scale::run(&args, n);
    }
    if let Some(m) = args.soak {
        return soak::run(&args, m);
    }
    if args.eth {
        return eth::run(args);
    }
    if args.nodes > 1 || args.etcd.is_some() {
        return multi::run(args);
    }
    logging::run(args)
}
