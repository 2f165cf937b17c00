//! An in-memory filesystem that models durability, with seeded fault injection (feature
//! `test-utils`), for running ledgers in a deterministic simulation.
//!
//! - Every file has the bytes readers see and the bytes that are *durable*: a file's data
//!   becomes durable when it is fsynced (`sync_data`/`sync_all` on a handle, or
//!   [`Storage::truncate`]).
//! - Directory entries (a created, renamed or removed file) become durable when their
//!   directory is synced ([`Storage::sync_dir`]). Directories themselves are durable as
//!   soon as they are created.
//! - [`SimStorage::crash`] discards everything that is not durable. A file whose unsynced
//!   change only appended to its durable bytes keeps a random prefix of the appended bytes
//!   (a torn write); any other unsynced change is either kept whole or lost. Handles opened
//!   before a crash fail from then on (their process is gone).
//! - [`Faults`] gives the probability that an fsync fails (an error; the data stays
//!   non-durable) and that a write fails (an error, after writing a random prefix of its
//!   bytes). [`SimStorage::fail_next_fsync`] and [`SimStorage::fail_next_write`] inject one
//!   failure at the next such operation, for targeted tests.
//!
//! All randomness comes from one seeded generator, so a run is reproducible from its seed.
//! Clones share the same disk: a test can crash it and reopen a ledger on it.

use std::{
    collections::{BTreeMap, HashMap},
    io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use super::{OpenMode, Storage, StorageFile};

/// Probabilities of injected failures, each in `0.0..=1.0`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// That an fsync (of a file or a directory) fails.
    pub fsync_fail: f64,
    /// That a write fails (after writing a random prefix of its bytes).
    pub write_fail: f64,
}

/// Counts of what the simulated disk did, for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    pub writes: u64,
    pub fsyncs: u64,
    pub failed_writes: u64,
    pub failed_fsyncs: u64,
    pub crashes: u64,
}

/// SplitMix64: small, fast, and good enough to drive fault injection.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `true` with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    /// Uniform in `0..=n`.
    fn up_to(&mut self, n: usize) -> usize {
        (self.next_u64() % (n as u64 + 1)) as usize
    }
}

#[derive(Debug, Default)]
struct Inode {
    /// What readers see.
    data: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct Dir {
    entries: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct State {
    rng: Rng,
    faults: Faults,
    fail_next_fsync: u32,
    fail_next_write: u32,
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    dirs: BTreeMap<PathBuf, Dir>,
    /// Bumped by every crash; handles from an earlier generation are dead.
    generation: u64,
    stats: SimStats,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

fn split(path: &Path) -> io::Result<(&Path, String)> {
    match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(dir), Some(name)) => Ok((dir, name.to_string())),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        )),
    }
}

impl State {
    fn lookup(&self, path: &Path) -> io::Result<u64> {
        let (dir, name) = split(path)?;
        self.dirs
            .get(dir)
            .and_then(|d| d.entries.get(&name))
            .copied()
            .ok_or_else(|| not_found(path))
    }

    fn inode(&mut self, id: u64) -> &mut Inode {
        self.inodes.get_mut(&id).expect("open handles keep inodes")
    }

    /// Consume a pending or random fsync failure.
    fn fsync_fails(&mut self) -> bool {
        self.stats.fsyncs += 1;
        let fail = if self.fail_next_fsync > 0 {
            self.fail_next_fsync -= 1;
            true
        } else {
            let p = self.faults.fsync_fail;
            self.rng.chance(p)
        };
        self.stats.failed_fsyncs += u64::from(fail);
        fail
    }

    /// Consume a pending or random write failure.
    fn write_fails(&mut self) -> bool {
        self.stats.writes += 1;
        let fail = if self.fail_next_write > 0 {
            self.fail_next_write -= 1;
            true
        } else {
            let p = self.faults.write_fail;
            self.rng.chance(p)
        };
        self.stats.failed_writes += u64::from(fail);
        fail
    }

