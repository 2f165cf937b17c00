//! Shared helpers for end-to-end tests: the Python interpreter with CCF's `ccf` package.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// Workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Python with `ccf` installed: `$CONSORT_PYTHON`, else `.venv/bin/python` at the
/// workspace root (made by `scripts/test.sh`). Missing is a failure, never a skip.
pub(crate) fn python() -> PathBuf {
    let p = std::env::var_os("CONSORT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "Python with the `ccf` package not found at {} - run scripts/test.sh (it creates .venv) or set CONSORT_PYTHON",
        p.display()
    );
    p
}

pub(crate) fn run_python(args: &[&str]) -> Output {
    let out = Command::new(python())
        .args(args)
        .output()
        .expect("run python");
    out
}

/// The `consort` binary built for these tests.
pub(crate) fn consort() -> Command {
    Command::new(env!("CARGO_BIN_EXE_consort"))
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    free_port_on(std::net::Ipv4Addr::LOCALHOST)
}

/// A free TCP port on `ip` for a node to listen on, picked at random below the kernel's
/// ephemeral range (a port the kernel handed out could become the local end of an outgoing
/// connection before the node binds it, and the node would fail to start).
pub(crate) fn free_port_on(ip: std::net::Ipv4Addr) -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (lo, hi) = (10_000u32, u32::from(ephemeral_start.max(10_001)));
    let start = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let span = hi - lo;
    (0..span)
        .map(|i| (lo + ((start % u64::from(span)) as u32 + i * 7919) % span) as u16)
        .find(|p| std::net::TcpListener::bind((ip, *p)).is_ok())
        .unwrap_or_else(|| {
            std::net::TcpListener::bind((ip, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
}

/// A `consort sandbox` process, stopped (SIGTERM) on drop.
pub(crate) struct Sandbox {
    pub(crate) child: std::process::Child,
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) stdout: String,
    _tmp: Option<tempfile::TempDir>,
}

impl Sandbox {
    /// Start a sandbox in a fresh temporary directory and wait for its `ready` line.
    pub(crate) fn start() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Sandbox::start_in(&dir);
        s._tmp = Some(tmp);
        s
    }

    pub(crate) fn start_in(dir: &Path) -> Sandbox {
        Sandbox::start_with(dir, &[])
    }

    /// Start a sandbox in `dir` with `extra` command-line arguments.
    pub(crate) fn start_with(dir: &Path, extra: &[&str]) -> Sandbox {
        use std::io::BufRead;
        let port = free_port();
        let mut child = consort()
            .args(["sandbox", "--dir"])
            .arg(dir)
            .args(["--port", &port.to_string(), "--signature-ms", "50"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut reader = std::io::BufReader::new(out);
        let mut stdout = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("sandbox exited before ready:\n{stdout}");
            }
            stdout.push_str(&line);
            if line.trim() == "ready" {
                break;
            }
        }
        // Keep draining stdout so the sandbox never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        Sandbox {
            child,
            dir: dir.to_path_buf(),
            port,
            stdout,
            _tmp: None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn file(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    /// curl with the service certificate trusted and `who`'s identity (or none).
    pub(crate) fn curl(&self, who: Option<&str>, args: &[&str]) -> (u16, String, String) {
        let mut c = Command::new("curl");
        c.args([
            "-sS",
            "--cacert",
            &self.file("service_cert.pem"),
            "-D",
            "-",
            "-o",
            "-",
        ]);
        if let Some(w) = who {
            c.args([
                "--cert",
                &self.file(&format!("{w}_cert.pem")),
                "--key",
                &self.file(&format!("{w}_privk.pem")),
            ]);
        }
        c.args(args);
        let out = c
            .output()
            .expect("curl is required by the end-to-end tests");
        assert!(out.status.success(), "curl failed: {}", text(&out.stderr));
        let all = text(&out.stdout);
        let (head, body) = all.split_once("\r\n\r\n").unwrap_or((&all, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let txid = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("x-ms-ccf-transaction-id:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        (status, txid, body.to_string())
    }

    /// Wait until `txid` is Committed (per /node/tx).
    pub(crate) fn wait_committed(&self, txid: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (s, _, body) = self.curl(
                None,
                &[&self.url(&format!("/node/tx?transaction_id={txid}"))],
            );
            assert_eq!(s, 200, "{body}");
            let j: serde_json::Value = serde_json::from_str(&body).unwrap();
            match j["status"].as_str().unwrap() {
                "Committed" => return,
                "Pending" | "Unknown" => {}
                other => panic!("{txid} became {other}"),
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{txid} not committed in time"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
pub(crate) mod eth;
pub(crate) mod linearizability;
pub(crate) mod network;
pub(crate) mod workload;

/// A reply's JSON body (or its text as a JSON string).
pub(crate) fn body(r: &consort_client::Reply) -> serde_json::Value {
    r.json()
        .unwrap_or_else(|_| serde_json::json!(String::from_utf8_lossy(&r.body)))
}

/// A 2xx reply's JSON body; anything else fails the test with the reply.
pub(crate) fn ok(r: &consort_client::Reply) -> serde_json::Value {
    assert!(
        (200..300).contains(&r.status),
        "HTTP {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    body(r)
}
