//! Shamir secret sharing over GF(2^8): a secret of any length is split byte by byte into
//! `count` shares, any `threshold` of which give it back and fewer of which say nothing
//! about it (every secret is equally consistent with them).
//!
//! A share is `x ‖ y₀ … yₙ₋₁`: its x-coordinate (1..=255, never 0, which is where the
//! secret lies) and one y per secret byte. Field arithmetic is branch-free on the values
//! (no tables indexed by secret data). Used for the recovery shares of the ledger-secret
//! wrapping key.

use zeroize::Zeroizing;

use crate::{random_bytes, CryptoError};

/// One share, as serialized: x-coordinate, then the y-values. Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Share(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share(x={}, <redacted>)", self.x())
    }
}

impl Share {
    /// Parse a serialized share: at least one y-value and a non-zero x.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() < 2 {
            return Err(CryptoError::InvalidShare(
                "a share is at least 2 bytes".into(),
            ));
        }
        if bytes[0] == 0 {
            return Err(CryptoError::InvalidShare(
                "a share's x-coordinate is never 0".into(),
            ));
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The x-coordinate (1..=255).
    pub fn x(&self) -> u8 {
        self.0[0]
    }

    fn y(&self) -> &[u8] {
        &self.0[1..]
    }
}

/// GF(2^8) multiplication modulo x⁸ + x⁴ + x³ + x + 1 (AES's field), without branches on
/// the operands.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    for _ in 0..8 {
        p ^= a & 0u8.wrapping_sub(b & 1);
        let hi = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & hi);
        b >>= 1;
    }
    p
}

/// Multiplicative inverse (a²⁵⁴); `inv(0)` is 0 and never asked for.
fn inv(a: u8) -> u8 {
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    r
}

/// Split `secret` into `count` shares, any `threshold` of which recover it
/// (`1 <= threshold <= count <= 255`).
pub fn split(secret: &[u8], threshold: usize, count: usize) -> Result<Vec<Share>, CryptoError> {
    if secret.is_empty() {
        return Err(CryptoError::InvalidShare("nothing to share".into()));
    }
    if threshold == 0 || threshold > count || count > 255 {
        return Err(CryptoError::InvalidShare(format!(
            "cannot split into {count} shares with threshold {threshold} (need 1 <= threshold <= count <= 255)"
        )));
    }
    // Coefficients 1..threshold-1 of one random polynomial per secret byte.
    let mut coeffs = Zeroizing::new(vec![0u8; secret.len() * (threshold - 1)]);
    random_bytes(&mut coeffs)?;
    let mut shares = Vec::with_capacity(count);
    for x in 1..=count as u8 {
        let mut out = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
        out.push(x);
        for (i, s) in secret.iter().enumerate() {
            let c = &coeffs[i * (threshold - 1)..(i + 1) * (threshold - 1)];
            // Horner: ((c_{t-1} x + c_{t-2}) x + ... + c_1) x + s.
            let mut y = 0u8;
            for &ck in c.iter().rev() {
                y = mul(y, x) ^ ck;
            }
            y = mul(y, x) ^ s;
            out.push(y);
        }
        shares.push(Share(out));
    }
    Ok(shares)
}

/// The secret the given shares lie on (Lagrange interpolation at 0). Give at least the
/// threshold of shares: fewer give a wrong value, which only a check of the result (e.g.
/// an authenticated decryption with it) can tell.
pub fn combine(shares: &[Share]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(first) = shares.first() else {
        return Err(CryptoError::InvalidShare("no shares".into()));
    };
    let len = first.y().len();
    for (i, s) in shares.iter().enumerate() {
        if s.y().len() != len {
            return Err(CryptoError::InvalidShare(
                "shares of different lengths".into(),
            ));
        }
        if shares[..i].iter().any(|o| o.x() == s.x()) {
            return Err(CryptoError::InvalidShare(format!(
                "two shares with x-coordinate {}",
                s.x()
            )));
        }
    }
    // Lagrange basis at 0: l_j = Π_{m≠j} x_m / (x_m - x_j); subtraction is XOR.
    let basis: Vec<u8> = shares
        .iter()
        .map(|sj| {
            let (mut num, mut den) = (1u8, 1u8);
            for sm in shares.iter().filter(|sm| sm.x() != sj.x()) {
                num = mul(num, sm.x());
                den = mul(den, sm.x() ^ sj.x());
            }
            mul(num, inv(den))
        })
        .collect();
    let mut secret = Zeroizing::new(vec![0u8; len]);
    for (s, l) in shares.iter().zip(&basis) {
        for (out, y) in secret.iter_mut().zip(s.y()) {
            *out ^= mul(*y, *l);
        }
    }
    Ok(secret)
}

#[cfg(test)]
#[path = "sharing_test.rs"]
mod sharing_test;
