//! Disaster recovery, as CCF does it: no single party can read a service's private data,
//! yet a threshold of its members can bring a lost service back from its ledger files.
//!
//! - [`shares`]: whenever the recovery members, the threshold or the ledger secret change,
//!   a fresh wrapping key is split k-of-n (Shamir, `consort_crypto::sharing`) and each share
//!   is encrypted to one recovery member (RSA-OAEP-SHA-256); the latest ledger secret,
//!   wrapped by that key, goes beside them in `public:ccf.internal.recovery_shares`.
//! - [`chain`]: each new ledger secret encrypts the one before it
//!   (`public:ccf.internal.historical_encrypted_ledger_secret`), so the latest secret
//!   unlocks the whole history.
//! - [`submit`]: during a recovery, members submit their decrypted shares; they are kept
//!   encrypted under the recovering service's secret, checked on arrival, and combined at
//!   the threshold to unwrap the old latest secret.
//!
//! Everything here reads and writes a transaction; the node decides when (and owns the
//! secrets it passes in).

pub mod chain;
mod error;
pub mod shares;
pub mod submit;

pub use error::RecoveryError;

#[cfg(test)]
mod testing_support;
