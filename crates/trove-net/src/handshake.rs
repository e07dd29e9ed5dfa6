//! The SCP2P handshake (SCP2P-WIRE.md §2) for both roles, with trove's extension:
//! channel binding to the TLS exporter, stripped-extension detection through the marked
//! nonce and binding pins, and strict mode (docs/PROTOCOL.md §2).
//!
//! Between two trove peers freshness comes from the nonces and the channel binding (the
//! exporter is unique to this TLS session), so the ±300 s timestamp window is enforced only
//! for v1 peers, whose replay protection depends on it.

use crate::clock::Clock;
use crate::error::HandshakeError;
use crate::frame::{FrameError, ReadOutcome, read_frame, write_frame};
use crate::nonce_tracker::NonceTracker;
use crate::pins::BindingPins;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use trove_proto::keys::{EphemeralSecret, random_bytes};
use trove_proto::limits::{HANDSHAKE_MAX_BYTES, PROTOCOL_VERSION};
use trove_proto::wire::handshake::{EXT_VERSION, binding_message, is_marked_nonce, marked_nonce, session_secret};
use trove_proto::wire::{Capabilities, HandshakeHello, HelloExt, Role};
use trove_proto::{Keypair, PubKey};

/// How this node shakes hands.
#[derive(Clone, Debug)]
pub struct HandshakeConfig {
    pub node: Keypair,
    pub capabilities: Capabilities,
    /// false: behave exactly as a v1 peer (no extension, plain random nonce).
    pub extensions: bool,
    /// Features announced in the extension.
    pub features: Vec<String>,
    /// Refuse peers that do not bind the channel.
    pub strict: bool,
    pub clock: Clock,
    /// Listen addresses announced in the extension (set once the listeners are bound).
    pub advertised: std::sync::Arc<std::sync::RwLock<Vec<trove_proto::wire::PeerAddr>>>,
}

/// The result of a successful handshake.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub node_pubkey: PubKey,
    pub capabilities: Capabilities,
    /// The peer's extension, present only when it was verified (channel bound).
    pub ext: Option<HelloExt>,
    pub session_secret: [u8; 32],
}

/// A failed handshake: a protocol refusal or a transport failure.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailure {
    #[error(transparent)]
    Refused(#[from] HandshakeError),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Time allowed for each handshake frame body once its length arrived.
const FRAME_BODY_DEADLINE: Duration = Duration::from_secs(10);

async fn read_hello<S: AsyncRead + Unpin>(io: &mut S) -> Result<HandshakeHello, HandshakeFailure> {
    match read_frame(io, HANDSHAKE_MAX_BYTES, None, FRAME_BODY_DEADLINE).await? {
        ReadOutcome::Frame(b) => {
            HandshakeHello::from_bytes(&b).map_err(|e| HandshakeError::Malformed(e.to_string()).into())
        }
        ReadOutcome::Eof => Err(FrameError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "peer closed the connection during the handshake",
        ))
        .into()),
    }
}

async fn write_hello<S: AsyncWrite + Unpin>(io: &mut S, h: &HandshakeHello) -> Result<(), HandshakeFailure> {
    Ok(write_frame(io, &h.to_bytes(), HANDSHAKE_MAX_BYTES).await?)
}

impl HandshakeConfig {
    fn nonce(&self) -> [u8; 32] {
        if self.extensions { marked_nonce() } else { random_bytes() }
    }

    /// Signs a hello and attaches the extension with our binding signature.
    fn hello(
        &self,
        role: Role,
        nonce: [u8; 32],
        echoed: Option<[u8; 32]>,
        eph: &EphemeralSecret,
        exporter: Option<&[u8; 32]>,
    ) -> HandshakeHello {
        let mut h = HandshakeHello::sign(&self.node, self.capabilities, nonce, echoed, self.clock.now(), eph.public());
        if self.extensions
            && let Some(exp) = exporter
        {
            h.ext = Some(HelloExt {
                version: EXT_VERSION,
                features: self.features.clone(),
                binding: Some(self.node.sign(&binding_message(role, exp, &nonce))),
                addrs: self.advertised.read().expect("advertised").clone(),
            });
        }
        h
    }

