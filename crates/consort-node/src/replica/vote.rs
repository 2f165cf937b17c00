//! The persisted vote: `(view, voted_for)`, written atomically through the journal's
//! storage before any message that depends on it leaves.

use std::path::Path;

use consort_consensus::{NodeId, View};
use consort_ledger::storage::{write_atomic, Storage};

use super::ReplicaError;

/// Read a persisted vote from `storage` (missing file: none yet).
pub fn read_vote(
    storage: &dyn Storage,
    path: &Path,
) -> Result<(View, Option<NodeId>), ReplicaError> {
    if !storage.exists(path) {
        return Ok((0, None));
    }
    let b = storage
        .read(path)
        .map_err(|e| ReplicaError::Vote(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&b).map_err(|e| ReplicaError::Vote(format!("{}: {e}", path.display())))
}

/// Write the vote atomically (temporary file, fsync, rename, directory fsync).
pub(super) fn write_vote(
    storage: &dyn Storage,
    path: &Path,
    vote: (View, Option<NodeId>),
) -> Result<(), ReplicaError> {
    let err = || ReplicaError::Vote(format!("{}: not a file path", path.display()));
    let dir = path.parent().ok_or_else(err)?;
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(err)?;
    let bytes = serde_json::to_vec(&vote).expect("json");
    write_atomic(storage, dir, name, &bytes).map_err(|e| ReplicaError::Vote(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
#[path = "vote_test.rs"]
mod vote_test;
