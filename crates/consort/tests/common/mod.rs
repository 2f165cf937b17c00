//! Shared helpers for end-to-end tests: the Python interpreter with CCF's `ccf` package.

#![allow(dead_code, unreachable_pub)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// Workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Python with `ccf` installed: `$CONSORT_PYTHON`, else `.venv/bin/python` at the
/// workspace root (made by `scripts/test.sh`). Missing is a failure, never a skip.
pub fn python() -> PathBuf {
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

pub fn run_python(args: &[&str]) -> Output {
    let out = Command::new(python())
        .args(args)
        .output()
        .expect("run python");
    out
}

/// The `consort` binary built for these tests.
pub fn consort() -> Command {
    Command::new(env!("CARGO_BIN_EXE_consort"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
