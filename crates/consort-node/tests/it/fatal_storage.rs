//! An fsync that fails under a running node stops it (one clear line, the fatal latch
//! tripped, no more writes accepted) and a restart over the same files recovers every
//! write that was committed before the failure.

use std::{
    io,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use consort_endpoints::{
    execute::execute, testing::request, AuthPolicy, Mode, Registry, Response, TXID_HEADER,
};
use consort_kv::TxId;
use consort_ledger::storage::{DiskStorage, OpenMode, Storage, StorageFile};
use consort_node::{
    fatal::FatalLatch,
    node::{NodeState, StartOptions},
    NodeConfig,
};

/// The real filesystem, whose fsyncs fail once armed.
#[derive(Debug, Default)]
struct FailingDisk {
    armed: Arc<AtomicBool>,
}

#[derive(Debug)]
struct FailingFile {
    inner: Box<dyn StorageFile>,
    armed: Arc<AtomicBool>,
}

fn injected() -> io::Error {
    io::Error::other("injected fsync failure")
}

impl StorageFile for FailingFile {
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.armed.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        if self.armed.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.sync_all()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Storage for FailingDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        DiskStorage.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        DiskStorage.list_dir(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        DiskStorage.exists(path)
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        DiskStorage.file_len(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        DiskStorage.read(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        Ok(Box::new(FailingFile {
            inner: DiskStorage.open(path, mode)?,
            armed: self.armed.clone(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        DiskStorage.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        DiskStorage.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.armed.load(Ordering::SeqCst) {
            return Err(injected());
        }
        DiskStorage.sync_dir(dir)
    }
}

fn app() -> Registry {
    let mut r = Registry::new();
    r.add(
        http::Method::POST,
        "/app/put",
        Mode::ReadWrite,
        &[AuthPolicy::NoAuth],
        "write body under ?k",
        |ctx| {
            let k: String = ctx.req.query_param("k")?;
            ctx.tx.put("records", Bytes::from(k), ctx.req.body.clone());
            Ok(Response::json(&true))
        },
    );
    r
}

fn put(state: &NodeState, reg: &Registry, k: u32) -> Result<TxId, consort_endpoints::ApiError> {
    let (ep, _) = reg.route(&http::Method::POST, "/app/put").unwrap();
    let mut req = request(http::Method::POST, &format!("/app/put?k={k}"));
    req.body = Bytes::from(format!("v{k}"));
    let resp = execute(state, ep, &req)?;
    let (_, t) = resp.headers.iter().find(|(h, _)| h == TXID_HEADER).unwrap();
    Ok(t.parse().unwrap())
}

fn wait_committed(state: &NodeState, t: TxId) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while state.committed().seqno < t.seqno {
        assert!(Instant::now() < deadline, "{t} did not commit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_stops_the_node_and_a_restart_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let cfg = NodeConfig::new(addr, dir.path().join("node"));
    let disk = Arc::new(FailingDisk::default());
    let armed = disk.armed.clone();
    let stopped: Arc<Mutex<Vec<String>>> = Arc::default();
    let latch = {
        let stopped = stopped.clone();
        FatalLatch::new(Arc::new(move |line| {
            stopped.lock().unwrap().push(line.into())
        }))
    };
    let opts = StartOptions {
        fatal: latch.clone(),
        storage: disk,
    };
    let (cfg2, app2) = (cfg.clone(), app());
    let state = tokio::task::spawn_blocking(move || NodeState::start_with(cfg2, app2, opts))
        .await
        .unwrap()
        .unwrap();
    let reg = state.registry().clone();
    let s = state.clone();
    let committed = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !s.is_primary() {
            assert!(Instant::now() < deadline, "the node did not lead");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut done = Vec::new();
        for k in 0..20 {
            let t = put(&s, &reg, k).unwrap();
            done.push((k, t));
        }
        wait_committed(&s, done.last().unwrap().1);
        // The disk starts failing: the next signature's fsync fails.
        armed.store(true, Ordering::SeqCst);
        let mut refused = 0;
        for k in 100..200 {
            if put(&s, &reg, k).is_err() {
                refused += 1;
            }
            if latch.is_tripped() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            latch.is_tripped(),
            "the node kept going after a failed fsync"
        );
        // Stopped: nothing more is accepted.
        let e = put(&s, &reg, 999).unwrap_err();
        assert!(e.status.is_server_error(), "{e}");
        let _ = refused;
        done
    })
    .await
    .unwrap();
    let lines = stopped.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "one fatal line: {lines:?}");
    assert!(lines[0].starts_with("FATAL:"), "{}", lines[0]);
    assert!(lines[0].contains("injected fsync failure"), "{}", lines[0]);
    state.shutdown();
    drop(state);

    // Restart on the healthy disk: every committed write is there.
    let state = tokio::task::spawn_blocking(move || NodeState::start(cfg, app()))
        .await
        .unwrap()
        .unwrap();
    let snap = state.snapshot();
    for (k, t) in &committed {
        let v = snap.get("records", k.to_string().as_bytes());
        assert_eq!(
            v.as_deref(),
            Some(format!("v{k}").as_bytes()),
            "write {k} at {t} lost"
        );
    }
    // And the node works again.
    let s = state.clone();
    tokio::task::spawn_blocking(move || {
        let reg = s.registry().clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !s.is_primary() {
            assert!(Instant::now() < deadline, "the node did not lead");
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = put(&s, &reg, 7777).unwrap();
        wait_committed(&s, t);
    })
    .await
    .unwrap();
    state.shutdown();
}
