use thiserror::Error;

/// Errors writing or reading the service's tables.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// A table holds a record that does not decode: the state is not what Consort wrote.
    #[error(transparent)]
    Kv(#[from] consort_kv::KvError),
    /// A required record is missing.
    #[error("no {0} record")]
    Missing(&'static str),
    /// Input (a JWKS document, a certificate) is unusable.
    #[error("{0}")]
    Invalid(String),
}
