//! Snapshot files a node keeps.

/// The snapshot a node joined from, kept in its snapshot directory: its ledger continues
/// from it, so restarting needs it.
pub const JOINED_FROM: &str = "joined_from.snapshot";

/// The snapshot a recovery started from (a copy), kept in its snapshot directory: until
/// the private ledger is recovered, restarting needs it.
pub const RECOVERED_FROM: &str = "recovered_from.snapshot";

/// The newest committed snapshot in `dir`: (name, seqno).
pub fn latest_snapshot(dir: &std::path::Path) -> Option<(String, u64)> {
    latest_snapshot_after(dir, 0)
}

/// The newest committed snapshot in `dir` whose seqno is above `after`: (name, seqno).
pub fn latest_snapshot_after(dir: &std::path::Path, after: u64) -> Option<(String, u64)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let s = snapshot_seqno(&name)?;
            (s > after).then_some((name, s))
        })
        .max_by_key(|(_, s)| *s)
}

/// The seqno of a committed snapshot file's name (`snapshot_<seqno>_<evidence>.committed`,
/// digits only, evidence after the seqno); `None` for any other name.
pub fn snapshot_seqno(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("snapshot_")?.strip_suffix(".committed")?;
    let (seqno, evidence) = rest.split_once('_')?;
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (s, e) = (num(seqno)?, num(evidence)?);
    (e > s).then_some(s)
}
