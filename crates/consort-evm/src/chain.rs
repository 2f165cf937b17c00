//! The chain's parameters.

use serde::{Deserialize, Serialize};

/// Chain parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub chain_id: u64,
    /// Gas limit of every (one-transaction) block.
    pub block_gas_limit: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            chain_id: 1337,
            block_gas_limit: 30_000_000,
        }
    }
}

/// The block time of what executes now: seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
