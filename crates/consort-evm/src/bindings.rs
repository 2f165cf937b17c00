//! Which Ethereum addresses belong to which caller: the binding of an address to a
//! Consort identity (a user's TLS certificate, or a JWT issuer and subject).
//!
//! Two ways in:
//! - governance, `set_eth_address_binding` / `remove_eth_address_binding`, in
//!   [`GOV_BINDINGS`] (public, like every governance table and the proposals themselves);
//! - self-service proof of possession, `POST /app/eth/bind`: an EIP-191 (`personal_sign`)
//!   signature by the address's key over [`bind_message`], which names the caller and a
//!   nonce above the last one used for that address. Kept in the private [`BINDINGS`], so
//!   the host does not learn who holds which address.
//!
//! An address has one owner: binding an address that another caller holds is refused.

use alloy_primitives::{keccak256, Address};
use consort_endpoints::Caller;
use std::ops::Bound;

use consort_kv::{Bytes, Tx};
use serde::{Deserialize, Serialize};

/// Bindings made by governance: lowercase `0x…` address → `{"identity": …}`.
pub const GOV_BINDINGS: &str = "public:ccf.gov.eth.address_bindings";
/// Self-service bindings: address → [`Binding`] (private).
pub const BINDINGS: &str = "eth.address_bindings";
/// Each identity's own bound addresses, in the order they were bound (private):
/// `len(identity) (2 bytes) ‖ identity ‖ 0x00 ‖ seq (8, BE)` → address (20 bytes), and
/// `len ‖ identity ‖ 0xff` → the next seq. Binding is O(1) however many addresses an
/// identity holds.
pub const BY_IDENTITY: &str = "eth.identity_addresses";

/// A self-service binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub identity: String,
    /// The nonce of the signed message that made it (a later bind must use a higher one).
    pub nonce: u64,
    /// Its position among the identity's bindings ([`BY_IDENTITY`]).
    #[serde(default)]
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GovBinding {
    identity: String,
}

/// Why a binding was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BindError {
    #[error("the caller has no identity to bind addresses to")]
    Anonymous,
    #[error("signature must be 65 bytes of 0x-hex (r, s, v), as personal_sign returns")]
    MalformedSignature,
    #[error("the signature is by {recovered}, not by {address}")]
    WrongSigner {
        address: Address,
        recovered: Address,
    },
    #[error("nonce {given} is not above {last}, the last one used for {address}")]
    StaleNonce {
        address: Address,
        given: u64,
        last: u64,
    },
    #[error("{address} is bound to another identity")]
    Taken { address: Address },
    #[error("{address} is not bound to the caller")]
    NotBound { address: Address },
}

/// Who acts as a registered user in the Ethereum application when it presents a JWT:
/// [`jwt_identity`] → `{"user_id": …}` (governance: `set_eth_jwt_user`, so that tools that
/// can only send a bearer token — Foundry, hardhat, wallets — act as that user).
pub const GOV_JWT_USERS: &str = "public:ccf.gov.eth.jwt_users";

/// The identity of a JWT's holder: `jwt:<issuer>:<subject>`, with `%` and `:` in the
/// issuer escaped (`%25`, `%3A`) so that no issuer–subject pair reads as another
/// (`gov_actions.js` writes the same).
pub fn jwt_identity(issuer: &str, subject: &str) -> String {
    format!(
        "jwt:{}:{subject}",
        issuer.replace('%', "%25").replace(':', "%3A")
    )
}

#[derive(Deserialize)]
struct JwtUser {
    user_id: String,
}

/// The identity a caller's addresses are bound to: a user's id (hex SHA-256 of its
/// certificate); for a bearer token, the user governance made it act as
/// ([`GOV_JWT_USERS`]), else its [`jwt_identity`].
pub fn identity(tx: &mut Tx, caller: &Caller) -> Option<String> {
    match caller {
        Caller::User { id } => Some(id.clone()),
        Caller::Jwt { issuer, subject } => {
            let id = jwt_identity(issuer, subject);
            let user = tx
                .get(GOV_JWT_USERS, id.as_bytes())
                .and_then(|v| serde_json::from_slice::<JwtUser>(&v).ok());
            Some(user.map_or(id, |u| u.user_id))
        }
        Caller::Member { .. } | Caller::Node { .. } | Caller::Anonymous => None,
    }
}

