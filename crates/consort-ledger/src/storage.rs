//! The filesystem operations the ledger performs, behind a trait, so that whole replicas
//! can run over an in-memory disk with injected faults (see `sim`, feature `test-utils`).
//!
//! [`DiskStorage`] is the real filesystem (`std::fs`), and the default of
//! [`crate::JournalConfig`]. Files are addressed by path for directory operations and
//! through an open [`StorageFile`] handle for positional reads and writes; a handle keeps
//! referring to the same file when it is renamed, as a POSIX file descriptor does.

use std::{
    fmt, fs, io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

/// How [`Storage::open`] opens a file (always for reading and writing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must exist.
    Existing,
    /// Create the file; fail if it exists.
    CreateNew,
    /// Create the file, or truncate it to nothing if it exists.
    CreateTruncate,
}

/// An open file: positional reads and writes, fsync, length.
pub trait StorageFile: Send + Sync + fmt::Debug {
    /// Write all of `buf` at `offset` (extending the file as needed).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Fill `buf` from `offset`; an error if the file is shorter.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Make the file's data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Make the file's data and metadata durable (`fsync`).
    fn sync_all(&self) -> io::Result<()>;
    /// Truncate or extend (with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Every filesystem operation the ledger does on its directory and snapshot files.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Create `dir` and its missing parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the entries of `dir` (unordered).
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Length of the file at `path`.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// The whole contents of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Fill `buf` from `offset` of the file at `path`.
    fn read_range(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.open(path, OpenMode::Existing)?.read_at(buf, offset)
    }
    /// Open (or create) the file at `path` for reading and writing.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>>;
    /// Rename `from` to `to` (replacing `to`). Durable once the directory is synced.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Remove the file at `path`. Durable once the directory is synced.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Make the entries of `dir` (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Truncate (or extend) the file at `path` to `len` bytes and fsync it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = self.open(path, OpenMode::Existing)?;
        f.set_len(len)?;
        f.sync_all()
    }
}

/// Write a small file atomically: `dir/.name.tmp` is written and fsynced, renamed to
/// `dir/name`, and the directory synced. Returns the new path. After a crash either the
/// old file (or none) or the whole new one is there.
pub fn write_atomic(
    storage: &dyn Storage,
    dir: &Path,
    name: &str,
    contents: &[u8],
) -> Result<PathBuf, crate::LedgerError> {
    use crate::LedgerError;
    storage.create_dir_all(dir).map_err(LedgerError::io(dir))?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let f = storage
        .open(&tmp, OpenMode::CreateTruncate)
        .map_err(LedgerError::io(&tmp))?;
    f.write_at(contents, 0)
        .and_then(|_| f.sync_all())
        .map_err(LedgerError::io(&tmp))?;
    drop(f);
    storage
        .rename(&tmp, &path)
        .map_err(LedgerError::io(&path))?;
    storage.sync_dir(dir).map_err(LedgerError::io(dir))?;
    Ok(path)
}

/// The real filesystem, through `std::fs` (files get the process's default mode, as
/// `File::create` gives them).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskStorage;

impl DiskStorage {
    /// A shareable handle, for [`crate::JournalConfig::storage`].
    pub fn shared() -> std::sync::Arc<dyn Storage> {
        std::sync::Arc::new(DiskStorage)
    }
}

#[derive(Debug)]
struct DiskFile(fs::File);

impl StorageFile for DiskFile {
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Storage for DiskStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir)? {
            // Names that are not UTF-8 are not ledger files: skip them.
            if let Ok(name) = e?.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn read_range(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        fs::File::open(path)?.read_exact_at(buf, offset)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut o = fs::OpenOptions::new();
        o.read(true).write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::CreateNew => {
                o.create_new(true);
            }
            OpenMode::CreateTruncate => {
                o.create(true).truncate(true);
            }
        }
        Ok(Box::new(DiskFile(o.open(path)?)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        fs::File::open(dir)?.sync_all()
    }
}

#[cfg(any(test, feature = "test-utils"))]
pub mod sim;
