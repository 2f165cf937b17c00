//! Reading entries back from the chunk files: one entry, a batch in one read, a plan to
//! read without holding the ledger, or every entry in order. Committed chunks keep no
//! offsets in memory: their positions table is read (the part needed) with each read.

use super::*;

/// Consecutive entries located by [`LedgerFiles::plan_batch`], to read without the ledger.
pub struct BatchPlan {
    pub first: Version,
    pub source: BatchSource,
    /// Each entry's range in the batch's bytes.
    pub ranges: Vec<std::ops::Range<usize>>,
    storage: Arc<dyn Storage>,
}

/// A [`BatchPlan`] read: its first seqno, the bytes, and each entry's range in them.
pub type ReadBatch = (Version, Vec<u8>, Vec<std::ops::Range<usize>>);

/// Where a [`BatchPlan`]'s bytes are.
#[derive(Debug)]
pub enum BatchSource {
    File {
        path: PathBuf,
        start: u64,
        len: usize,
    },
    Bytes(Vec<u8>),
}

impl std::fmt::Debug for BatchPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchPlan")
            .field("first", &self.first)
            .field("source", &self.source)
            .field("entries", &self.ranges.len())
            .finish()
    }
}

impl BatchPlan {
    /// The batch's bytes (read from the file, which a chunk rename since the plan makes
    /// fail: a retryable I/O error).
    pub fn read(self) -> Result<ReadBatch, LedgerError> {
        let bytes = match self.source {
            BatchSource::Bytes(b) => b,
            BatchSource::File { path, start, len } => {
                let mut buf = vec![0u8; len];
                self.storage
                    .read_range(&path, start, &mut buf)
                    .map_err(LedgerError::io(&path))?;
                buf
            }
        };
        Ok((self.first, bytes, self.ranges))
    }
}

impl LedgerFiles {
    fn locate(&self, seqno: Version) -> Option<(usize, usize)> {
        let i = self.chunks.partition_point(|c| c.end() < seqno);
        let c = self.chunks.get(i)?;
        if seqno < c.name.start {
            return None;
        }
        Some((i, (seqno - c.name.start) as usize))
    }

