//! The application framework. Applications (the logging sample, Ethereum) and the node's
//! own frontends register endpoints in a [`Registry`]; the server routes a request,
//! [`auth::authenticate`]s the caller, and [`execute::execute`]s the handler in a KV
//! transaction, committing read-write results through the node ([`execute::Host`]) with
//! retry on conflict.
//!
//! A handler gets a narrow [`Ctx`]: its transaction, the request with the caller's
//! identity, and small capability traits — a [`LedgerView`] (historical entries,
//! receipts), [`GovEffects`] (ledger rekey, recovery shares, opening the service) and the [`NodeView`] (this node's identity).
//! It never sees the journal, the cluster or the service key (after CCF's
//! `gov_effects_interface.h`).

pub mod api;
pub mod auth;
mod context;
pub mod execute;
pub mod openapi;
pub mod receipts;
mod registry;
pub mod socket;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

pub use api::{ApiError, Caller, Request, Response};
pub use auth::AuthPolicy;
pub use context::{Ctx, EffectError, GovEffects, LedgerView, NodeView, ShareProgress};
pub use registry::{
    Endpoint, GenesisHook, GovernanceHook, Handler, HookError, Mode, Registry, TXID_HEADER,
};