    /// Verifies a received hello: signature, extension policy, freshness for unbound peers,
    /// protocol version. Returns the verified extension (None for a v1 peer).
    pub fn check_hello(
        &self,
        h: &HandshakeHello,
        peer_role: Role,
        exporter: Option<&[u8; 32]>,
        pins: &dyn BindingPins,
    ) -> Result<Option<HelloExt>, HandshakeError> {
        h.verify_signature().map_err(|e| HandshakeError::BadSignature(e.to_string()))?;
        let ext = self.check_ext(h, peer_role, exporter, pins)?;
        if ext.is_none() {
            h.check_freshness(self.clock.now()).map_err(|e| HandshakeError::ClockSkew(e.to_string()))?;
        }
        if h.protocol_version != PROTOCOL_VERSION {
            return Err(HandshakeError::Version(h.protocol_version));
        }
        Ok(ext)
    }

    fn check_ext(
        &self,
        h: &HandshakeHello,
        peer_role: Role,
        exporter: Option<&[u8; 32]>,
        pins: &dyn BindingPins,
    ) -> Result<Option<HelloExt>, HandshakeError> {
        if !self.extensions {
            return Ok(None);
        }
        match (&h.ext, exporter) {
            (Some(ext), Some(exp)) => {
                if ext.version == 0 {
                    return Err(HandshakeError::Malformed("extension version 0".into()));
                }
                let sig = ext.binding.ok_or(HandshakeError::BindingMismatch)?;
                trove_proto::keys::verify(&h.node_pubkey, &binding_message(peer_role, exp, &h.nonce), &sig, "binding")
                    .map_err(|_| HandshakeError::BindingMismatch)?;
                pins.pin(&h.node_pubkey);
                Ok(Some(ext.clone()))
            }
            (Some(_), None) => Err(HandshakeError::BindingMismatch),
            (None, _) => {
                if is_marked_nonce(&h.nonce) || pins.is_pinned(&h.node_pubkey) {
                    Err(HandshakeError::ExtensionStripped)
                } else if self.strict {
                    Err(HandshakeError::StrictRefusesV1)
                } else {
                    Ok(None)
                }
            }
        }
    }
}

/// Runs the initiator side: ClientHello, ServerHello, ClientAck. `expected` is the dialled
/// address's pubkey hint.
pub async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    cfg: &HandshakeConfig,
    exporter: Option<[u8; 32]>,
    expected: Option<PubKey>,
    pins: &dyn BindingPins,
) -> Result<Authenticated, HandshakeFailure> {
    let eph = EphemeralSecret::generate();
    let nonce = cfg.nonce();
    let hello = cfg.hello(Role::Initiator, nonce, None, &eph, exporter.as_ref());
    write_hello(io, &hello).await?;

    let server = read_hello(io).await?;
    if let Some(exp) = expected
        && exp != server.node_pubkey
    {
        return Err(HandshakeError::KeyMismatch { expected: exp.to_hex(), got: server.node_pubkey.to_hex() }.into());
    }
    if server.echoed_nonce != Some(nonce) {
        return Err(HandshakeError::NonceMismatch.into());
    }
    let ext = cfg.check_hello(&server, Role::Responder, exporter.as_ref(), pins)?;
    let dh = eph.agree(&server.ephemeral_pubkey).map_err(|e| HandshakeError::WeakKey(e.to_string()))?;

    let mut ack =
        HandshakeHello::sign(&cfg.node, cfg.capabilities, nonce, Some(server.nonce), cfg.clock.now(), eph.public());
    ack.ext = hello.ext;
    write_hello(io, &ack).await?;
    Ok(Authenticated {
        node_pubkey: server.node_pubkey,
        capabilities: server.capabilities,
        ext,
        session_secret: session_secret(&dh, &nonce, &server.nonce),
    })
}

