use std::fmt;

use aws_lc_rs::digest;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The all-zero digest (CCF's "no claims" value and the Merkle tree's first leaf).
    pub const ZERO: Sha256Digest = Sha256Digest([0u8; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse a 64-character hex string.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Sha256Digest(out))
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        Some(Sha256Digest(b.try_into().ok()?))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Sha256Digest {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Sha256Digest(out)
}

/// SHA-256 of the concatenation of `parts`, without allocating.
pub fn sha256_concat(parts: &[&[u8]]) -> Sha256Digest {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Sha256Digest(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            sha256(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_concat(&[b"a", b"bc"]), sha256(b"abc"));
    }

    #[test]
    fn hex_round_trip() {
        let d = sha256(b"x");
        assert_eq!(Sha256Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(Sha256Digest::from_hex("zz"), None);
    }
}
