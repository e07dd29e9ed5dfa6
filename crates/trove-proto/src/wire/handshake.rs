//! The handshake message (SCP2P-WIRE.md §2): `HandshakeHello`, its signed 7-tuple, the
//! session secret, and trove's extension carried in the extra key `trove` (docs/PROTOCOL.md):
//! extension version, features, and the channel-binding signature. The nonce of a trove node
//! carries a marker inside the v1-signed bytes, so a stripped extension is detectable.

use super::capabilities::Capabilities;
use super::peer_addr::{PeerAddr, encode_peer_list};
use crate::cbor::{self, EncResult};
use crate::error::ProtoError;
use crate::ids::{PubKey, Sig};
use crate::keys::{self, Keypair};
use crate::limits::HANDSHAKE_MAX_SKEW_SECS;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// The hello map key holding trove's extension.
pub const EXT_KEY: &str = "trove";
/// Current extension version.
pub const EXT_VERSION: u16 = 1;
/// Most features one hello may list.
pub const MAX_FEATURES: usize = 64;
/// Most listen addresses one hello may carry.
pub const MAX_HELLO_ADDRS: usize = 8;
/// Context of the v1 session-secret derivation.
pub const SESSION_SECRET_CONTEXT: &str = "scp2p-handshake-session-secret-v1";
/// Context of the nonce marker derivation.
const NONCE_MARKER_CONTEXT: &str = "trove 2026 handshake nonce marker v1";
/// Domain separation prefix of the channel-binding signature.
pub const BINDING_CONTEXT: &[u8] = b"trove/channel-binding/v1";

/// trove's handshake extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloExt {
    /// Extension version ([`EXT_VERSION`]).
    pub version: u16,
    /// Feature names the sender supports (see docs/PROTOCOL.md).
    pub features: Vec<String>,
    /// Signature by the node key over [`binding_message`].
    pub binding: Option<Sig>,
    /// Addresses the sender listens on (hints: a receiver verifies one by dialing it before
    /// putting the sender in its routing table). Omitted when empty.
    pub addrs: Vec<PeerAddr>,
}

impl HelloExt {
    /// Whether the sender listed `feature`.
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// One of the three handshake messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeHello {
    pub node_pubkey: PubKey,
    pub capabilities: Capabilities,
    pub nonce: [u8; 32],
    pub echoed_nonce: Option<[u8; 32]>,
    pub timestamp_unix_secs: u64,
    pub protocol_version: u16,
    pub ephemeral_pubkey: [u8; 32],
    pub signature: Sig,
    /// trove's extension (absent for v1 peers; not covered by `signature`).
    pub ext: Option<HelloExt>,
}

/// The role of a handshake side, bound into the channel-binding signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Responder,
}

/// The bytes a node signs to bind its identity to the TLS channel: context ‖ role byte
/// (1 initiator, 2 responder) ‖ 32-byte TLS exporter value ‖ the sender's nonce.
pub fn binding_message(role: Role, exporter: &[u8; 32], nonce: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(BINDING_CONTEXT.len() + 65);
    m.extend_from_slice(BINDING_CONTEXT);
    m.push(match role {
        Role::Initiator => 1,
        Role::Responder => 2,
    });
    m.extend_from_slice(exporter);
    m.extend_from_slice(nonce);
    m
}

fn nonce_marker(random: &[u8]) -> [u8; 16] {
    let k = blake3::derive_key(NONCE_MARKER_CONTEXT, random);
    let mut m = [0u8; 16];
    m.copy_from_slice(&k[..16]);
    m
}

/// A fresh nonce that marks its sender as a trove node: 16 random bytes followed by a
/// 16-byte marker derived from them. It sits inside the v1-signed bytes, so a
/// man in the middle cannot remove the mark without breaking the v1 signature.
pub fn marked_nonce() -> [u8; 32] {
    marked_nonce_from(keys::random_bytes())
}

/// The marked nonce for given random bytes (tests).
pub fn marked_nonce_from(random: [u8; 16]) -> [u8; 32] {
    let mut n = [0u8; 32];
    n[..16].copy_from_slice(&random);
    n[16..].copy_from_slice(&nonce_marker(&random));
    n
}

