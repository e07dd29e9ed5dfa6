//! Admission control for inbound connections: global and per-IP caps on connections and on
//! handshakes in progress. A slot is a guard; dropping it frees the slot. When every global
//! handshake slot is taken, the oldest pending handshake is cancelled to make room, so a
//! crowd of stalled connections cannot lock out a legitimate peer (TEST-MATRIX TR-3).

use crate::config::ConnLimits;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

#[derive(Default)]
struct Counts {
    total: usize,
    pending: usize,
    per_ip: HashMap<IpAddr, (usize, usize)>,
    /// Pending handshakes, oldest first: (slot id, cancel signal).
    queue: VecDeque<(u64, oneshot::Sender<()>)>,
    next_id: u64,
}

/// Shared admission state.
#[derive(Clone)]
pub struct Admission {
    limits: ConnLimits,
    counts: Arc<Mutex<Counts>>,
}

/// An admitted connection; holds its slot until dropped.
pub struct Slot {
    id: u64,
    ip: IpAddr,
    pending: bool,
    counts: Arc<Mutex<Counts>>,
    /// Fires when the slot's handshake is cancelled to make room for a newer one.
    pub cancelled: Option<oneshot::Receiver<()>>,
}

impl Admission {
    /// Empty state with these limits.
    pub fn new(limits: ConnLimits) -> Self {
        Admission { limits, counts: Arc::default() }
    }

    /// Admits a new connection from `ip` as a pending handshake, or says which limit refused it.
    pub fn admit(&self, ip: IpAddr) -> Result<Slot, &'static str> {
        let mut c = self.counts.lock().expect("admission lock");
        let (conns, pending) = c.per_ip.get(&ip).copied().unwrap_or((0, 0));
        if conns >= self.limits.max_per_ip {
            return Err("too many connections from this address");
        }
        if pending >= self.limits.max_pending_per_ip {
            return Err("too many handshakes in progress from this address");
        }
        if c.pending >= self.limits.max_pending {
            // Cancel the oldest pending handshake; its slot is released when its task ends,
            // so count this connection over the cap meanwhile (bounded by the queue length).
            match c.queue.pop_front() {
                Some((_, cancel)) => {
                    let _ = cancel.send(());
                }
                None => return Err("too many handshakes in progress"),
            }
        }
        if c.total >= self.limits.max_connections + self.limits.max_pending {
            return Err("too many connections");
        }
        c.total += 1;
        c.pending += 1;
        let e = c.per_ip.entry(ip).or_default();
        e.0 += 1;
        e.1 += 1;
        let id = c.next_id;
        c.next_id += 1;
        let (tx, rx) = oneshot::channel();
        c.queue.push_back((id, tx));
        Ok(Slot { id, ip, pending: true, counts: self.counts.clone(), cancelled: Some(rx) })
    }

    /// (connections, pending handshakes) currently admitted.
    pub fn load(&self) -> (usize, usize) {
        let c = self.counts.lock().expect("admission lock");
        (c.total, c.pending)
    }
}

impl Slot {
    /// The handshake finished: the connection no longer counts as pending.
    pub fn established(&mut self) {
        if self.pending {
            self.pending = false;
            let mut c = self.counts.lock().expect("admission lock");
            c.pending -= 1;
            if let Some(e) = c.per_ip.get_mut(&self.ip) {
                e.1 -= 1;
            }
            let id = self.id;
            c.queue.retain(|(i, _)| *i != id);
        }
    }

    /// Waits until the handshake is cancelled to make room (never, once established).
    pub async fn wait_cancelled(&mut self) {
        match self.cancelled.as_mut() {
            Some(rx) => {
                if rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().expect("admission lock");
        c.total -= 1;
        if self.pending {
            c.pending -= 1;
            let id = self.id;
            c.queue.retain(|(i, _)| *i != id);
        }
        let remove = match c.per_ip.get_mut(&self.ip) {
            Some(e) => {
                e.0 -= 1;
                if self.pending {
                    e.1 -= 1;
                }
                e.0 == 0
            }
            None => false,
        };
        if remove {
            c.per_ip.remove(&self.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            max_connections: 3,
            max_per_ip: 2,
            max_pending: 3,
            max_pending_per_ip: 2,
            max_concurrent_requests: 1,
        }
    }

    #[test]
    fn per_ip_caps() {
        let a = Admission::new(limits());
        let ip1: IpAddr = "10.0.0.1".parse().unwrap();
        let mut s1 = a.admit(ip1).unwrap();
        let _s2 = a.admit(ip1).unwrap();
        assert_eq!(a.admit(ip1).err(), Some("too many connections from this address"));
        s1.established();
        assert_eq!(a.load(), (2, 1));
        drop(s1);
        assert_eq!(a.load(), (1, 1));
        assert!(a.admit(ip1).is_ok());
    }

    #[tokio::test]
    async fn full_pending_cancels_the_oldest() {
        let a = Admission::new(limits());
        let ips: Vec<IpAddr> = (1..=4).map(|i| format!("10.0.0.{i}").parse().unwrap()).collect();
        let mut oldest = a.admit(ips[0]).unwrap();
        let _b = a.admit(ips[1]).unwrap();
        let _c = a.admit(ips[2]).unwrap();
        // The fourth handshake is admitted and the oldest is told to give up.
        let _d = a.admit(ips[3]).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), oldest.wait_cancelled()).await.unwrap();
        drop(oldest);
        assert_eq!(a.load(), (3, 3));
    }
}
