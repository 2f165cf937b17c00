//! `consort keygen`: identities for members and users, made locally; private keys never
//! leave this machine.

#![allow(clippy::print_stdout)]

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::{Context, Result};
use consort_crypto::{cert, keys::SigningKey, rsa};

/// Write `text` to `path`, owner-only when `private`.
pub(crate) fn write_file(path: &Path, text: &str, private: bool) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Create `<name>_privk.pem` and `<name>_cert.pem` (P-384, self-signed, CN=name) in `dir`,
/// plus `<name>_enc_privk.pem`/`<name>_enc_pubk.pem` (RSA-2048) with `encryption`.
/// Existing files are kept.
pub(crate) fn make_identity(dir: &Path, name: &str, encryption: bool) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let cert_path = dir.join(format!("{name}_cert.pem"));
    let key_path = dir.join(format!("{name}_privk.pem"));
    if !cert_path.exists() || !key_path.exists() {
        let key = SigningKey::generate()?;
        let c = cert::self_signed_leaf(&key, name, 365)?;
        write_file(&key_path, &key.to_pem(), true)?;
        write_file(&cert_path, &c.to_pem(), false)?;
    }
    if encryption {
        let pubk = dir.join(format!("{name}_enc_pubk.pem"));
        let privk = dir.join(format!("{name}_enc_privk.pem"));
        if !pubk.exists() || !privk.exists() {
            let (k, p) = rsa::generate_rsa_2048_pem()?;
            write_file(&privk, &k, true)?;
            write_file(&pubk, &p, false)?;
        }
    }
    Ok(())
}

pub(crate) fn run(name: &str, dir: &Path, encryption: bool) -> Result<std::process::ExitCode> {
    make_identity(dir, name, encryption)?;
    println!("{}", dir.join(format!("{name}_cert.pem")).display());
    println!("{}", dir.join(format!("{name}_privk.pem")).display());
    if encryption {
        println!("{}", dir.join(format!("{name}_enc_pubk.pem")).display());
        println!("{}", dir.join(format!("{name}_enc_privk.pem")).display());
    }
    Ok(std::process::ExitCode::SUCCESS)
}