/// The message the address's key signs (EIP-191) to bind it to `identity`.
pub fn bind_message(address: &Address, identity: &str, nonce: u64) -> String {
    format!("Bind Ethereum address {address:#x} to Consort identity {identity} (nonce {nonce})")
}

fn key(a: &Address) -> Vec<u8> {
    format!("{a:#x}").into_bytes()
}

/// The digest `personal_sign` (EIP-191) signs for `message`.
fn personal_digest(message: &str) -> secp256k1::Message {
    let prefixed = format!("\x19Ethereum Signed Message:\n{}{message}", message.len());
    secp256k1::Message::from_digest(keccak256(prefixed.as_bytes()).0)
}

/// `personal_sign` (EIP-191) of `message` by `key`, as wallets make it: 65 bytes r ‖ s ‖ v
/// (v 27/28). What [`recover_personal`] checks; for clients and tools that bind addresses.
pub fn personal_sign(key: &secp256k1::SecretKey, message: &str) -> Vec<u8> {
    let (id, rs) = secp256k1::SECP256K1
        .sign_ecdsa_recoverable(&personal_digest(message), key)
        .serialize_compact();
    let mut out = rs.to_vec();
    out.push(27 + i32::from(id) as u8);
    out
}

/// The address whose key made `signature` (65 bytes: r, s, v with v 27/28 or 0/1) over
/// `message` as `personal_sign` signs it.
pub fn recover_personal(message: &str, signature: &[u8]) -> Result<Address, BindError> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let [rs @ .., v] = signature else {
        return Err(BindError::MalformedSignature);
    };
    if rs.len() != 64 {
        return Err(BindError::MalformedSignature);
    }
    let id = match v {
        27 | 28 => v - 27,
        0 | 1 => *v,
        _ => return Err(BindError::MalformedSignature),
    };
    let id = RecoveryId::try_from(i32::from(id)).map_err(|_| BindError::MalformedSignature)?;
    let sig =
        RecoverableSignature::from_compact(rs, id).map_err(|_| BindError::MalformedSignature)?;
    let pk = secp256k1::SECP256K1
        .recover_ecdsa(&personal_digest(message), &sig)
        .map_err(|_| BindError::MalformedSignature)?;
    Ok(Address::from_slice(
        &keccak256(&pk.serialize_uncompressed()[1..])[12..],
    ))
}

/// Who `address` is bound to, if anyone (governance's binding first).
pub fn owner(tx: &mut Tx, address: &Address) -> Option<String> {
    if let Some(g) = tx
        .get(GOV_BINDINGS, &key(address))
        .and_then(|v| serde_json::from_slice::<GovBinding>(&v).ok())
    {
        return Some(g.identity);
    }
    self_binding(tx, address)
        .map(|b| b.identity)
        .filter(|i| !i.is_empty())
}

fn self_binding(tx: &mut Tx, address: &Address) -> Option<Binding> {
    tx.get(BINDINGS, &key(address))
        .and_then(|v| serde_json::from_slice(&v).ok())
}

fn identity_prefix(identity: &str) -> Vec<u8> {
    let len = u16::try_from(identity.len()).unwrap_or(u16::MAX);
    let mut k = len.to_be_bytes().to_vec();
    k.extend_from_slice(identity.as_bytes());
    k
}

