//! Ethereum state in the KV store: accounts, code and storage in private maps (encrypted in
//! the ledger), read and written through one KV transaction, so an Ethereum transaction
//! commits or conflicts like any other.

use std::convert::Infallible;

use alloy_primitives::{Address, B256, U256};
use consort_kv::{Bytes, Tx};
use revm::{
    bytecode::Bytecode,
    database_interface::{Database, DatabaseCommit},
    primitives::{AddressMap, KECCAK_EMPTY},
    state::{Account, AccountInfo},
};

/// Accounts: address (20 bytes) → balance (32, BE) ‖ nonce (8, BE) ‖ code hash (32).
pub const ACCOUNTS: &str = "eth.accounts";
/// Code: code hash (32) → bytecode.
pub const CODE: &str = "eth.code";
/// Storage: address (20) ‖ slot (32, BE) → value (32, BE).
pub const STORAGE: &str = "eth.storage";

fn encode_account(info: &AccountInfo) -> Vec<u8> {
    let mut v = Vec::with_capacity(72);
    v.extend_from_slice(&info.balance.to_be_bytes::<32>());
    v.extend_from_slice(&info.nonce.to_be_bytes());
    v.extend_from_slice(info.code_hash.as_slice());
    v
}

fn decode_account(b: &[u8]) -> Option<AccountInfo> {
    if b.len() != 72 {
        return None;
    }
    let code_hash = B256::from_slice(&b[40..72]);
    let mut info = AccountInfo {
        balance: U256::from_be_slice(&b[..32]),
        nonce: u64::from_be_bytes(b[32..40].try_into().ok()?),
        code_hash,
        ..Default::default()
    };
    if code_hash != KECCAK_EMPTY {
        // Loaded by hash (`code_by_hash`) when the EVM needs it.
        info.code = None;
    }
    Some(info)
}

fn storage_key(address: &Address, slot: &U256) -> Vec<u8> {
    let mut k = Vec::with_capacity(52);
    k.extend_from_slice(address.as_slice());
    k.extend_from_slice(&slot.to_be_bytes::<32>());
    k
}

/// The EVM's view of the state, inside one KV transaction.
pub struct KvDb<'a> {
    pub tx: &'a mut Tx,
}

impl std::fmt::Debug for KvDb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvDb")
    }
}

impl KvDb<'_> {
    /// An account's balance, nonce and code hash (a missing account is empty).
    pub fn account(&mut self, address: &Address) -> AccountInfo {
        self.tx
            .get(ACCOUNTS, address.as_slice())
            .and_then(|b| decode_account(&b))
            .unwrap_or_default()
    }

    /// Set an account's balance and nonce (genesis), keeping its code.
    pub fn set_balance(&mut self, address: &Address, balance: U256) {
        let mut info = self.account(address);
        info.balance = balance;
        if info.code_hash == B256::ZERO {
            info.code_hash = KECCAK_EMPTY;
        }
        self.tx.put(
            ACCOUNTS,
            Bytes::copy_from_slice(address.as_slice()),
            encode_account(&info),
        );
    }

    /// The code at `address` (empty for accounts without code).
    pub fn code_at(&mut self, address: &Address) -> Vec<u8> {
        let info = self.account(address);
        if info.code_hash == KECCAK_EMPTY || info.code_hash == B256::ZERO {
            return Vec::new();
        }
        self.tx
            .get(CODE, info.code_hash.as_slice())
            .map(|b| b.to_vec())
            .unwrap_or_default()
    }

    /// A storage slot.
    pub fn slot(&mut self, address: &Address, slot: &U256) -> U256 {
        self.tx
            .get(STORAGE, &storage_key(address, slot))
            .map(|b| U256::from_be_slice(&b))
            .unwrap_or_default()
    }
}

/// What the EVM runs over: the state in a KV transaction and earlier blocks' hashes.
pub struct EvmDb<'a> {
    pub kv: KvDb<'a>,
    pub hashes: &'a (dyn Fn(u64) -> Option<B256> + Sync),
}

impl std::fmt::Debug for EvmDb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EvmDb")
    }
}

impl Database for EvmDb<'_> {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self
            .kv
            .tx
            .get(ACCOUNTS, address.as_slice())
            .and_then(|b| decode_account(&b)))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        let tx = &mut *self.kv.tx;
        Ok(crate::code_cache::get_or_load(code_hash, || {
            tx.get(CODE, code_hash.as_slice()).map(|b| b.to_vec())
        })
        .unwrap_or_default())
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(self.kv.slot(&address, &index))
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        // Block n is transaction n: its hash is its Merkle leaf (zero if unknown here).
        Ok((self.hashes)(number).unwrap_or_default())
    }
}

impl DatabaseCommit for EvmDb<'_> {
    fn commit(&mut self, changes: AddressMap<Account>) {
        self.kv.commit(changes);
    }
}

impl KvDb<'_> {
    /// Write the state changes of an executed transaction.
    pub(crate) fn commit(&mut self, changes: AddressMap<Account>) {
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            if account.is_selfdestructed() {
                self.tx
                    .remove(ACCOUNTS, Bytes::copy_from_slice(address.as_slice()));
                let lo = storage_key(&address, &U256::ZERO);
                let hi = storage_key(&address, &U256::MAX);
                let slots: Vec<Bytes> = self
                    .tx
                    .range(
                        STORAGE,
                        &(
                            std::ops::Bound::Included(lo.as_slice()),
                            std::ops::Bound::Included(hi.as_slice()),
                        ),
                    )
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                for k in slots {
                    self.tx.remove(STORAGE, k);
                }
                continue;
            }
            // Write only what changed: an unchanged account or code written again would
            // make every transaction touching a contract conflict with every other one.
            if let Some(code) = &account.info.code {
                if account.info.code_hash != KECCAK_EMPTY
                    && !code.is_empty()
                    && self
                        .tx
                        .get(CODE, account.info.code_hash.as_slice())
                        .is_none()
                {
                    self.tx.put(
                        CODE,
                        Bytes::copy_from_slice(account.info.code_hash.as_slice()),
                        code.original_bytes().to_vec(),
                    );
                }
            }
            let stored = self.tx.get(ACCOUNTS, address.as_slice());
            let encoded = encode_account(&account.info);
            if account.info.is_empty() {
                // EIP-161: touched empty accounts do not exist.
                if stored.is_some() {
                    self.tx
                        .remove(ACCOUNTS, Bytes::copy_from_slice(address.as_slice()));
                }
            } else if stored.as_deref() != Some(encoded.as_slice()) {
                self.tx.put(
                    ACCOUNTS,
                    Bytes::copy_from_slice(address.as_slice()),
                    encoded,
                );
            }
            for (slot, value) in account.changed_storage_slots() {
                let k = storage_key(&address, slot);
                let v = value.present_value();
                if v.is_zero() {
                    self.tx.remove(STORAGE, k);
                } else {
                    self.tx.put(STORAGE, k, v.to_be_bytes::<32>().to_vec());
                }
            }
        }
    }
}