/// Whether a nonce carries the trove marker.
pub fn is_marked_nonce(nonce: &[u8; 32]) -> bool {
    nonce_marker(&nonce[..16]) == nonce[16..]
}

/// The v1 session secret: BLAKE3 derive_key over DH ‖ initiator nonce ‖ responder nonce.
pub fn session_secret(dh: &[u8; 32], initiator_nonce: &[u8; 32], responder_nonce: &[u8; 32]) -> [u8; 32] {
    let mut km = [0u8; 96];
    km[..32].copy_from_slice(dh);
    km[32..64].copy_from_slice(initiator_nonce);
    km[64..].copy_from_slice(responder_nonce);
    blake3::derive_key(SESSION_SECRET_CONTEXT, &km)
}

impl HandshakeHello {
    /// The signed 7-tuple (§2.3).
    pub fn signed_tuple(&self) -> Vec<u8> {
        cbor::build(|e| {
            e.array(7)?;
            cbor::write_int_array(e, &self.node_pubkey.0)?;
            e.encode(self.capabilities)?;
            cbor::write_int_array(e, &self.nonce)?;
            cbor::write_opt_int_array(e, self.echoed_nonce.as_ref().map(|n| &n[..]))?;
            e.u64(self.timestamp_unix_secs)?;
            e.u16(self.protocol_version)?;
            cbor::write_int_array(e, &self.ephemeral_pubkey)?;
            Ok(())
        })
    }

    /// Builds and signs a hello (extension left empty).
    pub fn sign(
        node: &Keypair,
        capabilities: Capabilities,
        nonce: [u8; 32],
        echoed_nonce: Option<[u8; 32]>,
        timestamp_unix_secs: u64,
        ephemeral_pubkey: [u8; 32],
    ) -> Self {
        let mut h = HandshakeHello {
            node_pubkey: node.public(),
            capabilities,
            nonce,
            echoed_nonce,
            timestamp_unix_secs,
            protocol_version: crate::limits::PROTOCOL_VERSION,
            ephemeral_pubkey,
            signature: [0; 64],
            ext: None,
        };
        h.signature = node.sign(&h.signed_tuple());
        h
    }

    /// The v1 checks of §2.4: timestamp within ±300 s of `now`, then the signature over the
    /// rebuilt tuple (strict verification).
    pub fn verify(&self, now: u64) -> Result<(), ProtoError> {
        self.check_freshness(now)?;
        self.verify_signature()
    }

    /// The timestamp check alone: within ±300 s of `now`.
    pub fn check_freshness(&self, now: u64) -> Result<(), ProtoError> {
        if self.timestamp_unix_secs.abs_diff(now) > HANDSHAKE_MAX_SKEW_SECS {
            return Err(ProtoError::Invalid(format!(
                "handshake from {}: timestamp {} is more than {HANDSHAKE_MAX_SKEW_SECS} s from local time {now}; check the clocks",
                self.node_pubkey.short(),
                self.timestamp_unix_secs
            )));
        }
        Ok(())
    }

    /// The signature check alone, over the rebuilt 7-tuple.
    pub fn verify_signature(&self) -> Result<(), ProtoError> {
        keys::verify(&self.node_pubkey, &self.signed_tuple(), &self.signature, "handshake hello")
    }

    /// Encodes to CBOR.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::to_vec(self)
    }

    /// Decodes from CBOR.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProtoError> {
        cbor::from_slice(bytes).map_err(ProtoError::decode("handshake hello"))
    }
}

