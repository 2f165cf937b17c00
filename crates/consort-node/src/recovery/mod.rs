//! Disaster recovery on a running node: governance's recovery effects ([`effects`]), and
//! the [`runtime`] that, once members' shares unlock the old ledger secrets, recovers the
//! private ledger and (on the primary) opens the recovered service.

pub(crate) mod effects;
pub(crate) mod runtime;
