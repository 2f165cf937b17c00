//! Settings governance controls: the application's own governance tables, which its
//! actions in the constitution (`gov_actions.js`) write — the chain id, the sender
//! allow-list, balances set by proposal, address bindings, privacy modes and roles.

use alloy_primitives::{Address, U256};
use consort_kv::{Bytes, Tx};

use crate::{chain::Chain, db::KvDb};

/// Ethereum application settings written by governance: `chain_id` → decimal.
pub const ETH_CONFIG: &str = "public:ccf.gov.eth.config";
/// Ethereum senders allowed to transact (lowercase `0x…` address → `{}`); empty: anyone.
pub const ETH_SENDERS: &str = "public:ccf.gov.eth.senders";
/// Balances set by governance (address → wei), moved into the application's private state
/// in the transaction that applies the proposal.
pub const ETH_BALANCE_UPDATES: &str = "public:ccf.gov.eth.balance_updates";
/// The application's governance actions, appended to the default constitution.
pub const GOV_ACTIONS_JS: &str = include_str!("gov_actions.js");

/// A governance setting that cannot be applied.
#[derive(Debug, thiserror::Error)]
#[error("{table}: {message}")]
pub struct SettingError {
    pub table: &'static str,
    pub message: String,
}

const CHAIN_ID: &[u8] = b"chain_id";

/// The chain as governance last set it (`set_eth_chain_id`), else `base`.
pub fn chain(tx: &mut Tx, base: Chain) -> Chain {
    let mut c = base;
    if let Some(id) = tx
        .get(ETH_CONFIG, CHAIN_ID)
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u64>().ok())
    {
        c.chain_id = id;
    }
    c
}

/// Record the chain id of a new service (its genesis transaction).
pub fn init_chain(tx: &mut Tx, chain_id: u64) {
    tx.put(
        ETH_CONFIG,
        Bytes::from_static(CHAIN_ID),
        chain_id.to_string().into_bytes(),
    );
}

fn address_key(a: &Address) -> Vec<u8> {
    format!("{a:#x}").into_bytes()
}

/// May `sender` transact? Anyone while the allow-list is empty; else only those listed.
pub fn sender_allowed(tx: &mut Tx, sender: &Address) -> bool {
    tx.contains(ETH_SENDERS, &address_key(sender)) || tx.page(ETH_SENDERS, None, 1).0.is_empty()
}

/// Move balances set by an applied proposal (`set_eth_balance`) into the private state.
pub fn apply_balance_updates(tx: &mut Tx) -> Result<(), SettingError> {
    let bad = |message: String| SettingError {
        table: ETH_BALANCE_UPDATES,
        message,
    };
    for (k, v) in tx.range(ETH_BALANCE_UPDATES, &..) {
        let key = String::from_utf8_lossy(&k).into_owned();
        let address: Address = key
            .parse()
            .map_err(|e| bad(format!("bad address {key}: {e}")))?;
        let text = String::from_utf8_lossy(&v).into_owned();
        let balance = match text.strip_prefix("0x") {
            Some(h) => U256::from_str_radix(h, 16),
            None => U256::from_str_radix(&text, 10),
        }
        .map_err(|e| bad(format!("bad balance {text}: {e}")))?;
        KvDb { tx }.set_balance(&address, balance);
        tx.remove(ETH_BALANCE_UPDATES, k);
    }
    Ok(())
}
