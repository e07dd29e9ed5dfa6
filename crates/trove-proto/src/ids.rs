//! Identifiers: node, share, content and manifest ids, DHT keys and public keys
//! (SCP2P-WIRE.md §6). Each is a fixed-size byte newtype that prints and parses as hex and
//! encodes as an array of integers in text-keyed structures.

use crate::cbor::{self, EncResult};
use crate::error::ProtoError;
use minicbor::encode::Write;
use minicbor::{Decoder, Encoder};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first 8 hex digits, for messages and logs.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }

            /// Parses exactly `2 × LEN` hex digits.
            pub fn from_hex(s: &str) -> Result<Self, ProtoError> {
                let s = s.trim();
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).map_err(|e| {
                    ProtoError::parse($what, s, format!("expected {} hex digits ({e})", 2 * $len))
                })?;
                Ok(Self(out))
            }

            /// Builds from a slice of exactly `LEN` bytes.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(b).ok().map(Self)
            }

            /// Decodes from a byte string or an integer array (text-keyed struct fields).
            pub fn decode_field(d: &mut Decoder<'_>) -> Result<Self, minicbor::decode::Error> {
                cbor::fixed::<$len>(d, $what).map(Self)
            }

            /// Decodes from a byte string of exactly `LEN` bytes (integer-keyed messages).
            pub fn decode_bstr(d: &mut Decoder<'_>) -> Result<Self, minicbor::decode::Error> {
                cbor::bstr_fixed::<$len>(d, $what).map(Self)
            }

            /// Encodes as a byte string (integer-keyed messages).
            pub fn encode_bstr<W: Write>(&self, e: &mut Encoder<W>) -> EncResult<W> {
                e.bytes(&self.0)?;
                Ok(())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = ProtoError;
            fn from_str(s: &str) -> Result<Self, ProtoError> {
                Self::from_hex(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }

        impl<C> minicbor::Encode<C> for $name {
            fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
                cbor::write_int_array(e, &self.0)
            }
        }

        impl<'b, C> minicbor::Decode<'b, C> for $name {
            fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, minicbor::decode::Error> {
                Self::decode_field(d)
            }
        }
    };
}

byte_id!(
    /// Kademlia identity of a node: SHA-256(node public key)[0..20].
    NodeId, 20, "node id"
);
byte_id!(
    /// Identity of a share (and of a community): SHA-256(share public key).
    ShareId, 32, "share id"
);
byte_id!(
    /// Identity of a file: BLAKE3 of its bytes.
    ContentId, 32, "content id"
);
byte_id!(
    /// Identity of a manifest revision: BLAKE3 of its content tuple (SCP2P-WIRE.md §7.3).
    ManifestId, 32, "manifest id"
);
byte_id!(
    /// A 32-byte DHT key.
    DhtKey, 32, "DHT key"
);
byte_id!(
    /// An Ed25519 public key (node, share, community or relay key).
    PubKey, 32, "public key"
);

impl PubKey {
    /// NodeId of this key, when it is a node key.
    pub fn node_id(&self) -> NodeId {
        let h = Sha256::digest(self.0);
        let mut id = [0u8; 20];
        id.copy_from_slice(&h[..20]);
        NodeId(id)
    }

    /// ShareId of this key, when it is a share key.
    pub fn share_id(&self) -> ShareId {
        ShareId(Sha256::digest(self.0).into())
    }
}

impl DhtKey {
    /// The Kademlia lookup target of a 32-byte key: its first 20 bytes.
    pub fn target(&self) -> NodeId {
        let mut id = [0u8; 20];
        id.copy_from_slice(&self.0[..20]);
        NodeId(id)
    }
}

impl NodeId {
    /// XOR distance to another id.
    pub fn distance(&self, other: &NodeId) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.0[i] ^ other.0[i];
        }
        out
    }
}

/// An Ed25519 signature as raw bytes.
pub type Sig = [u8; 64];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let id = ShareId([0xab; 32]);
        assert_eq!(ShareId::from_hex(&id.to_hex()).unwrap(), id);
        let e = ShareId::from_hex("abc").unwrap_err().to_string();
        assert!(e.contains("share id") && e.contains("64 hex digits"), "{e}");
        assert!(NodeId::from_hex(&"0".repeat(40)).is_ok());
    }
}
