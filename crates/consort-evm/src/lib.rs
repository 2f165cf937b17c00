//! Ethereum on Consort: an EVM (revm, pinned, behind this façade) whose state lives in
//! private KV maps, so contract state and calldata are encrypted in the ledger. Each
//! Ethereum transaction runs inside one KV transaction together with its receipt.
//!
//! - [`db`]: accounts, code and storage over a KV transaction (revm's `Database`).
//! - [`exec`]: decode, recover the sender, check, execute, record (`send_raw`), and
//!   read-only calls (`call`).
//!
//! Blocks: one block per committed transaction; block number = the KV seqno.

pub mod db;
pub mod exec;
pub mod rpc;

use alloy_primitives::{keccak256, Address, B256, U256};
use consort_kv::Tx;
use thiserror::Error;

pub use exec::{call, send_raw, CallRequest, CallResult, Chain, LogRecord, Receipt};

/// Why a transaction was not executed (nothing was written).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EvmError {
    #[error("{0}")]
    Decode(String),
    #[error("invalid signature: {0}")]
    Signature(String),
    #[error("invalid chain id {got} (this chain is {expected})")]
    ChainId { expected: u64, got: u64 },
    #[error("nonce {got} is not the next one ({expected})")]
    Nonce { expected: u64, got: u64 },
    #[error("{0}")]
    Invalid(String),
}

/// The hash of block `number` (one transaction per block): a fixed tag and the number, so
/// every node computes the same and a hash gives its number back (`block_number_of`).
pub fn block_hash(number: u64) -> B256 {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&keccak256(b"consort block")[..8]);
    b[24..].copy_from_slice(&number.to_be_bytes());
    B256::from(b)
}

/// The number of the block with hash `h`, if it is one of ours.
pub fn block_number_of(h: &B256) -> Option<u64> {
    (h[..8] == keccak256(b"consort block")[..8] && h[8..24].iter().all(|b| *b == 0))
        .then(|| u64::from_be_bytes(h[24..].try_into().expect("8 bytes")))
}

/// The `ethereum` application settings in a node configuration.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthConfig {
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// Initial balances (wei) of a new service.
    #[serde(default)]
    pub genesis: std::collections::BTreeMap<Address, U256>,
}

/// Add the Ethereum application (`POST /app/eth`) and its genesis balances.
pub fn register(r: &mut consort_node::framework::Registry, cfg: &EthConfig) {
    let mut chain = Chain::default();
    if let Some(id) = cfg.chain_id {
        chain.chain_id = id;
    }
    rpc::register(r, chain);
    let allocs: Vec<(Address, U256)> = cfg.genesis.iter().map(|(a, v)| (*a, *v)).collect();
    r.on_genesis(move |tx| genesis(tx, &allocs));
}

/// Fund `allocs` (genesis).
pub fn genesis(tx: &mut Tx, allocs: &[(Address, U256)]) {
    let mut db = db::KvDb { tx };
    for (a, v) in allocs {
        db.set_balance(a, *v);
    }
}

#[cfg(test)]
mod exec_test;
