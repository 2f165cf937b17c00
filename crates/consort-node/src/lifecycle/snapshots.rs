//! Snapshot files a node keeps.

/// The snapshot a node joined from, kept in its snapshot directory: its ledger continues
/// from it, so restarting needs it.
pub const JOINED_FROM: &str = "joined_from.snapshot";

/// The snapshot a recovery started from (a copy), kept in its snapshot directory: until
/// the private ledger is recovered, restarting needs it.
pub const RECOVERED_FROM: &str = "recovered_from.snapshot";

/// The newest committed snapshot in `dir`: (name, seqno).
pub fn latest_snapshot(dir: &std::path::Path) -> Option<(String, u64)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let rest = name.strip_prefix("snapshot_")?.strip_suffix(".committed")?;
            let s: u64 = rest.split('_').next()?.parse().ok()?;
            Some((name, s))
        })
        .max_by_key(|(_, s)| *s)
}
