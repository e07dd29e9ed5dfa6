//! The connection pool: one live session per peer address, reused across requests, dialed
//! once even when many tasks ask at the same time, redialed after a failure, closed when idle,
//! bounded in size (least recently used sessions go first).
//! Addresses behind a relay (`relay_via`) are reached through it (see [`crate::relayed`]).

use crate::endpoint::Endpoint;
use crate::error::{HandshakeError, NetError};
use crate::session::Session;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trove_proto::wire::{PeerAddr, Request};

struct Entry {
    session: Session,
    last_used: Instant,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Entry>,
    dialing: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// Recent slow dial failures: further dials fail at once until the entry expires, so one
    /// stalling address costs one deadline, not one per request.
    failed: HashMap<String, (Instant, String)>,
}

/// How long a failed dial is remembered.
pub const FAILED_DIAL_MEMORY: Duration = Duration::from_secs(15);
/// Dial failures quicker than this are not remembered.
const REMEMBER_SLOWER_THAN: Duration = Duration::from_millis(500);
/// Most failed dials remembered.
const MAX_FAILED: usize = 4096;

/// Pooled sessions over an endpoint.
#[derive(Clone)]
pub struct Pool {
    ep: Endpoint,
    state: Arc<Mutex<State>>,
    cap: usize,
    idle: Duration,
}

impl Pool {
    /// A pool of at most `cap` sessions, each closed after `idle` without use.
    pub fn new(ep: Endpoint, cap: usize, idle: Duration) -> Self {
        Pool { ep, state: Arc::default(), cap: cap.max(1), idle }
    }

    /// The endpoint underneath.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    fn cached(&self, key: &str, addr: &PeerAddr) -> Result<Option<Session>, NetError> {
        let mut st = self.state.lock().expect("pool lock");
        let Some(e) = st.sessions.get_mut(key) else { return Ok(None) };
        if e.session.is_closed() {
            st.sessions.remove(key);
            return Ok(None);
        }
        if let Some(hint) = addr.pubkey_hint
            && hint != e.session.peer().node_pubkey
        {
            return Err(NetError::Handshake {
                addr: addr.socket_addr(),
                source: HandshakeError::KeyMismatch {
                    expected: hint.to_hex(),
                    got: e.session.peer().node_pubkey.to_hex(),
                },
            });
        }
        e.last_used = Instant::now();
        Ok(Some(e.session.clone()))
    }

    /// A live session with `addr`, dialing if needed.
    pub async fn get(&self, addr: &PeerAddr) -> Result<Session, NetError> {
        let key = addr.dedup_key();
        if let Some(s) = self.cached(&key, addr)? {
            return Ok(s);
        }
        self.recent_failure(&key, addr)?;
        let lock = self.state.lock().expect("pool lock").dialing.entry(key.clone()).or_default().clone();
        let _g = lock.lock().await;
        if let Some(s) = self.cached(&key, addr)? {
            return Ok(s);
        }
        self.recent_failure(&key, addr)?;
        let started = Instant::now();
        let r = match addr.relay_via {
            Some(_) => crate::relayed::connect(self, addr).await,
            None => self.ep.connect(addr).await,
        };
        let mut st = self.state.lock().expect("pool lock");
        st.dialing.remove(&key);
        let session = match r {
            Ok(s) => {
                st.failed.remove(&key);
                s
            }
            // A relayed address is not remembered as failed: its relay's own dial failures
            // are, and asking a live relay for a slot costs one round trip; the node behind
            // it may come back at any moment.
            // Nor is a quick failure (a refused connection costs one round trip): only a
            // dial that cost a deadline is worth not repeating.
            Err(e) if addr.relay_via.is_some() || started.elapsed() < REMEMBER_SLOWER_THAN => return Err(e),
            Err(e) => {
                if st.failed.len() >= MAX_FAILED {
                    let now = Instant::now();
                    st.failed.retain(|_, (t, _)| now.duration_since(*t) < FAILED_DIAL_MEMORY);
                }
                if st.failed.len() < MAX_FAILED {
                    st.failed.insert(key, (Instant::now(), e.to_string()));
                }
                return Err(e);
            }
        };
        st.sessions.insert(key, Entry { session: session.clone(), last_used: Instant::now() });
        Self::evict(&mut st, self.cap, self.idle);
        Ok(session)
    }

    /// Fails at once if dialing this address failed a moment ago.
    fn recent_failure(&self, key: &str, addr: &PeerAddr) -> Result<(), NetError> {
        let st = self.state.lock().expect("pool lock");
        match st.failed.get(key) {
            Some((t, why)) if t.elapsed() < FAILED_DIAL_MEMORY => Err(NetError::Connect {
                addr: addr.socket_addr(),
                reason: format!("failed {} s ago: {why}", t.elapsed().as_secs()),
            }),
            _ => Ok(()),
        }
    }

    /// Forgets a remembered dial failure (e.g. the peer announced itself again).
    pub fn forgive(&self, addr: &PeerAddr) {
        self.state.lock().expect("pool lock").failed.remove(&addr.dedup_key());
    }

    fn evict(st: &mut State, cap: usize, idle: Duration) {
        let now = Instant::now();
        st.sessions.retain(|_, e| !e.session.is_closed() && now.duration_since(e.last_used) < idle);
        while st.sessions.len() > cap {
            let Some(oldest) = st.sessions.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| k.clone()) else {
                break;
            };
            st.sessions.remove(&oldest);
        }
    }

    /// Drops idle and closed sessions.
    pub fn sweep(&self) {
        let mut st = self.state.lock().expect("pool lock");
        Self::evict(&mut st, self.cap, self.idle);
    }

    /// Forgets the session with `addr` (after it misbehaved).
    pub fn remove(&self, addr: &PeerAddr) {
        self.state.lock().expect("pool lock").sessions.remove(&addr.dedup_key());
    }

    /// Number of pooled sessions.
    pub fn len(&self) -> usize {
        self.state.lock().expect("pool lock").sessions.len()
    }

    /// Whether no session is pooled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends a typed request to `addr`; if the pooled session turns out broken, redials once.
    pub async fn call<R: Request>(&self, addr: &PeerAddr, req: &R) -> Result<R::Response, NetError> {
        let s = self.get(addr).await?;
        match s.call(req).await {
            Err(NetError::Closed { .. }) => {
                self.remove(addr);
                self.get(addr).await?.call(req).await
            }
            r => r,
        }
    }
}