    /// Where entries `ei..ei + n` of chunk `ci` start, and where the last ends: `n + 1`
    /// file offsets, increasing. A committed chunk's come from its positions table (checked:
    /// a table changed on disk since the chunk was opened is corruption, not a panic).
    fn bounds(&self, ci: usize, ei: usize, n: usize) -> Result<Vec<u64>, LedgerError> {
        let c = &self.chunks[ci];
        debug_assert!(n > 0 && ei + n <= c.count);
        let with_next = ei + n < c.count;
        let mut out: Vec<u64> = match &c.offsets {
            Some(o) => o[ei..ei + n + usize::from(with_next)]
                .iter()
                .map(|x| u64::from(*x))
                .collect(),
            None => {
                let path = self.path_of(c);
                let mut buf = vec![0u8; 4 * (n + usize::from(with_next))];
                self.storage
                    .read_range(&path, c.len + 4 * ei as u64, &mut buf)
                    .map_err(LedgerError::io(&path))?;
                buf.chunks_exact(4)
                    .map(|b| u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes"))))
                    .collect()
            }
        };
        if !with_next {
            out.push(c.len);
        }
        let sane = out.first().is_some_and(|o| *o >= FILE_HEADER_LEN)
            && out.windows(2).all(|w| w[0] < w[1])
            && out.last().is_some_and(|o| *o <= c.len);
        if !sane {
            return Err(LedgerError::Corrupt {
                seqno: c.name.start + ei as u64,
                reason: format!(
                    "{}: positions table changed on disk",
                    self.path_of(c).display()
                ),
            });
        }
        Ok(out)
    }

    /// The bytes of entry `seqno`.
    pub fn read_entry(&self, seqno: Version) -> Result<Vec<u8>, LedgerError> {
        let (ci, ei) = self.locate(seqno).ok_or(LedgerError::UnknownSeqno(seqno))?;
        let b = self.bounds(ci, ei, 1)?;
        let (start, end) = (b[0], b[1]);
        let c = &self.chunks[ci];
        let mut out = vec![0u8; (end - start) as usize];
        let is_open = ci + 1 == self.chunks.len() && self.open.is_some();
        if is_open {
            let open = self.open.as_ref().expect("open");
            if start >= open.written {
                let s = (start - open.written) as usize;
                let n = out.len();
                out.copy_from_slice(&open.buf[s..s + n]);
                return Ok(out);
            }
            open.file
                .read_at(&mut out, start)
                .map_err(LedgerError::io(self.path_of(c)))?;
            return Ok(out);
        }
        let path = self.path_of(c);
        self.storage
            .read_range(&path, start, &mut out)
            .map_err(LedgerError::io(&path))?;
        Ok(out)
    }

    /// Read up to `max` consecutive entries from `from` on, all from `from`'s chunk, in one
    /// read: their bytes into `bytes` and each one's range in them into `ranges` (both
    /// cleared first, so that a caller reading many batches reuses them). None past the
    /// last entry.
    pub fn read_batch(
        &self,
        from: Version,
        max: usize,
        bytes: &mut Vec<u8>,
        ranges: &mut Vec<std::ops::Range<usize>>,
    ) -> Result<(), LedgerError> {
        bytes.clear();
        ranges.clear();
        let Some((ci, ei)) = self.locate(from) else {
            return Ok(());
        };
        let c = &self.chunks[ci];
        let n = max.max(1).min(c.count - ei);
        let is_open = ci + 1 == self.chunks.len() && self.open.is_some();
        if is_open {
            // Part of it may still be in the write buffer: entry by entry.
            for s in from..from + n as u64 {
                let e = self.read_entry(s)?;
                ranges.push(bytes.len()..bytes.len() + e.len());
                bytes.extend_from_slice(&e);
            }
            return Ok(());
        }
        let b = self.bounds(ci, ei, n)?;
        let start = b[0];
        bytes.resize((b[n] - start) as usize, 0);
        let path = self.path_of(c);
        self.storage
            .read_range(&path, start, bytes)
            .map_err(LedgerError::io(&path))?;
        ranges.extend(
            b.windows(2)
                .map(|w| (w[0] - start) as usize..(w[1] - start) as usize),
        );
        Ok(())
    }

    /// Where up to `max` consecutive entries from `from` on are (all in `from`'s chunk, and
    /// all written to its file or all still in the write buffer), so that a caller can read
    /// them without holding the ledger: a file range, or the bytes themselves when they
    /// are only in the buffer. `None` past the last entry or before the first.
    pub fn plan_batch(&self, from: Version, max: usize) -> Result<Option<BatchPlan>, LedgerError> {
        let Some((ci, ei)) = self.locate(from) else {
            return Ok(None);
        };
        let c = &self.chunks[ci];
        let mut n = max.max(1).min(c.count - ei);
        let b = self.bounds(ci, ei, n)?;
        let start = b[0];
        let open = (ci + 1 == self.chunks.len())
            .then_some(self.open.as_ref())
            .flatten();
        let source = match open {
            // The buffer holds whole entries: those written are a prefix of the batch.
            Some(o) if start >= o.written => {
                let (s, e) = ((start - o.written) as usize, (b[n] - o.written) as usize);
                BatchSource::Bytes(o.buf[s..e].to_vec())
            }
            Some(o) => {
                while b[n] > o.written {
                    n -= 1;
                }
                BatchSource::File {
                    path: self.path_of(c),
                    start,
                    len: (b[n] - start) as usize,
                }
            }
            None => BatchSource::File {
                path: self.path_of(c),
                start,
                len: (b[n] - start) as usize,
            },
        };
        let ranges = b[..=n]
            .windows(2)
            .map(|w| (w[0] - start) as usize..(w[1] - start) as usize)
            .collect();
        Ok(Some(BatchPlan {
            first: from,
            source,
            ranges,
            storage: self.storage.clone(),
        }))
    }

    /// Visit every entry in order: `f(seqno, bytes)`. Reads one chunk at a time.
    pub fn for_each_entry(
        &mut self,
        mut f: impl FnMut(Version, &[u8]) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        self.flush()?;
        for ci in 0..self.chunks.len() {
            let c = &self.chunks[ci];
            if c.count == 0 {
                continue;
            }
            let path = self.path_of(c);
            let bytes = self.storage.read(&path).map_err(LedgerError::io(&path))?;
            let b = self.bounds(ci, 0, c.count)?;
            if bytes.len() < c.len as usize {
                return Err(LedgerError::Corrupt {
                    seqno: c.name.start,
                    reason: format!("{}: shorter than its entries", path.display()),
                });
            }
            for (i, w) in b.windows(2).enumerate() {
                f(
                    c.name.start + i as u64,
                    &bytes[w[0] as usize..w[1] as usize],
                )?;
            }
        }
        Ok(())
    }
}
