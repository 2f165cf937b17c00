//! Privacy settings: each contract's mode (`public` or `private`), the service default that
//! new contracts (and plain accounts) get, and the governance roles (`auditor`, `relayer`).
//!
//! - The default is in [`crate::settings::ETH_CONFIG`] (`privacy_default`), set at service
//!   creation (`apps.ethereum.privacy_default`) and by `set_eth_privacy_default`.
//! - A contract's mode is recorded, with its deployer, in the private [`CONTRACTS`] when it
//!   is created: the deployer's choice (the `x-consort-eth-privacy` header of the request
//!   that carried the transaction) or else the default. Governance overrides it with
//!   `set_eth_contract_privacy`, in the public [`GOV_CONTRACT_PRIVACY`].
//! - Roles are granted by `set_eth_role` / `remove_eth_role`, in the public [`ROLES`].

use alloy_primitives::Address;
use consort_kv::{Bytes, Tx};
use serde::{Deserialize, Serialize};

use crate::{db::KvDb, settings::ETH_CONFIG};

/// Contracts: address (20 bytes) → [`Contract`] (JSON; private).
pub const CONTRACTS: &str = "eth.contracts";
/// Governance's per-contract modes: lowercase `0x…` address → `public` | `private`.
pub const GOV_CONTRACT_PRIVACY: &str = "public:ccf.gov.eth.contract_privacy";
/// Roles: identity → JSON list of role names.
pub const ROLES: &str = "public:ccf.gov.eth.roles";
/// Transactions submitted by a relayer for a sender not bound to it: hash → the relayer's
/// identity (private), so the relayer may follow what it submitted.
pub const RELAYED: &str = "eth.relayed_by";

const DEFAULT_KEY: &[u8] = b"privacy_default";

/// A contract's (or the service default's) privacy mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Everyone who may use the service sees its state and transactions.
    #[default]
    Public,
    /// State reachable only through its own functions; transactions seen by their parties.
    Private,
}

impl Privacy {
    pub fn as_str(self) -> &'static str {
        match self {
            Privacy::Public => "public",
            Privacy::Private => "private",
        }
    }
}

impl std::str::FromStr for Privacy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(Privacy::Public),
            "private" => Ok(Privacy::Private),
            other => Err(format!(
                "privacy must be \"public\" or \"private\", not {other:?}"
            )),
        }
    }
}

/// A contract's record: its mode when created, and the account that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    pub privacy: Privacy,
    pub deployer: Address,
}

/// A governance role in the Ethereum application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees every transaction, account and contract's state.
    Auditor,
    /// May submit transactions from addresses not bound to it.
    Relayer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Relayer => "relayer",
        }
    }
}

/// The service default (a service created before privacy modes existed: `public`).
pub fn default_privacy(tx: &mut Tx) -> Privacy {
    tx.get(ETH_CONFIG, DEFAULT_KEY)
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
        .unwrap_or_default()
}

/// Record the default of a new service (its genesis transaction).
pub fn init_default(tx: &mut Tx, p: Privacy) {
    tx.put(
        ETH_CONFIG,
        Bytes::from_static(DEFAULT_KEY),
        p.as_str().as_bytes().to_vec(),
    );
}

/// The record of the contract at `a`, if it was created with one.
pub fn contract(tx: &mut Tx, a: &Address) -> Option<Contract> {
    tx.get(CONTRACTS, a.as_slice())
        .and_then(|v| serde_json::from_slice(&v).ok())
}

/// Record a contract created at `a`.
pub fn record_contract(tx: &mut Tx, a: &Address, c: Contract) {
    tx.put(
        CONTRACTS,
        Bytes::copy_from_slice(a.as_slice()),
        serde_json::to_vec(&c).expect("json"),
    );
}

/// The mode of the contract at `a`: governance's override, else its record, else public
/// for code deployed before modes existed; `None` for an address without code or record
/// (a plain account, or none at all).
pub fn contract_privacy(tx: &mut Tx, a: &Address) -> Option<Privacy> {
    let key = format!("{a:#x}");
    if let Some(p) = tx
        .get(GOV_CONTRACT_PRIVACY, key.as_bytes())
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
    {
        return Some(p);
    }
    if let Some(c) = contract(tx, a) {
        return Some(c.privacy);
    }
    let code_hash = KvDb { tx }.account(a).code_hash;
    let has_code =
        code_hash != revm::primitives::KECCAK_EMPTY && code_hash != alloy_primitives::B256::ZERO;
    has_code.then_some(Privacy::Public)
}

/// The mode of `a`: a contract's own, or for a plain account the service default.
pub fn privacy_of(tx: &mut Tx, a: &Address) -> Privacy {
    contract_privacy(tx, a).unwrap_or_else(|| default_privacy(tx))
}

/// The roles `identity` holds.
pub fn roles(tx: &mut Tx, identity: &str) -> Vec<Role> {
    let names: Vec<String> = tx
        .get(ROLES, identity.as_bytes())
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default();
    [Role::Auditor, Role::Relayer]
        .into_iter()
        .filter(|r| names.iter().any(|n| n == r.name()))
        .collect()
}

/// The relayer that submitted the transaction `hash`, if one did.
pub fn relayed_by(tx: &mut Tx, hash: &[u8]) -> Option<String> {
    tx.get(RELAYED, hash)
        .and_then(|v| String::from_utf8(v.to_vec()).ok())
}

/// Note that `identity` relayed the transaction `hash`.
pub fn record_relayed(tx: &mut Tx, hash: &[u8], identity: &str) {
    tx.put(
        RELAYED,
        Bytes::copy_from_slice(hash),
        identity.as_bytes().to_vec(),
    );
}
