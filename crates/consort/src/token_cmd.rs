//! `consort token`: a JWT issuer for tools that can only send a bearer token (Foundry,
//! hardhat, viem, wallets). `issuer` makes (or reuses) an ES384 signing key and prints the
//! governance action that trusts it; `mint` signs a token for a subject. The key never
//! leaves this machine; tokens are written owner-only and never printed.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::Subcommand;
use consort_crypto::keys::SigningKey;
use serde_json::{json, Value};

/// The issuer name `consort sandbox --eth` and these commands use unless told otherwise.
pub(crate) const DEV_ISSUER: &str = "consort-dev";

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// Make (or reuse) an issuer's ES384 signing key and print the `set_jwt_issuer` action
    /// that makes the service trust its tokens (propose it with `consort gov propose`).
    Issuer {
        /// The issuer's private key (PEM); made, owner-only, if it does not exist.
        #[arg(long)]
        issuer_key: PathBuf,
        /// The issuer name tokens carry (`iss`).
        #[arg(long, default_value = DEV_ISSUER)]
        issuer: String,
    },
    /// Sign a token for `--user` (its `sub`) with the issuer's key and write it to `--out`
    /// (owner-only), or to stdout with `--out -`.
    Mint {
        /// The subject: the name the token's holder goes by (`sub`).
        #[arg(long)]
        user: String,
        /// The issuer's private key (PEM), as `consort token issuer` made it.
        #[arg(long)]
        issuer_key: PathBuf,
        /// The issuer name (`iss`); must be the one governance trusts.
        #[arg(long, default_value = DEV_ISSUER)]
        issuer: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
        /// Where to write the token.
        #[arg(long)]
        out: PathBuf,
    },
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The issuer key at `path`, made (owner-only) if there is none.
pub(crate) fn issuer_key(path: &Path) -> Result<SigningKey> {
    if !path.exists() {
        let k = SigningKey::generate()?;
        crate::keygen::write_file(path, &k.to_pem(), true)?;
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    SigningKey::from_pem(&text)
        .with_context(|| format!("{} is not a P-384 private key (PEM)", path.display()))
}

/// The public JWK of `key` (P-384, `kid` = the SHA-256 of its public key).
pub(crate) fn jwk(key: &SigningKey) -> Value {
    let point = key.public_key_point();
    // An uncompressed point: 0x04 ‖ x (48) ‖ y (48).
    let (x, y) = point[1..].split_at(48);
    json!({
        "kty": "EC", "crv": "P-384", "alg": "ES384", "use": "sig",
        "kid": key.public_key_id(), "x": b64(x), "y": b64(y),
    })
}

/// The governance action that trusts `issuer` with `key`.
pub(crate) fn set_issuer_action(key: &SigningKey, issuer: &str) -> Value {
    json!({"name": "set_jwt_issuer", "args": {
        "issuer": issuer, "auto_refresh": false, "jwks": {"keys": [jwk(key)]},
    }})
}

/// A compact ES384 JWS for `subject`, valid from a minute ago for `ttl` seconds.
pub(crate) fn mint(key: &SigningKey, issuer: &str, subject: &str, ttl: u64) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let header = json!({"alg": "ES384", "typ": "JWT", "kid": key.public_key_id()});
    let claims = json!({
        "iss": issuer, "sub": subject, "iat": now, "nbf": now.saturating_sub(60),
        "exp": now + ttl,
    });
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = key.sign_es384(signed.as_bytes())?;
    Ok(format!("{signed}.{}", b64(&sig)))
}

pub(crate) fn run(cmd: TokenCmd) -> Result<std::process::ExitCode> {
    match cmd {
        TokenCmd::Issuer {
            issuer_key: p,
            issuer,
        } => {
            let key = issuer_key(&p)?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({"actions": [set_issuer_action(&key, &issuer)]})
                )?
            );
        }
        TokenCmd::Mint {
            user,
            issuer_key: p,
            issuer,
            ttl,
            out,
        } => {
            if !p.exists() {
                bail!(
                    "no issuer key at {} (make one with consort token issuer)",
                    p.display()
                );
            }
            if user.is_empty() {
                bail!("--user must not be empty");
            }
            let token = mint(&issuer_key(&p)?, &issuer, &user, ttl)?;
            if out == Path::new("-") {
                println!("{token}");
            } else {
                crate::keygen::write_file(&out, &token, true)?;
                println!("{}", out.display());
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
#[path = "token_cmd_test.rs"]
mod token_cmd_test;
