//! Ethereum on Consort: an EVM (revm, pinned, behind this façade) whose state lives in
//! private KV maps, so contract state and calldata are encrypted in the ledger. Each
//! Ethereum transaction runs inside one KV transaction together with its receipt.
//!
//! - [`db`]: accounts, code and storage over a KV transaction (revm's `Database`).
//! - [`exec`]: decode, recover the sender, check, execute, record (`send_raw`), and
//!   read-only calls (`call`).
//!
//! Blocks: one block per committed transaction; block number = the KV seqno.

pub mod bind_api;
pub mod bindings;
pub mod chain;
pub mod code_cache;
pub mod db;
pub mod exec;
mod frames;
pub mod guard;
pub mod lane;
pub mod privacy;
pub mod receipt;
pub mod rpc;
pub mod settings;
pub mod trace;
pub mod visibility;

use alloy_primitives::{Address, B256, U256};
use consort_kv::Tx;
use thiserror::Error;

pub use exec::{call, send_raw, BlockCtx, CallRequest, CallResult, Chain, LogRecord, Receipt};

/// Why a transaction was not executed (nothing was written).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EvmError {
    #[error("{0}")]
    Decode(String),
    #[error("invalid signature: {0}")]
    Signature(String),
    #[error("invalid chain id {got} (this chain is {expected})")]
    ChainId { expected: u64, got: u64 },
    /// The messages start as geth's ("nonce too low", "nonce too high"), which clients
    /// such as ethers recognise.
    #[error("nonce too {}: next nonce {expected}, tx nonce {got}", if got < expected { "low" } else { "high" })]
    Nonce { expected: u64, got: u64 },
    #[error("insufficient funds for gas * price + value: {0}")]
    InsufficientFunds(String),
    #[error("sender {0} is not allowed to transact (governance: set_eth_sender)")]
    SenderNotAllowed(Address),
    #[error("{0}")]
    Invalid(String),
}

/// The governance tables of the application (the constitution's `apply` may write them).
pub const GOV_TABLES: &[&str] = &[
    settings::ETH_CONFIG,
    settings::ETH_SENDERS,
    settings::ETH_BALANCE_UPDATES,
    bindings::GOV_BINDINGS,
    bindings::GOV_JWT_USERS,
    privacy::GOV_CONTRACT_PRIVACY,
    privacy::ROLES,
];

/// The `ethereum` application settings in a node configuration.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthConfig {
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// Initial balances (wei) of a new service.
    #[serde(default)]
    pub genesis: std::collections::BTreeMap<Address, U256>,
    /// The privacy mode of new contracts and of plain accounts in a new service (governance
    /// changes it later with `set_eth_privacy_default`). Default: `private`.
    #[serde(default = "private")]
    pub privacy_default: privacy::Privacy,
}

fn private() -> privacy::Privacy {
    privacy::Privacy::Private
}

/// Add the Ethereum application (`POST /app/eth`) and its genesis balances.
pub fn register(r: &mut consort_endpoints::Registry, cfg: &EthConfig) {
    let mut chain = Chain::default();
    if let Some(id) = cfg.chain_id {
        chain.chain_id = id;
    }
    rpc::register(r, chain);
    bind_api::register(r);
    let allocs: Vec<(Address, U256)> = cfg.genesis.iter().map(|(a, v)| (*a, *v)).collect();
    let chain_id = chain.chain_id;
    let privacy_default = cfg.privacy_default;
    r.on_genesis(move |tx| {
        settings::init_chain(tx, chain_id);
        privacy::init_default(tx, privacy_default);
        genesis(tx, &allocs);
    });
    r.on_proposal_applied(|tx| Ok(settings::apply_balance_updates(tx)?));
    r.add_governance(GOV_TABLES, settings::GOV_ACTIONS_JS);
}

/// Development accounts for local networks (the sandbox's `--eth`): `n` secp256k1 keys
/// derived from a public label — anyone can spend from them; never fund them on a
/// network that matters.
pub fn dev_accounts(n: usize) -> Vec<(B256, Address)> {
    (0..n)
        .map(|i| {
            let mut seed = alloy_primitives::keccak256(format!("consort dev account {i}"));
            loop {
                if let Ok(sk) = secp256k1::SecretKey::from_slice(seed.as_slice()) {
                    let pk = sk.public_key(secp256k1::SECP256K1).serialize_uncompressed();
                    let a = Address::from_slice(&alloy_primitives::keccak256(&pk[1..])[12..]);
                    return (seed, a);
                }
                seed = alloy_primitives::keccak256(seed);
            }
        })
        .collect()
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
