//! A node's ledger directory: append-only chunk files in CCF's layout, with fsync, chunk
//! completion, commit renames, truncation (rollback) and crash recovery.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use consort_kv::Version;

use crate::{
    chunk::{self, ChunkName, ChunkState, FILE_HEADER_LEN},
    storage::{DiskStorage, OpenMode, Storage, StorageFile},
    LedgerError,
};

/// Default size after which a chunk is completed at the next signature (CCF's default).
pub const DEFAULT_CHUNK_THRESHOLD: u64 = 5 * 1024 * 1024;
const WRITE_BUFFER: usize = 1 << 20;

#[derive(Debug)]
struct Chunk {
    name: ChunkName,
    /// Number of entries.
    count: usize,
    /// Entry offsets within the file; `None` once the chunk is committed (its positions
    /// table, after `len` in the file, is read where needed: no memory per entry).
    offsets: Option<Vec<u32>>,
    /// End of the last entry (file length, excluding any positions table).
    len: u64,
}

impl Chunk {
    fn end(&self) -> Version {
        self.name.start + self.count as u64 - 1
    }

    /// The in-memory offsets of a chunk that is not committed.
    fn offsets_mut(&mut self) -> &mut Vec<u32> {
        self.offsets
            .as_mut()
            .expect("an uncommitted chunk keeps its offsets")
    }
}

#[derive(Debug)]
struct OpenFile {
    file: Box<dyn StorageFile>,
    /// Bytes appended but not yet written to the file.
    buf: Vec<u8>,
    /// Length of the file on disk (excluding `buf`).
    written: u64,
}

/// What [`LedgerFiles::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Bytes of a torn (partially written) last entry that were cut off.
    pub torn_bytes_truncated: u64,
    /// A chunk completion that was interrupted and finished or undone.
    pub repaired_completion: bool,
}

/// The chunk files of one ledger directory.
#[derive(Debug)]
pub struct LedgerFiles {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    threshold: u64,
    chunks: Vec<Chunk>,
    open: Option<OpenFile>,
    committed: Version,
    /// First seqno of an empty ledger (1, or the seqno after a snapshot).
    start: Version,
}

fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<(), LedgerError> {
    storage.sync_dir(dir).map_err(LedgerError::io(dir))
}

/// A chunk file found by [`scan_dir`].
#[derive(Debug)]
pub struct ScannedChunk {
    pub name: ChunkName,
    pub path: PathBuf,
    pub layout: chunk::ChunkLayout,
    /// A mismatch between the chunk's name and its contents, reported by readers after its
    /// entries (so that a dropped or reordered entry is named precisely first).
    pub problem: Option<(Version, String)>,
}

impl ScannedChunk {
    /// Seqno of the last complete entry (`start - 1` when empty).
    pub fn end(&self) -> Version {
        self.name.start + self.layout.offsets.len() as u64 - 1
    }
}

/// Read-only survey of the chunk files of `dir`, in seqno order, with structural checks:
/// contiguous ranges, names that agree with contents, positions tables that match the
/// entries, committed chunks only as a prefix, and only the last (open) chunk may end
/// with a torn entry (reported in its layout, not repaired).
pub fn scan_dir(dir: &Path) -> Result<Vec<ScannedChunk>, LedgerError> {
    scan_dir_in(&DiskStorage, dir)
}

