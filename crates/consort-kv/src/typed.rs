//! Typed handles over maps: a [`Codec`] for keys and one for values.
//!
//! CCF's conventions are available as codecs: [`Json`] (governance tables), [`Str`] (ids
//! stored as raw UTF-8), [`Raw`] bytes, [`U64Le`], and [`Singleton`] tables keyed by eight
//! zero bytes.

use std::marker::PhantomData;

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

use crate::{KvError, Source, Tx};

/// Why bytes stored in a map do not decode as the typed handle's type.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error("expected {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
}

/// Encodes and decodes `T` to and from the bytes stored in a map.
pub trait Codec<T> {
    fn encode(value: &T) -> Vec<u8>;
    fn decode(bytes: &[u8]) -> Result<T, CodecError>;
}

/// JSON via serde.
#[derive(Debug)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    fn encode(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("serializable value")
    }
    fn decode(bytes: &[u8]) -> Result<T, CodecError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Raw UTF-8 strings.
#[derive(Debug)]
pub struct Str;

impl Codec<String> for Str {
    fn encode(value: &String) -> Vec<u8> {
        value.as_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<String, CodecError> {
        Ok(String::from_utf8(bytes.to_vec())?)
    }
}

/// Raw bytes.
#[derive(Debug)]
pub struct Raw;

impl Codec<Vec<u8>> for Raw {
    fn encode(value: &Vec<u8>) -> Vec<u8> {
        value.clone()
    }
    fn decode(bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
        Ok(bytes.to_vec())
    }
}

/// Little-endian `u64` (CCF's integer keys).
#[derive(Debug)]
pub struct U64Le;

impl Codec<u64> for U64Le {
    fn encode(value: &u64) -> Vec<u8> {
        value.to_le_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<u64, CodecError> {
        let a = eight_bytes(bytes)?;
        Ok(u64::from_le_bytes(a))
    }
}

/// Big-endian `u64`: sorts numerically in an ordered map.
#[derive(Debug)]
pub struct U64Be;

impl Codec<u64> for U64Be {
    fn encode(value: &u64) -> Vec<u8> {
        value.to_be_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Result<u64, CodecError> {
        let a = eight_bytes(bytes)?;
        Ok(u64::from_be_bytes(a))
    }
}

/// The key CCF uses for single-value tables: eight zero bytes.
pub const SINGLETON_KEY: [u8; 8] = [0u8; 8];

type Types<K, V, KC, VC> = fn() -> (K, V, KC, VC);

fn codec_error(map: &str) -> impl FnOnce(CodecError) -> KvError + '_ {
    move |source| KvError::Codec {
        map: map.to_string(),
        source,
    }
}

fn eight_bytes(bytes: &[u8]) -> Result<[u8; 8], CodecError> {
    bytes.try_into().map_err(|_| CodecError::Length {
        expected: 8,
        got: bytes.len(),
    })
}

/// A typed map handle.
#[derive(Debug)]
pub struct Map<K, V, KC, VC> {
    name: &'static str,
    _p: PhantomData<Types<K, V, KC, VC>>,
}

impl<K, V, KC: Codec<K>, VC: Codec<V>> Map<K, V, KC, VC> {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            _p: PhantomData,
        }
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }

    fn decode_value(&self, b: &[u8]) -> Result<V, KvError> {
        VC::decode(b).map_err(codec_error(self.name))
    }

    /// The value at `key`, from a transaction or a snapshot.
    pub fn get<S: Source + ?Sized>(&self, src: &mut S, key: &K) -> Result<Option<V>, KvError> {
        src.read(self.name, &KC::encode(key))
            .map(|b| self.decode_value(&b))
            .transpose()
    }

    /// Whether `key` is present.
    pub fn contains<S: Source + ?Sized>(&self, src: &mut S, key: &K) -> bool {
        src.read(self.name, &KC::encode(key)).is_some()
    }

    pub fn put(&self, tx: &mut Tx, key: &K, value: &V) {
        tx.put(
            self.name,
            Bytes::from(KC::encode(key)),
            Bytes::from(VC::encode(value)),
        );
    }

    pub fn remove(&self, tx: &mut Tx, key: &K) -> bool {
        tx.remove(self.name, Bytes::from(KC::encode(key)))
    }

    /// Every entry, in key order.
    pub fn entries<S: Source + ?Sized>(&self, src: &mut S) -> Result<Vec<(K, V)>, KvError> {
        src.read_all(self.name)
            .into_iter()
            .map(|(k, v)| {
                let k = KC::decode(&k).map_err(codec_error(self.name))?;
                Ok((k, self.decode_value(&v)?))
            })
            .collect()
    }
}

/// A single-value table (key [`SINGLETON_KEY`]).
#[derive(Debug)]
pub struct Value<V, VC> {
    name: &'static str,
    _p: PhantomData<fn() -> (V, VC)>,
}

impl<V, VC: Codec<V>> Value<V, VC> {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            _p: PhantomData,
        }
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The value, from a transaction or a snapshot.
    pub fn get<S: Source + ?Sized>(&self, src: &mut S) -> Result<Option<V>, KvError> {
        src.read(self.name, &SINGLETON_KEY)
            .map(|b| VC::decode(&b).map_err(codec_error(self.name)))
            .transpose()
    }

    pub fn put(&self, tx: &mut Tx, value: &V) {
        tx.put(
            self.name,
            Bytes::from_static(&SINGLETON_KEY),
            Bytes::from(VC::encode(value)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Info {
        status: String,
    }

    const NODES: Map<String, Info, Str, Json> = Map::new("public:ccf.gov.nodes.info");
    const SERVICE: Value<Info, Json> = Value::new("public:ccf.gov.service.info");

    #[test]
    fn typed_round_trip() {
        let store = Store::new();
        let mut tx = store.begin();
        NODES.put(
            &mut tx,
            &"n1".to_string(),
            &Info {
                status: "Trusted".into(),
            },
        );
        SERVICE.put(
            &mut tx,
            &Info {
                status: "Open".into(),
            },
        );
        store
            .commit(tx, |_| Ok::<_, std::convert::Infallible>(()))
            .unwrap();
        let mut tx = store.begin();
        assert_eq!(
            NODES.get(&mut tx, &"n1".to_string()).unwrap(),
            Some(Info {
                status: "Trusted".into()
            })
        );
        assert_eq!(SERVICE.get(&mut tx).unwrap().unwrap().status, "Open");
        assert_eq!(
            tx.get("public:ccf.gov.nodes.info", b"n1").unwrap().as_ref(),
            br#"{"status":"Trusted"}"#
        );
        assert_eq!(NODES.entries(&mut tx).unwrap().len(), 1);
        // A value that is not valid JSON is a codec error, not a panic.
        let mut tx = store.begin();
        tx.put("public:ccf.gov.nodes.info", &b"bad"[..], &b"{"[..]);
        let e = NODES.get(&mut tx, &"bad".to_string()).unwrap_err();
        assert!(
            matches!(&e, KvError::Codec { map, source: CodecError::Json(_) } if map == NODES.name()),
            "{e}"
        );
        assert!(!e.is_retryable());
        assert_eq!(
            U64Le::decode(b"abc").unwrap_err().to_string(),
            "expected 8 bytes, got 3"
        );
        assert!(matches!(Str::decode(&[0xff]), Err(CodecError::Utf8(_))));
    }
}