impl<C> Encode<C> for HelloExt {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(2 + self.binding.is_some() as u64 + !self.addrs.is_empty() as u64)?;
        e.str("v")?.u16(self.version)?;
        e.str("features")?.array(self.features.len() as u64)?;
        for f in &self.features {
            e.str(f)?;
        }
        if let Some(b) = &self.binding {
            e.str("bind")?.bytes(b)?;
        }
        if !self.addrs.is_empty() {
            e.str("addrs")?;
            encode_peer_list(e, &self.addrs)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for HelloExt {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let mut ext = HelloExt { version: 0, features: Vec::new(), binding: None, addrs: Vec::new() };
        let mut has_version = false;
        cbor::tmap(d, "hello extension", &["v", "features", "bind", "addrs"], |d, i| {
            match i {
                0 => {
                    ext.version = cbor::u16(d)?;
                    has_version = true;
                }
                1 => ext.features = cbor::array(d, MAX_FEATURES, "features", |d| cbor::text(d, 64, "feature"))?,
                2 => ext.binding = cbor::opt_fixed::<64>(d, "bind")?,
                _ => {
                    ext.addrs = cbor::array(d, MAX_HELLO_ADDRS, "addrs", |d| d.decode())?;
                }
            }
            Ok(())
        })?;
        if !has_version {
            return Err(cbor::missing("hello extension", "v"));
        }
        Ok(ext)
    }
}

const NAMES: [&str; 9] = [
    "node_pubkey",
    "capabilities",
    "nonce",
    "echoed_nonce",
    "timestamp_unix_secs",
    "protocol_version",
    "ephemeral_pubkey",
    "signature",
    EXT_KEY,
];

impl<C> Encode<C> for HandshakeHello {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(if self.ext.is_some() { 9 } else { 8 })?;
        e.str(NAMES[0])?;
        cbor::write_int_array(e, &self.node_pubkey.0)?;
        e.str(NAMES[1])?.encode(self.capabilities)?;
        e.str(NAMES[2])?;
        cbor::write_int_array(e, &self.nonce)?;
        e.str(NAMES[3])?;
        cbor::write_opt_int_array(e, self.echoed_nonce.as_ref().map(|n| &n[..]))?;
        e.str(NAMES[4])?.u64(self.timestamp_unix_secs)?;
        e.str(NAMES[5])?.u16(self.protocol_version)?;
        e.str(NAMES[6])?;
        cbor::write_int_array(e, &self.ephemeral_pubkey)?;
        e.str(NAMES[7])?;
        cbor::write_int_array(e, &self.signature)?;
        if let Some(x) = &self.ext {
            e.str(NAMES[8])?.encode(x)?;
        }
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for HandshakeHello {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "handshake hello";
        let (mut pk, mut caps, mut nonce, mut echo, mut ts) = (None, None, None, None, None);
        let (mut ver, mut eph, mut sig, mut ext) = (None, None, None, None);
        cbor::tmap(d, W, &NAMES, |d, i| {
            match i {
                0 => pk = Some(PubKey::decode_field(d)?),
                1 => caps = Some(d.decode()?),
                2 => nonce = Some(cbor::fixed::<32>(d, "nonce")?),
                3 => echo = cbor::opt_fixed::<32>(d, "echoed_nonce")?,
                4 => ts = Some(cbor::u64(d)?),
                5 => ver = Some(cbor::u16(d)?),
                6 => eph = Some(cbor::fixed::<32>(d, "ephemeral_pubkey")?),
                7 => sig = Some(cbor::fixed::<64>(d, "signature")?),
                // A malformed extension fails the hello: it is never silently ignored.
                _ => ext = Some(d.decode()?),
            }
            Ok(())
        })?;
        Ok(HandshakeHello {
            node_pubkey: pk.ok_or_else(|| cbor::missing(W, NAMES[0]))?,
            capabilities: caps.ok_or_else(|| cbor::missing(W, NAMES[1]))?,
            nonce: nonce.ok_or_else(|| cbor::missing(W, NAMES[2]))?,
            echoed_nonce: echo,
            timestamp_unix_secs: ts.ok_or_else(|| cbor::missing(W, NAMES[4]))?,
            protocol_version: ver.ok_or_else(|| cbor::missing(W, NAMES[5]))?,
            ephemeral_pubkey: eph.ok_or_else(|| cbor::missing(W, NAMES[6]))?,
            signature: sig.ok_or_else(|| cbor::missing(W, NAMES[7]))?,
            ext,
        })
    }
}