fn listed_key(identity: &str, seq: u64) -> Vec<u8> {
    let mut k = identity_prefix(identity);
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn counter_key(identity: &str) -> Vec<u8> {
    let mut k = identity_prefix(identity);
    k.push(0xff);
    k
}

fn listed(tx: &mut Tx, identity: &str) -> Vec<Address> {
    let mut from = identity_prefix(identity);
    from.push(0);
    let mut to = identity_prefix(identity);
    to.push(1);
    tx.range(
        BY_IDENTITY,
        &(Bound::Included(&from[..]), Bound::Excluded(&to[..])),
    )
    .into_iter()
    .filter(|(_, v)| v.len() == 20)
    .map(|(_, v)| Address::from_slice(&v))
    .collect()
}

/// The addresses bound to `identity`: governance's (in address order), then its own (in
/// the order it bound them).
pub fn addresses(tx: &mut Tx, identity: &str) -> Vec<Address> {
    let mut out: Vec<Address> = Vec::new();
    let mut after: Option<Bytes> = None;
    loop {
        let (page, next) = tx.page(GOV_BINDINGS, after.as_deref(), 256);
        for (k, v) in &page {
            let mine =
                serde_json::from_slice::<GovBinding>(v).is_ok_and(|g| g.identity == identity);
            if let (true, Some(a)) = (
                mine,
                std::str::from_utf8(k).ok().and_then(|s| s.parse().ok()),
            ) {
                out.push(a);
            }
        }
        match next {
            Some(n) if !page.is_empty() => after = Some(n),
            _ => break,
        }
    }
    for a in listed(tx, identity) {
        if !out.contains(&a) && owner(tx, &a).as_deref() == Some(identity) {
            out.push(a);
        }
    }
    out
}

/// Bind `address` to `identity` on the proof that its key signed
/// [`bind_message`]`(address, identity, nonce)`.
pub fn bind(
    tx: &mut Tx,
    identity: &str,
    address: &Address,
    nonce: u64,
    signature: &[u8],
) -> Result<(), BindError> {
    let recovered = recover_personal(&bind_message(address, identity, nonce), signature)?;
    if recovered != *address {
        return Err(BindError::WrongSigner {
            address: *address,
            recovered,
        });
    }
    let last = self_binding(tx, address).map(|b| b.nonce);
    if let Some(last) = last.filter(|&l| nonce <= l) {
        return Err(BindError::StaleNonce {
            address: *address,
            given: nonce,
            last,
        });
    }
    match owner(tx, address) {
        Some(o) if o != identity => return Err(BindError::Taken { address: *address }),
        _ => {}
    }
    if let Some(b) = self_binding(tx, address).filter(|b| b.identity == identity) {
        // Already bound to the caller: only the nonce moves on.
        let b = Binding { nonce, ..b };
        tx.put(
            BINDINGS,
            key(address),
            serde_json::to_vec(&b).expect("json"),
        );
        return Ok(());
    }
    let counter = counter_key(identity);
    let seq = tx
        .get(BY_IDENTITY, &counter)
        .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
        .map_or(0, u64::from_be_bytes);
    tx.put(BY_IDENTITY, counter, (seq + 1).to_be_bytes().to_vec());
    tx.put(
        BY_IDENTITY,
        listed_key(identity, seq),
        address.as_slice().to_vec(),
    );
    let b = Binding {
        identity: identity.to_string(),
        nonce,
        seq,
    };
    tx.put(
        BINDINGS,
        key(address),
        serde_json::to_vec(&b).expect("json"),
    );
    Ok(())
}

/// Undo `identity`'s own binding of `address` (its nonce is kept, so an old signed
/// message cannot bind it again).
pub fn unbind(tx: &mut Tx, identity: &str, address: &Address) -> Result<(), BindError> {
    let Some(mut b) = self_binding(tx, address).filter(|b| b.identity == identity) else {
        return Err(BindError::NotBound { address: *address });
    };
    tx.remove(BY_IDENTITY, listed_key(identity, b.seq));
    b.identity = String::new();
    tx.put(
        BINDINGS,
        key(address),
        serde_json::to_vec(&b).expect("json"),
    );
    Ok(())
}

#[cfg(test)]
#[path = "bindings_test.rs"]
mod bindings_test;