    fn crash(&mut self) {
        self.generation += 1;
        self.stats.crashes += 1;
        for d in self.dirs.values_mut() {
            d.entries = d.durable.clone();
        }
        let live: std::collections::HashSet<u64> = self
            .dirs
            .values()
            .flat_map(|d| d.entries.values().copied())
            .collect();
        self.inodes.retain(|id, _| live.contains(id));
        let mut ids: Vec<u64> = self.inodes.keys().copied().collect();
        ids.sort_unstable(); // HashMap order is not deterministic; the rng draws must be.
        for id in ids {
            let coin = self.rng.next_u64();
            let ino = self.inodes.get_mut(&id).expect("listed");
            if ino.data == ino.durable {
                continue;
            }
            if ino.data.starts_with(&ino.durable) {
                let extra = ino.data.len() - ino.durable.len();
                let keep = ino.durable.len() + (coin % (extra as u64 + 1)) as usize;
                ino.data.truncate(keep);
            } else if coin & 1 == 0 {
                ino.data = ino.durable.clone();
            }
            ino.durable = ino.data.clone();
        }
    }
}

/// The in-memory disk. Clones share it.
#[derive(Debug, Clone)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
}

fn locked(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .expect("sim storage lock poisoned: a thread panicked while using the disk; stopping")
}

impl SimStorage {
    /// An empty disk whose randomness comes from `seed`, with no random faults.
    pub fn new(seed: u64) -> Self {
        Self::with_faults(seed, Faults::default())
    }

    /// An empty disk with random `faults` drawn from `seed`.
    pub fn with_faults(seed: u64, faults: Faults) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                rng: Rng(seed),
                faults,
                fail_next_fsync: 0,
                fail_next_write: 0,
                inodes: HashMap::new(),
                next_inode: 1,
                dirs: BTreeMap::new(),
                generation: 0,
                stats: SimStats::default(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        locked(&self.state)
    }

    /// This disk as a [`Storage`] for [`crate::JournalConfig::storage`].
    pub fn shared(&self) -> Arc<dyn Storage> {
        Arc::new(self.clone())
    }

    /// Change the random fault probabilities.
    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    /// Make the next fsync (of a file or a directory) fail.
    pub fn fail_next_fsync(&self) {
        self.state().fail_next_fsync += 1;
    }

    /// Make the next write fail, after writing a random prefix of its bytes.
    pub fn fail_next_write(&self) {
        self.state().fail_next_write += 1;
    }

    /// Lose everything that is not durable (see the module documentation). Handles
    /// opened before fail from now on.
    pub fn crash(&self) {
        self.state().crash();
    }

    pub fn stats(&self) -> SimStats {
        self.state().stats
    }

    /// The bytes of `path` that would survive a crash now (ignoring whether its directory
    /// entry is durable), if it exists.
    pub fn durable_contents(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state();
        let id = st.lookup(path).ok()?;
        Some(st.inodes[&id].durable.clone())
    }

    /// Overwrite the byte at `offset` of `path`, durably (a test corrupting the disk).
    pub fn corrupt_byte(&self, path: &Path, offset: usize, value: u8) -> io::Result<()> {
        let mut st = self.state();
        let id = st.lookup(path)?;
        let ino = st.inode(id);
        if offset >= ino.data.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "offset past the end",
            ));
        }
        ino.data[offset] = value;
        ino.durable = ino.data.clone();
        Ok(())
    }
}

/// A handle on one file (inode) of a [`SimStorage`].
#[derive(Debug)]
struct SimFile {
    state: Arc<Mutex<State>>,
    inode: u64,
    generation: u64,
    path: PathBuf,
}

impl SimFile {
    fn state(&self) -> io::Result<MutexGuard<'_, State>> {
        let st = locked(&self.state);
        if st.generation != self.generation {
            return Err(io::Error::other(format!(
                "{}: the simulated disk crashed since this file was opened",
                self.path.display()
            )));
        }
        Ok(st)
    }

    fn sync(&self) -> io::Result<()> {
        let mut st = self.state()?;
        if st.fsync_fails() {
            return Err(io::Error::other(format!(
                "{}: injected fsync failure",
                self.path.display()
            )));
        }
        let ino = st.inode(self.inode);
        ino.durable = ino.data.clone();
        Ok(())
    }
}

