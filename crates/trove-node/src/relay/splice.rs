//! Virtual streams at the relay (docs/PROTOCOL.md §7). A dialer sends RELAY_OPEN on a stream
//! of its own; the relay checks the slot, the target key, the quotas and the stream cap,
//! tells the firewalled node through its tunnel (RELAY_INCOMING with a one-time token), and
//! waits for it to claim the token with RELAY_ACCEPT on a new stream of its own. Only the
//! slot's owner can claim a token (RL-1). Then both streams are spliced: bytes are copied
//! both ways, each chunk charged to both identities' quotas before it is written, and cut
//! when a quota runs out. The two ends run TLS and the handshake inside, so the relay
//! carries ciphertext it can neither read nor alter undetected (RL-5).

use super::forward::parties;
use super::service::{Pending, RelayRole, STREAM_IDLE, answer, error, free_if_dead};
use super::stats::Counters;
use crate::node::Inner;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, watch};
use trove_net::stream::{BoxRead, BoxWrite, Stream};
use trove_net::{PeerInfo, Reply};
use trove_proto::PubKey;
use trove_proto::wire::relay_ext::NO_E2E;
use trove_proto::wire::{Envelope, MsgType, RelayAccept, RelayIncoming, RelayKind, RelayOpen, RelayOpened};

/// Size of the copy buffer of a splice.
const SPLICE_BUFFER: usize = 64 * 1024;

/// Removes a pending token when the open gives up.
struct PendingGuard<'a> {
    role: &'a RelayRole,
    token: [u8; 16],
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.role.pending.lock().expect("pending").remove(&self.token);
    }
}

/// RELAY_OPEN: splices a new virtual stream to the node behind the slot, or refuses.
pub(crate) async fn open(
    inner: &Arc<Inner>,
    role: &Arc<RelayRole>,
    peer: &Arc<PeerInfo>,
    req: &Envelope,
    o: RelayOpen,
) -> Reply {
    let refuse = |text: &str| {
        role.refused();
        error(req, text)
    };
    let tunnel = match role.tunnel_soon(o.relay_slot_id).await {
        Ok(t) => t,
        Err(text) => return refuse(text),
    };
    if o.target.is_some_and(|t| t != tunnel.owner) {
        return refuse("relay slot belongs to another node");
    }
    if !tunnel.e2e {
        return refuse(NO_E2E);
    }
    let kind =
        if o.kind == RelayKind::Content && role.settings.content { RelayKind::Content } else { RelayKind::Control };
    if role.streams.load(Ordering::Relaxed) >= role.settings.max_streams {
        return refuse("relay has too many open streams");
    }
    let ids = parties(peer.node_pubkey, tunnel.owner);
    if role.remaining(&ids, kind) == 0 {
        return refuse("relay byte quota exceeded");
    }
    let token: [u8; 16] = trove_proto::keys::random_bytes();
    let (tx, rx) = oneshot::channel();
    role.pending.lock().expect("pending").insert(token, Pending { owner: tunnel.owner, tx });
    let _guard = PendingGuard { role, token };
    let notice = RelayIncoming { token, kind, dialer: peer.node_pubkey };
    if let Err(e) = tunnel.call(&notice).await {
        free_if_dead(role, &tunnel);
        return refuse(&e.to_string());
    }
    let node = match tokio::time::timeout(role.settings.forward_timeout(), rx).await {
        Ok(Ok(s)) => s,
        _ => return refuse("the firewalled node did not take the stream"),
    };
    Counters::add(&role.counters.streams_opened, 1);
    let resp = answer(MsgType::RELAY_OPENED, req, &RelayOpened { relay_slot_id: o.relay_slot_id, kind });
    let role = role.clone();
    let inner = inner.clone();
    Reply::RespondAndTake(
        resp,
        Box::new(move |dialer| {
            inner.spawn(splice(role, dialer, node, kind, ids));
        }),
    )
}

/// RELAY_ACCEPT: hands this stream to the virtual stream waiting under the token, if the
/// caller owns the slot it was opened for.
pub(crate) fn accept(role: &Arc<RelayRole>, peer: &PeerInfo, req: &Envelope, a: RelayAccept) -> Reply {
    let mut pending = role.pending.lock().expect("pending");
    let Some(p) = pending.remove(&a.token) else {
        role.refused();
        return error(req, "unknown or expired relay token");
    };
    if p.owner != peer.node_pubkey {
        pending.insert(a.token, p);
        role.refused();
        return error(req, "relay token belongs to another node");
    }
    drop(pending);
    let resp = Envelope::response(MsgType::RELAY_ACCEPT, req.req_id, Bytes::new());
    Reply::RespondAndTake(
        resp,
        Box::new(move |stream| {
            let _ = p.tx.send(stream);
        }),
    )
}

/// Copies bytes both ways until both directions ended, one failed, a quota ran out, or
/// the relay stops.
async fn splice(role: Arc<RelayRole>, dialer: Stream, node: Stream, kind: RelayKind, ids: Vec<PubKey>) {
    role.streams.fetch_add(1, Ordering::Relaxed);
    let (end_tx, _) = watch::channel(false);
    let up = pump(dialer.read, node.write, &role, kind, &ids, &end_tx);
    let down = pump(node.read, dialer.write, &role, kind, &ids, &end_tx);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        tokio::select! {
            r = &mut up, if !up_done => {
                up_done = true;
                if let Err(why) = r {
                    tracing::debug!("relay: virtual stream ended ({why})");
                    let _ = end_tx.send(true);
                }
            }
            r = &mut down, if !down_done => {
                down_done = true;
                if let Err(why) = r {
                    tracing::debug!("relay: virtual stream ended ({why})");
                    let _ = end_tx.send(true);
                }
            }
        }
    }
    role.streams.fetch_sub(1, Ordering::Relaxed);
}

/// One direction of a splice.
async fn pump(
    mut r: BoxRead,
    mut w: BoxWrite,
    role: &RelayRole,
    kind: RelayKind,
    ids: &[PubKey],
    end: &watch::Sender<bool>,
) -> Result<(), &'static str> {
    let mut stop = role.stop.subscribe();
    let mut ended = end.subscribe();
    if *stop.borrow() {
        return Err("relay stopped");
    }
    let mut buf = vec![0u8; SPLICE_BUFFER];
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(STREAM_IDLE, r.read(&mut buf)) => match r {
                Err(_) => return Err("idle"),
                Ok(Err(_)) => return Err("read failed"),
                Ok(Ok(n)) => n,
            },
            _ = stop.changed() => return Err("relay stopped"),
            _ = ended.changed() => return Err("the other direction ended"),
        };
        if n == 0 {
            let _ = w.shutdown().await;
            return Ok(());
        }
        let allowed = role.charge(ids, kind, n as u64) as usize;
        if allowed > 0 {
            let write = async {
                w.write_all(&buf[..allowed]).await?;
                w.flush().await
            };
            match tokio::time::timeout(STREAM_IDLE, write).await {
                Ok(Ok(())) => {}
                _ => return Err("write failed"),
            }
        }
        if allowed < n {
            let _ = w.shutdown().await;
            return Err("relay byte quota exceeded");
        }
    }
}
