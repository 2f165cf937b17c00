//! What executing an Ethereum transaction produced, as stored and proven: its receipt and
//! logs, the logs bloom, and the block's claims (one digest per receipt).

use alloy_primitives::{Address, Bytes as ABytes, B256};
use serde::{Deserialize, Serialize};

/// A log, as receipts carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: ABytes,
}

/// What executing a transaction produced (the block number — the KV seqno — is added when
/// the receipt is read). A KV transaction (block) may hold several Ethereum transactions
/// (a JSON-RPC batch): `index` is this one's position, `first_log_index` the number of logs
/// before it, `cumulative_gas_used` includes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub transaction_hash: B256,
    pub index: u64,
    pub first_log_index: u64,
    pub cumulative_gas_used: u64,
    /// The block time the EVM saw (`TIMESTAMP`), seconds since the Unix epoch.
    pub timestamp: u64,
    pub from: Address,
    pub to: Option<Address>,
    pub contract_address: Option<Address>,
    pub status: bool,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    pub tx_type: u8,
    pub logs: Vec<LogRecord>,
    /// Return data (or revert data).
    pub output: ABytes,
}

/// The logs bloom of `logs` (receipts, blocks).
pub fn bloom<'a>(logs: impl IntoIterator<Item = &'a LogRecord>) -> alloy_primitives::Bloom {
    let mut b = alloy_primitives::Bloom::ZERO;
    for l in logs {
        b.accrue_raw_log(l.address, &l.topics);
    }
    b
}

/// The claims of a block: the SHA-256 (hex) of each of its receipts' [`claim`], in order,
/// as a JSON array. Its SHA-256 is the block's claims digest, in the transaction's Merkle
/// leaf, so a Consort receipt for the block proves each receipt offline — one receipt at a
/// time, without showing the others (which other parties may not see).
pub fn claims(receipts: &[Receipt]) -> String {
    let digests: Vec<String> = receipts
        .iter()
        .map(|r| consort_crypto::sha256(claim(r).as_bytes()).to_string())
        .collect();
    serde_json::to_string(&digests).expect("json")
}

/// One receipt's claim: its exact JSON text, as stored.
pub fn claim(r: &Receipt) -> String {
    serde_json::to_string(r).expect("json")
}
