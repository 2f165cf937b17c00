//! Small file helpers.

use std::{fs, io::Write, path::Path};

use crate::NodeError;

/// Write `bytes` to `path` atomically (temp file + rename), readable by the owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    write_with_mode(path, bytes, 0o600)
}

/// Write `bytes` to `path` atomically, world-readable (certificates).
pub(crate) fn write_public(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    write_with_mode(path, bytes, 0o644)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), NodeError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(NodeError::io(dir))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(NodeError::io(&tmp))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(NodeError::io(&tmp))?;
    fs::rename(&tmp, path).map_err(NodeError::io(path))
}