/// Runs the responder side. `tracker` refuses replayed client nonces.
pub async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    cfg: &HandshakeConfig,
    exporter: Option<[u8; 32]>,
    tracker: &NonceTracker,
    pins: &dyn BindingPins,
) -> Result<Authenticated, HandshakeFailure> {
    let client = read_hello(io).await?;
    let ext = cfg.check_hello(&client, Role::Initiator, exporter.as_ref(), pins)?;
    if !tracker.check_and_insert(client.nonce, cfg.clock.now()) {
        return Err(HandshakeError::Replay.into());
    }
    let dh = EphemeralSecret::generate();
    let nonce = cfg.nonce();
    let hello = cfg.hello(Role::Responder, nonce, Some(client.nonce), &dh, exporter.as_ref());
    write_hello(io, &hello).await?;

    let ack = read_hello(io).await?;
    ack.verify_signature().map_err(|e| HandshakeError::BadSignature(e.to_string()))?;
    if ext.is_none() {
        ack.check_freshness(cfg.clock.now()).map_err(|e| HandshakeError::ClockSkew(e.to_string()))?;
    }
    if ack.node_pubkey != client.node_pubkey {
        return Err(HandshakeError::Malformed("acknowledgement signed by a different key".into()).into());
    }
    if ack.echoed_nonce != Some(nonce) || ack.nonce != client.nonce {
        return Err(HandshakeError::NonceMismatch.into());
    }
    let shared = dh.agree(&client.ephemeral_pubkey).map_err(|e| HandshakeError::WeakKey(e.to_string()))?;
    Ok(Authenticated {
        node_pubkey: client.node_pubkey,
        capabilities: client.capabilities,
        ext,
        session_secret: session_secret(&shared, &client.nonce, &nonce),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pins::MemoryPins;

    fn cfg(seed: u8, extensions: bool) -> HandshakeConfig {
        HandshakeConfig {
            node: Keypair::from_seed([seed; 32]),
            capabilities: Capabilities::default(),
            extensions,
            features: vec!["bind".into(), "mux".into()],
            strict: false,
            clock: Clock::system(),
            advertised: Default::default(),
        }
    }

    async fn run(
        c: HandshakeConfig,
        s: HandshakeConfig,
        cexp: Option<[u8; 32]>,
        sexp: Option<[u8; 32]>,
    ) -> (Result<Authenticated, HandshakeFailure>, Result<Authenticated, HandshakeFailure>) {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let tracker = NonceTracker::default();
        let (p1, p2) = (MemoryPins::default(), MemoryPins::default());
        let client = async {
            let r = initiate(&mut a, &c, cexp, None, &p1).await;
            drop(a);
            r
        };
        let server = async {
            let r = respond(&mut b, &s, sexp, &tracker, &p2).await;
            drop(b);
            r
        };
        tokio::join!(client, server)
    }

    #[tokio::test]
    async fn trove_peers_bind_and_agree() {
        let (c, s) = run(cfg(1, true), cfg(2, true), Some([9; 32]), Some([9; 32])).await;
        let (c, s) = (c.unwrap(), s.unwrap());
        assert_eq!(c.session_secret, s.session_secret);
        assert!(c.ext.is_some() && s.ext.is_some());
        assert_eq!(c.node_pubkey, Keypair::from_seed([2; 32]).public());
    }

    #[tokio::test]
    async fn different_exporters_mean_a_man_in_the_middle() {
        let (c, _s) = run(cfg(1, true), cfg(2, true), Some([9; 32]), Some([8; 32])).await;
        // The server refuses the client's binding first and drops the connection.
        assert!(c.is_err());
    }

    #[tokio::test]
    async fn v1_peers_interoperate_both_ways() {
        let (c, s) = run(cfg(1, true), cfg(2, false), Some([9; 32]), None).await;
        assert!(c.unwrap().ext.is_none() && s.unwrap().ext.is_none());
        let (c, s) = run(cfg(1, false), cfg(2, true), None, Some([9; 32])).await;
        assert!(c.unwrap().ext.is_none() && s.unwrap().ext.is_none());
    }

    #[tokio::test]
    async fn strict_mode_refuses_v1() {
        let mut strict = cfg(2, true);
        strict.strict = true;
        let (_c, s) = run(cfg(1, false), strict, None, Some([9; 32])).await;
        assert!(matches!(s, Err(HandshakeFailure::Refused(HandshakeError::StrictRefusesV1))));
    }

    #[tokio::test]
    async fn skewed_clocks_are_tolerated_only_when_bound() {
        let mut skewed = cfg(1, true);
        skewed.clock = Clock::skewed(24 * 3600);
        let (c, s) = run(skewed.clone(), cfg(2, true), Some([9; 32]), Some([9; 32])).await;
        assert!(c.is_ok() && s.is_ok());
        let mut v1_skewed = cfg(1, false);
        v1_skewed.clock = Clock::skewed(600);
        let (_c, s) = run(v1_skewed, cfg(2, true), None, Some([9; 32])).await;
        assert!(matches!(s, Err(HandshakeFailure::Refused(HandshakeError::ClockSkew(_)))));
    }
}
