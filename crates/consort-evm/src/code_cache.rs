//! Analyzed bytecode by code hash, shared by every execution in the process.
//!
//! Loading a contract means reading its code from the KV store and scanning it for jump
//! destinations (`Bytecode::new_raw`): for a Uniswap swap (Router02 22 KB, the pair 11 KB,
//! two tokens) that scan was about as costly as executing the swap. Code is addressed by
//! its hash and never changes under one, so the analysis is kept and shared: a hit is an
//! `Arc` clone.
//!
//! It is only a cache of what the store holds. A code hash is asked for only by an account
//! that the caller's own snapshot shows with that hash, and such an account exists only if
//! its code was committed with it; so an entry left by a transaction that never committed
//! is never reached by one that cannot see the code. Skipping the KV read loses no conflict
//! either: code under a hash is written once, with the account that points to it.
//!
//! Bounded: two generations of at most [`GENERATION_BYTES`] each; a hit in the older one
//! moves the entry to the newer, and when the newer fills, the older is dropped (an
//! approximate LRU with no per-entry bookkeeping).

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use alloy_primitives::B256;
use revm::bytecode::Bytecode;

/// Code bytes one generation holds at most.
pub const GENERATION_BYTES: usize = 32 << 20;

#[derive(Default)]
struct Generations {
    new: HashMap<B256, Bytecode>,
    new_bytes: usize,
    old: HashMap<B256, Bytecode>,
}

impl Generations {
    fn insert(&mut self, hash: B256, code: Bytecode) {
        let len = code.original_byte_slice().len();
        if self.new_bytes + len > GENERATION_BYTES {
            self.old = std::mem::take(&mut self.new);
            self.new_bytes = 0;
        }
        self.new_bytes += len;
        self.new.insert(hash, code);
    }

    fn get(&mut self, hash: &B256) -> Option<Bytecode> {
        if let Some(c) = self.new.get(hash) {
            return Some(c.clone());
        }
        let c = self.old.remove(hash)?;
        self.insert(*hash, c.clone());
        Some(c)
    }
}

static CACHE: LazyLock<Mutex<Generations>> = LazyLock::new(Mutex::default);

/// The analyzed code under `hash`: from the cache, or `load`ed (the raw bytes, `None` if
/// the store has none: not cached) and analyzed once.
pub fn get_or_load(hash: B256, load: impl FnOnce() -> Option<Vec<u8>>) -> Option<Bytecode> {
    if let Some(c) = CACHE.lock().expect("code cache lock").get(&hash) {
        return Some(c);
    }
    let code = Bytecode::new_raw(load()?.into());
    CACHE
        .lock()
        .expect("code cache lock")
        .insert(hash, code.clone());
    Some(code)
}

#[cfg(test)]
#[path = "code_cache_test.rs"]
mod code_cache_test;