/// [`scan_dir`] on `storage`.
pub fn scan_dir_in(storage: &dyn Storage, dir: &Path) -> Result<Vec<ScannedChunk>, LedgerError> {
    let mut names = Vec::new();
    for name in storage.list_dir(dir).map_err(LedgerError::io(dir))? {
        if let Some(n) = ChunkName::parse(&name) {
            names.push(n);
        }
    }
    names.sort_by_key(|n| n.start);
    let count = names.len();
    let mut out: Vec<ScannedChunk> = Vec::with_capacity(count);
    let mut seen_uncommitted = false;
    for (i, name) in names.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let path = dir.join(name.file_name());
        let corrupt = |seqno: Version, reason: String| LedgerError::Corrupt {
            seqno,
            reason: format!("{}: {reason}", path.display()),
        };
        let expected_start = out
            .last()
            .map_or(name.start, |c| c.name.end.unwrap_or(c.end()) + 1);
        if name.start != expected_start {
            return Err(corrupt(
                expected_start.min(name.start),
                format!(
                    "chunk starts at seqno {} but the previous chunk ends at {}",
                    name.start,
                    expected_start - 1
                ),
            ));
        }
        if name.state() == ChunkState::Open && !is_last {
            return Err(corrupt(
                name.start,
                "open chunk followed by further chunks".into(),
            ));
        }
        let bytes = storage.read(&path).map_err(LedgerError::io(&path))?;
        let lay = match chunk::layout(&path, &bytes) {
            // The last chunk, still named open, with a header that names no valid table: a
            // completion whose header write tore (it is renamed only once the header is
            // durable). The chunk is still open: read it as if the header were zero.
            Err(_) if is_last && name.state() == ChunkState::Open => {
                let mut zeroed = bytes.clone();
                zeroed[..8].fill(0);
                chunk::layout(&path, &zeroed)
            }
            r => r,
        }
        .map_err(|r| corrupt(name.start, r.to_string()))?;
        let first_missing = name.start + lay.offsets.len() as u64;
        if lay.torn_tail > 0 && (!is_last || name.state() != ChunkState::Open) {
            return Err(corrupt(
                first_missing,
                format!("{} bytes after the last complete entry", lay.torn_tail),
            ));
        }
        let mut problem = None;
        if let Some(end) = name.end {
            let expect = end - name.start + 1;
            if lay.offsets.len() as u64 != expect || !lay.has_table {
                problem = Some((
                    first_missing.min(end),
                    format!(
                        "{}: name says {expect} entries, file holds {}{}",
                        path.display(),
                        lay.offsets.len(),
                        if lay.has_table {
                            ""
                        } else {
                            " and no positions table"
                        }
                    ),
                ));
            }
            if name.committed && seen_uncommitted {
                return Err(corrupt(
                    name.start,
                    "committed chunk after an uncommitted one".into(),
                ));
            }
            seen_uncommitted |= !name.committed;
        }
        out.push(ScannedChunk {
            name,
            path,
            layout: lay,
            problem,
        });
    }
    Ok(out)
}

impl LedgerFiles {
    /// Open (or create) the ledger in `dir`, checking every chunk's structure and cutting
    /// off a torn last entry. Entry contents are not verified here (see `Journal::open`).
    pub fn open(dir: &Path, threshold: u64) -> Result<(Self, RecoveryReport), LedgerError> {
        Self::open_in(Arc::new(DiskStorage), dir, threshold)
    }

