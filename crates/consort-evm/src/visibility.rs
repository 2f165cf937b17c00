//! Who sees what: the caller as a [`Viewer`] (identity, roles), and the rules every read
//! path applies. Each check looks only at the object asked about — its receipt's parties,
//! a few keys of the binding and privacy tables — never at history.
//!
//! - A transaction (and its receipt and logs) is public when its target (`to`, or the
//!   contract it created) and every contract that logged in it are public. Otherwise it
//!   is seen by the owner of its sender, of its `to`, of any address in an indexed topic of
//!   its logs, by the relayer that submitted it, and by auditors.
//! - An account's balance and nonce: public accounts and contracts for everyone, otherwise
//!   its owner and auditors.
//! - A private contract's code: its deployer's owner and auditors; its storage: auditors.
//!
//! Hidden things answer as nonexistent ones do; the callers of these checks see to that.

use alloy_primitives::{Address, B256};
use consort_endpoints::Caller;
use consort_kv::Tx;

use crate::{
    bindings,
    privacy::{self, Privacy, Role},
    receipt::Receipt,
};

/// The caller of a read, with what governance granted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The identity addresses are bound to (none for members and anonymous callers).
    pub identity: Option<String>,
    pub auditor: bool,
    pub relayer: bool,
}

/// Why a private contract's code or storage is not shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} is a private contract: its code is visible to its deployer and auditors only")]
    Code(Address),
    #[error("{0} is a private contract: its storage is visible to auditors only")]
    Storage(Address),
}

/// An indexed topic that holds an address (12 zero bytes, then 20), as Solidity encodes an
/// `address indexed` event parameter.
pub fn topic_address(t: &B256) -> Option<Address> {
    (t[..12].iter().all(|b| *b == 0) && t[12..].iter().any(|b| *b != 0))
        .then(|| Address::from_slice(&t[12..]))
}

impl Viewer {
    /// The viewer for `caller`.
    pub fn of(tx: &mut Tx, caller: &Caller) -> Viewer {
        let identity = bindings::identity(tx, caller);
        Viewer::with_roles(tx, identity)
    }

    /// The party a transaction from `from` runs for (see the guard module): the owner of
    /// `from`, if it is bound.
    pub fn of_sender(tx: &mut Tx, from: &Address) -> Viewer {
        let owner = bindings::owner(tx, from);
        Viewer::with_roles(tx, owner)
    }

    fn with_roles(tx: &mut Tx, identity: Option<String>) -> Viewer {
        let roles = identity
            .as_deref()
            .map(|i| privacy::roles(tx, i))
            .unwrap_or_default();
        Viewer {
            identity,
            auditor: roles.contains(&Role::Auditor),
            relayer: roles.contains(&Role::Relayer),
        }
    }

    /// Is `a` bound to this viewer?
    pub fn owns(&self, tx: &mut Tx, a: &Address) -> bool {
        match &self.identity {
            Some(id) => bindings::owner(tx, a).as_deref() == Some(id.as_str()),
            None => false,
        }
    }

    /// May this viewer read `a`'s balance and nonce?
    pub fn sees_account(&self, tx: &mut Tx, a: &Address) -> bool {
        self.auditor || privacy::privacy_of(tx, a) == Privacy::Public || self.owns(tx, a)
    }

    /// `Ok` if this viewer may read the code at `a`.
    pub fn may_read_code(&self, tx: &mut Tx, a: &Address) -> Result<(), Refused> {
        if self.auditor || privacy::contract_privacy(tx, a) != Some(Privacy::Private) {
            return Ok(());
        }
        match privacy::contract(tx, a) {
            Some(c) if self.owns(tx, &c.deployer) => Ok(()),
            _ => Err(Refused::Code(*a)),
        }
    }

    /// `Ok` if this viewer may read the storage of `a`.
    pub fn may_read_storage(&self, tx: &mut Tx, a: &Address) -> Result<(), Refused> {
        if self.auditor || privacy::contract_privacy(tx, a) != Some(Privacy::Private) {
            return Ok(());
        }
        Err(Refused::Storage(*a))
    }

    /// May this viewer see the transaction with receipt `r` (and its logs)?
    pub fn sees(&self, tx: &mut Tx, r: &Receipt) -> bool {
        if self.auditor || is_public(tx, r) {
            return true;
        }
        let Some(id) = &self.identity else {
            return false;
        };
        let parties = std::iter::once(r.from)
            .chain(r.to)
            .chain(r.logs.iter().flat_map(|l| {
                l.topics
                    .iter()
                    .skip(1)
                    .filter_map(topic_address)
                    .collect::<Vec<_>>()
            }));
        let mut seen = Vec::new();
        for p in parties {
            if seen.contains(&p) {
                continue;
            }
            if self.owns(tx, &p) {
                return true;
            }
            seen.push(p);
        }
        privacy::relayed_by(tx, r.transaction_hash.as_slice()).as_deref() == Some(id.as_str())
    }
}

/// Is the transaction with receipt `r` public: its target and every contract that logged
/// in it public?
pub fn is_public(tx: &mut Tx, r: &Receipt) -> bool {
    let target_public = match r.to.or(r.contract_address) {
        Some(t) => privacy::privacy_of(tx, &t) == Privacy::Public,
        None => privacy::default_privacy(tx) == Privacy::Public,
    };
    target_public
        && r.logs
            .iter()
            .all(|l| privacy::privacy_of(tx, &l.address) == Privacy::Public)
}

#[cfg(test)]
#[path = "visibility_test.rs"]
mod visibility_test;