fn write_into(data: &mut Vec<u8>, buf: &[u8], offset: usize) {
    if data.len() < offset + buf.len() {
        data.resize(offset + buf.len(), 0);
    }
    data[offset..offset + buf.len()].copy_from_slice(buf);
}

impl StorageFile for SimFile {
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut st = self.state()?;
        let offset = offset as usize;
        if st.write_fails() {
            let n = st.rng.up_to(buf.len());
            write_into(&mut st.inode(self.inode).data, &buf[..n], offset);
            return Err(io::Error::other(format!(
                "{}: injected write failure after {n} of {} bytes",
                self.path.display(),
                buf.len()
            )));
        }
        write_into(&mut st.inode(self.inode).data, buf, offset);
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut st = self.state()?;
        let data = &st.inode(self.inode).data;
        let offset = offset as usize;
        if offset + buf.len() > data.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: read past the end", self.path.display()),
            ));
        }
        buf.copy_from_slice(&data[offset..offset + buf.len()]);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.state()?;
        st.inode(self.inode).data.resize(len as usize, 0);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut st = self.state()?;
        Ok(st.inode(self.inode).data.len() as u64)
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state();
        for d in dir.ancestors() {
            st.dirs.entry(d.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.state();
        let d = st.dirs.get(dir).ok_or_else(|| not_found(dir))?;
        Ok(d.entries.keys().cloned().collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let st = self.state();
        st.dirs.contains_key(path) || st.lookup(path).is_ok()
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let st = self.state();
        let id = st.lookup(path)?;
        Ok(st.inodes[&id].data.len() as u64)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let st = self.state();
        let id = st.lookup(path)?;
        Ok(st.inodes[&id].data.clone())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut st = self.state();
        let (dir, name) = split(path)?;
        let existing = st.lookup(path).ok();
        let inode = match (mode, existing) {
            (OpenMode::CreateNew, Some(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: file exists", path.display()),
                ))
            }
            (OpenMode::Existing, None) => return Err(not_found(path)),
            (OpenMode::Existing, Some(id)) => id,
            (OpenMode::CreateTruncate, Some(id)) => {
                st.inode(id).data.clear();
                id
            }
            (OpenMode::CreateNew | OpenMode::CreateTruncate, None) => {
                if !st.dirs.contains_key(dir) {
                    return Err(not_found(dir));
                }
                let id = st.next_inode;
                st.next_inode += 1;
                st.inodes.insert(id, Inode::default());
                st.dirs
                    .get_mut(dir)
                    .expect("checked")
                    .entries
                    .insert(name, id);
                id
            }
        };
        Ok(Box::new(SimFile {
            state: self.state.clone(),
            inode,
            generation: st.generation,
            path: path.to_path_buf(),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state();
        let id = st.lookup(from)?;
        let (from_dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        if !st.dirs.contains_key(to_dir) {
            return Err(not_found(to_dir));
        }
        st.dirs
            .get_mut(from_dir)
            .expect("looked up")
            .entries
            .remove(&from_name);
        st.dirs
            .get_mut(to_dir)
            .expect("checked")
            .entries
            .insert(to_name, id);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state();
        st.lookup(path)?;
        let (dir, name) = split(path)?;
        st.dirs
            .get_mut(dir)
            .expect("looked up")
            .entries
            .remove(&name);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state();
        if !st.dirs.contains_key(dir) {
            return Err(not_found(dir));
        }
        if st.fsync_fails() {
            return Err(io::Error::other(format!(
                "{}: injected fsync failure",
                dir.display()
            )));
        }
        let d = st.dirs.get_mut(dir).expect("checked");
        d.durable = d.entries.clone();
        Ok(())
    }
}

#[cfg(test)]
#[path = "sim_test.rs"]
mod sim_test;