    /// [`Self::open`] on `storage`.
    pub fn open_in(
        storage: Arc<dyn Storage>,
        dir: &Path,
        threshold: u64,
    ) -> Result<(Self, RecoveryReport), LedgerError> {
        let st = &*storage;
        st.create_dir_all(dir).map_err(LedgerError::io(dir))?;
        let mut report = RecoveryReport::default();
        let mut chunks: Vec<Chunk> = Vec::new();
        for sc in scan_dir_in(st, dir)? {
            let ScannedChunk {
                mut name,
                path,
                layout: lay,
                problem,
            } = sc;
            if let Some((seqno, reason)) = problem {
                return Err(LedgerError::Corrupt { seqno, reason });
            }
            if lay.torn_tail > 0 {
                // Crash mid-append (or mid-completion): cut back to the last whole entry.
                let f = st
                    .open(&path, OpenMode::Existing)
                    .map_err(LedgerError::io(&path))?;
                if lay.entries_end < FILE_HEADER_LEN || !lay.has_table {
                    // No table: the header says so (it may hold a torn completion's).
                    f.write_at(&[0u8; 8], 0).map_err(LedgerError::io(&path))?;
                }
                f.set_len(lay.entries_end.max(FILE_HEADER_LEN))
                    .and_then(|_| f.sync_all())
                    .map_err(LedgerError::io(&path))?;
                if lay.unfinished_table {
                    report.repaired_completion = true;
                } else {
                    report.torn_bytes_truncated += lay.torn_tail;
                }
            }
            if name.end.is_none() && lay.has_table {
                // Completed but not renamed before a crash: finish the rename.
                name.end = Some(name.start + lay.offsets.len() as u64 - 1);
                st.rename(&path, &dir.join(name.file_name()))
                    .map_err(LedgerError::io(&path))?;
                sync_dir(st, dir)?;
                report.repaired_completion = true;
            }
            if lay.offsets.is_empty() && name.state() == ChunkState::Open {
                // An open chunk with no entries: forget it.
                st.remove_file(&path).map_err(LedgerError::io(&path))?;
                continue;
            }
            chunks.push(Chunk {
                count: lay.offsets.len(),
                offsets: (!name.committed).then_some(lay.offsets),
                name,
                len: lay.entries_end.max(FILE_HEADER_LEN),
            });
        }
        let committed = chunks
            .iter()
            .take_while(|c| c.name.committed)
            .last()
            .map_or(0, |c| c.end());
        let open = match chunks.last() {
            Some(c) if c.name.state() == ChunkState::Open => {
                let path = dir.join(c.name.file_name());
                let file = st
                    .open(&path, OpenMode::Existing)
                    .map_err(LedgerError::io(&path))?;
                Some(OpenFile {
                    file,
                    buf: Vec::new(),
                    written: c.len,
                })
            }
            _ => None,
        };
        Ok((
            Self {
                storage,
                dir: dir.to_path_buf(),
                threshold,
                chunks,
                open,
                committed,
                start: 1,
            },
            report,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The storage the chunk files live on.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Seqno of the last entry (`start - 1` when empty).
    pub fn last_seqno(&self) -> Version {
        self.chunks.last().map_or(self.start - 1, |c| c.end())
    }

    /// Make an empty ledger start at `first` (a node starting from a snapshot at
    /// `first - 1`). Everything up to the snapshot counts as committed.
    pub fn start_at(&mut self, first: Version) -> Result<(), LedgerError> {
        if !self.chunks.is_empty() {
            return Err(LedgerError::Invalid {
                path: self.dir.clone(),
                reason: "the ledger is not empty".into(),
            });
        }
        self.start = first.max(1);
        self.committed = self.start - 1;
        Ok(())
    }

    /// First seqno held (1 unless the ledger starts from a snapshot).
    pub fn first_seqno(&self) -> Version {
        self.chunks.first().map_or(self.start, |c| c.name.start)
    }

    /// Highest seqno of a chunk renamed `.committed` (or passed to [`Self::commit`]).
    pub fn committed_seqno(&self) -> Version {
        self.committed
    }

    /// Names of the chunk files, in order.
    pub fn chunk_files(&self) -> Vec<String> {
        self.chunks.iter().map(|c| c.name.file_name()).collect()
    }

    fn path_of(&self, c: &Chunk) -> PathBuf {
        self.dir.join(c.name.file_name())
    }

    /// Append the next entry; returns its seqno.
    pub fn append(&mut self, entry: &[u8]) -> Result<Version, LedgerError> {
        let seqno = self.last_seqno() + 1;
        if self.open.is_none() {
            let name = ChunkName {
                start: seqno,
                end: None,
                committed: false,
            };
            let path = self.dir.join(name.file_name());
            let file = self
                .storage
                .open(&path, OpenMode::CreateNew)
                .map_err(LedgerError::io(&path))?;
            self.open = Some(OpenFile {
                file,
                buf: vec![0u8; FILE_HEADER_LEN as usize],
                written: 0,
            });
            self.chunks.push(Chunk {
                name,
                count: 0,
                offsets: Some(Vec::new()),
                len: FILE_HEADER_LEN,
            });
            sync_dir(&*self.storage, &self.dir)?;
        }
        let chunk = self.chunks.last_mut().expect("open chunk exists");
        let offset = u32::try_from(chunk.len).map_err(|_| LedgerError::Invalid {
            path: self.dir.join(chunk.name.file_name()),
            reason: "chunk exceeds 4 GiB".into(),
        })?;
        chunk.offsets_mut().push(offset);
        chunk.count += 1;
        chunk.len += entry.len() as u64;
        let open = self.open.as_mut().expect("open chunk");
        open.buf.extend_from_slice(entry);
        if open.buf.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(seqno)
    }

    /// Write buffered entries to the file (no fsync).
    pub fn flush(&mut self) -> Result<(), LedgerError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if open.buf.is_empty() {
            return Ok(());
        }
        let path = self
            .dir
            .join(self.chunks.last().expect("open chunk").name.file_name());
        open.file
            .write_at(&open.buf, open.written)
            .map_err(LedgerError::io(&path))?;
        open.written += open.buf.len() as u64;
        open.buf.clear();
        Ok(())
    }

    /// Make everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), LedgerError> {
        self.flush()?;
        if let Some(open) = &self.open {
            open.file.sync_data().map_err(LedgerError::io(&self.dir))?;
        }
        Ok(())
    }

    /// Called after a signature entry is appended: completes the open chunk if it has
    /// reached the size threshold (so chunks always end on a signature). Syncs first.
    pub fn after_signature(&mut self) -> Result<bool, LedgerError> {
        self.sync()?;
        let Some(c) = self.chunks.last() else {
            return Ok(false);
        };
        if self.open.is_none() || c.len < self.threshold {
            return Ok(false);
        }
        self.complete_open_chunk()?;
        Ok(true)
    }

    /// Complete the open chunk now, whatever its size (a recovered service starts its
    /// entries in a new chunk). Returns whether there was an open chunk with entries.
    pub fn complete_chunk(&mut self) -> Result<bool, LedgerError> {
        let has_entries = self.chunks.last().is_some_and(|c| c.count > 0);
        if self.open.is_none() || !has_entries {
            return Ok(false);
        }
        self.sync()?;
        self.complete_open_chunk()?;
        Ok(true)
    }

    fn complete_open_chunk(&mut self) -> Result<(), LedgerError> {
        self.flush()?;
        let open = self.open.take().expect("open chunk");
        let chunk = self.chunks.last_mut().expect("open chunk");
        let path = self.dir.join(chunk.name.file_name());
        let table = chunk::encode_table(chunk.offsets_mut());
        open.file
            .write_at(&table, chunk.len)
            .and_then(|_| open.file.sync_data())
            .and_then(|_| open.file.write_at(&chunk.len.to_le_bytes(), 0))
            .and_then(|_| open.file.sync_data())
            .map_err(LedgerError::io(&path))?;
        let end = chunk.end();
        chunk.name.end = Some(end);
        let new_path = self.dir.join(chunk.name.file_name());
        self.storage
            .rename(&path, &new_path)
            .map_err(LedgerError::io(&path))?;
        sync_dir(&*self.storage, &self.dir)?;
        let committed = self.committed;
        self.rename_committed(committed)
    }

    /// Record that everything up to `seqno` is committed: complete chunks wholly at or
    /// below it are renamed `.committed`.
    pub fn commit(&mut self, seqno: Version) -> Result<(), LedgerError> {
        if seqno > self.committed {
            self.committed = seqno.min(self.last_seqno());
        }
        self.rename_committed(self.committed)
    }

    fn rename_committed(&mut self, seqno: Version) -> Result<(), LedgerError> {
        let mut renamed = false;
        for c in &mut self.chunks {
            if c.name.state() == ChunkState::Complete && c.end() <= seqno {
                let from = self.dir.join(c.name.file_name());
                c.name.committed = true;
                c.offsets = None;
                let to = self.dir.join(c.name.file_name());
                self.storage
                    .rename(&from, &to)
                    .map_err(LedgerError::io(&from))?;
                renamed = true;
            }
        }
        if renamed {
            sync_dir(&*self.storage, &self.dir)?;
        }
        Ok(())
    }

    /// Discard every entry after `seqno` (rollback of an uncommitted tail).
    pub fn truncate(&mut self, seqno: Version) -> Result<(), LedgerError> {
        if seqno >= self.last_seqno() {
            return Ok(());
        }
        if seqno < self.committed {
            return Err(LedgerError::TruncateCommitted {
                target: seqno,
                committed: self.committed,
            });
        }
        self.flush()?;
        while let Some(c) = self.chunks.last() {
            if c.name.start <= seqno {
                break;
            }
            let path = self.path_of(c);
            self.open = None;
            self.storage
                .remove_file(&path)
                .map_err(LedgerError::io(&path))?;
            self.chunks.pop();
        }
        if let Some(c) = self.chunks.last_mut() {
            if c.end() > seqno {
                let keep = (seqno - c.name.start + 1) as usize;
                let offsets = c.offsets_mut();
                let new_len = offsets[keep] as u64;
                offsets.truncate(keep);
                c.count = keep;
                c.len = new_len;
                let mut path = self.dir.join(c.name.file_name());
                if c.name.end.is_some() {
                    // Named open (durably) before its table goes: after a crash, an open
                    // chunk with its table is completed again, one with a torn header is
                    // read as open; a complete name never names a cut file.
                    c.name.end = None;
                    let to = self.dir.join(c.name.file_name());
                    self.storage
                        .rename(&path, &to)
                        .map_err(LedgerError::io(&path))?;
                    sync_dir(&*self.storage, &self.dir)?;
                    path = to;
                }
                let file = self
                    .storage
                    .open(&path, OpenMode::Existing)
                    .map_err(LedgerError::io(&path))?;
                file.set_len(new_len)
                    .and_then(|_| file.write_at(&0u64.to_le_bytes(), 0))
                    .and_then(|_| file.sync_all())
                    .map_err(LedgerError::io(&path))?;
                self.open = Some(OpenFile {
                    file,
                    buf: Vec::new(),
                    written: new_len,
                });
            }
        }
        sync_dir(&*self.storage, &self.dir)
    }
}

impl Drop for LedgerFiles {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!("failed to flush ledger on close: {e}");
        }
    }
}

#[path = "files_read.rs"]
mod read;
pub use read::{BatchPlan, BatchSource, ReadBatch};

#[cfg(test)]
#[path = "files_test.rs"]
mod files_test;
