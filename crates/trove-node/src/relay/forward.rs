//! v1 tunnel forwarding at the relay (SCP2P-WIRE.md §10.3): a RELAY_STREAM whose payload is
//! a whole request envelope goes into the slot's tunnel, and the answer comes back in a
//! RELAY_STREAM with the original req_id. This is how v1 dialers (and any dialer reaching a
//! v1 node) get through. Unlike v1, the relay here classifies what it forwards (a chunk
//! request is content, anything else control), refuses content when content relaying is
//! off, charges both ends' quotas for the request and the answer before passing them on,
//! and refuses relay operations inside the tunnel.

use super::service::{RelayRole, free_if_dead};
use std::sync::Arc;
use trove_net::PeerInfo;
use trove_proto::cbor;
use trove_proto::wire::{Envelope, MsgType, RelayKind, RelayStream};

/// Whether `t` is a relay operation (never forwarded into a tunnel).
pub(crate) fn is_relay_op(t: MsgType) -> bool {
    matches!(
        t,
        MsgType::RELAY_REGISTER
            | MsgType::RELAY_CONNECT
            | MsgType::RELAY_STREAM
            | MsgType::RELAY_OPEN
            | MsgType::RELAY_INCOMING
            | MsgType::RELAY_ACCEPT
    )
}

/// What an envelope carries, for quotas and the content switch.
pub(crate) fn kind_of(t: MsgType) -> RelayKind {
    if t == MsgType::GET_CHUNK { RelayKind::Content } else { RelayKind::Control }
}

/// The identities charged for traffic between `a` and `b` (once each).
pub(crate) fn parties(a: trove_proto::PubKey, b: trove_proto::PubKey) -> Vec<trove_proto::PubKey> {
    if a == b { vec![a] } else { vec![a, b] }
}

/// Forwards one enveloped request; the error text goes back to the dialer.
pub(crate) async fn forward(role: &Arc<RelayRole>, peer: &PeerInfo, rs: RelayStream) -> Result<RelayStream, String> {
    let tunnel = role.tunnel_soon(rs.relay_slot_id).await?;
    let inner =
        Envelope::from_bytes(&rs.payload).map_err(|e| format!("relay stream payload is not an envelope: {e}"))?;
    if is_relay_op(inner.msg_type) {
        return Err("relay operations cannot be sent through a tunnel".into());
    }
    let kind = kind_of(inner.msg_type);
    if kind == RelayKind::Content && !role.settings.content {
        return Err("content relay is disabled".into());
    }
    let ids = parties(peer.node_pubkey, tunnel.owner);
    let exceeded = || "relay byte quota exceeded".to_string();
    let n = rs.payload.len() as u64;
    if role.remaining(&ids, kind) < n || role.charge(&ids, kind, n) < n {
        return Err(exceeded());
    }
    let answer = match tunnel.forward(inner.msg_type, inner.payload.to_vec()).await {
        Ok(a) => a,
        Err(e) => {
            free_if_dead(role, &tunnel);
            return Err(e.to_string());
        }
    };
    let answer = Envelope { req_id: inner.req_id, ..answer };
    let bytes = cbor::to_vec(&answer);
    let n = bytes.len() as u64;
    if role.remaining(&ids, kind) < n || role.charge(&ids, kind, n) < n {
        return Err(exceeded());
    }
    super::stats::Counters::add(&role.counters.forwarded, 1);
    Ok(RelayStream { relay_slot_id: rs.relay_slot_id, stream_id: rs.stream_id, kind: rs.kind, payload: bytes })
}
