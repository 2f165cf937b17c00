//! Ledger chunk files, as CCF lays them out.
//!
//! ```text
//! file  := table_offset(u64 LE; 0 while the chunk is open) entry* [table]
//! table := entry_offset(u32 LE)*   (one per entry, from the start of the file)
//! ```
//! Names: `ledger_<first>` while open, `ledger_<first>-<last>` once complete (the table is
//! written), `ledger_<first>-<last>.committed` once every entry in it is committed.

use std::path::{Path, PathBuf};

use consort_kv::{entry, Version};

/// Size of the file header (offset of the positions table).
pub const FILE_HEADER_LEN: u64 = 8;
pub const COMMITTED_SUFFIX: &str = ".committed";

/// What stage a chunk is in, as its name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkState {
    Open,
    Complete,
    Committed,
}

/// A chunk's seqno range and state, parsed from its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkName {
    pub start: Version,
    pub end: Option<Version>,
    pub committed: bool,
}

impl ChunkName {
    /// Parse `ledger_<a>`, `ledger_<a>-<b>` or `ledger_<a>-<b>.committed`. Other files
    /// (CCF's `.ignored` and `.recovery`, snapshots, anything else) give `None`.
    pub fn parse(file_name: &str) -> Option<Self> {
        let rest = file_name.strip_prefix("ledger_")?;
        let (rest, committed) = match rest.strip_suffix(COMMITTED_SUFFIX) {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let num = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let (start, end) = match rest.split_once('-') {
            Some((a, b)) => (num(a)?, Some(num(b)?)),
            None => (num(rest)?, None),
        };
        if committed && end.is_none() {
            return None;
        }
        if end.is_some_and(|e| e < start) || start == 0 {
            return None;
        }
        Some(Self {
            start,
            end,
            committed,
        })
    }

    pub fn state(&self) -> ChunkState {
        match (self.end, self.committed) {
            (None, _) => ChunkState::Open,
            (Some(_), false) => ChunkState::Complete,
            (Some(_), true) => ChunkState::Committed,
        }
    }

    pub fn file_name(&self) -> String {
        match (self.end, self.committed) {
            (None, _) => format!("ledger_{}", self.start),
            (Some(e), false) => format!("ledger_{}-{}", self.start, e),
            (Some(e), true) => format!("ledger_{}-{}{}", self.start, e, COMMITTED_SUFFIX),
        }
    }
}

/// Encode a positions table.
pub fn encode_table(offsets: &[u32]) -> Vec<u8> {
    offsets.iter().flat_map(|o| o.to_le_bytes()).collect()
}

/// The layout of a chunk file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLayout {
    /// Offsets of the entries, from the start of the file.
    pub offsets: Vec<u32>,
    /// End of the last complete entry.
    pub entries_end: u64,
    /// Whether the file carries a positions table (the chunk is complete).
    pub has_table: bool,
    /// Bytes after the last complete entry that are not a table: a torn write.
    pub torn_tail: u64,
    /// The tail was an offsets table whose header was never written (interrupted completion).
    pub unfinished_table: bool,
}

/// Structural damage to a chunk file that is not a torn tail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("{}: header says the positions table is at {table_at}, file is {total} bytes", path.display())]
    TableOffset {
        path: PathBuf,
        table_at: u64,
        total: u64,
    },
    #[error("{}: positions table does not match the entries in the file", path.display())]
    TableMismatch { path: PathBuf },
}

/// Read the layout of a chunk from its bytes. Errors describe structural damage that is
/// not a torn tail.
pub fn layout(path: &Path, bytes: &[u8]) -> Result<ChunkLayout, ChunkError> {
    if (bytes.len() as u64) < FILE_HEADER_LEN {
        // A chunk whose header never made it to disk: nothing in it.
        return Ok(ChunkLayout {
            offsets: Vec::new(),
            entries_end: 0,
            has_table: false,
            torn_tail: bytes.len() as u64,
            unfinished_table: false,
        });
    }
    let table_at = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let total = bytes.len() as u64;
    if table_at > 0 {
        if table_at > total || (total - table_at) % 4 != 0 || table_at < FILE_HEADER_LEN {
            return Err(ChunkError::TableOffset {
                path: path.to_path_buf(),
                table_at,
                total,
            });
        }
        let offsets: Vec<u32> = bytes[table_at as usize..]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        // The table must describe exactly the entries that are there.
        let scanned = scan(&bytes[..table_at as usize]);
        if scanned.0 != offsets || scanned.1 != table_at {
            return Err(ChunkError::TableMismatch {
                path: path.to_path_buf(),
            });
        }
        return Ok(ChunkLayout {
            offsets,
            entries_end: table_at,
            has_table: true,
            torn_tail: 0,
            unfinished_table: false,
        });
    }
    let (offsets, end) = scan(bytes);
    let tail = &bytes[end as usize..];
    let unfinished_table = !tail.is_empty() && tail == encode_table(&offsets).as_slice();
    Ok(ChunkLayout {
        torn_tail: total - end,
        offsets,
        entries_end: end,
        has_table: false,
        unfinished_table,
    })
}

/// Walk entry headers from the file header on: offsets of complete entries and where the
/// last one ends.
fn scan(bytes: &[u8]) -> (Vec<u32>, u64) {
    let mut pos = FILE_HEADER_LEN;
    let mut offsets = Vec::new();
    while let Some(len) = entry::entry_len(&bytes[pos as usize..]) {
        if len < entry::PUBLIC_OFFSET as u64
            || pos + len > bytes.len() as u64
            || pos > u32::MAX as u64
        {
            break;
        }
        offsets.push(pos as u32);
        pos += len;
    }
    (offsets, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = ChunkName::parse("ledger_1-14.committed").unwrap();
        assert_eq!(
            (n.start, n.end, n.state()),
            (1, Some(14), ChunkState::Committed)
        );
        assert_eq!(n.file_name(), "ledger_1-14.committed");
        let n = ChunkName::parse("ledger_15").unwrap();
        assert_eq!(n.state(), ChunkState::Open);
        assert_eq!(
            ChunkName::parse("ledger_15-20").unwrap().state(),
            ChunkState::Complete
        );
        for bad in [
            "ledger_",
            "ledger_a",
            "ledger_5-3",
            "ledger_1-2.committed.recovery",
            "ledger_1-2.ignored",
            "ledger_3.committed",
            "snapshot_10_12.committed",
            "ledger_0",
        ] {
            assert!(ChunkName::parse(bad).is_none(), "{bad}");
        }
    }
}
