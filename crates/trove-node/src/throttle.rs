//! Rate limits on chunk bytes (`upload_limit_kib`, `download_limit_kib` in the
//! configuration), shared by every transfer they apply to. A generic cell rate algorithm:
//! each chunk is charged its size in time at the configured rate, with a burst allowance of
//! a quarter second; a chunk beyond the allowance waits until it fits.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Burst allowance: this much time's worth of bytes may pass at once.
const BURST: Duration = Duration::from_millis(250);

/// A shared byte-rate limit.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_sec: f64,
    /// The theoretical arrival time: when everything granted so far has been paid for.
    tat: Mutex<Instant>,
}

impl Throttle {
    /// A limit of `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64) -> Throttle {
        Throttle { bytes_per_sec: bytes_per_sec.max(1) as f64, tat: Mutex::new(Instant::now()) }
    }

    /// How long `bytes` must wait from `now`, charging them to the limit.
    fn charge(&self, bytes: usize, now: Instant) -> Duration {
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec);
        let mut tat = self.tat.lock().expect("throttle");
        let start = (*tat).max(now);
        *tat = start + cost;
        (*tat).saturating_duration_since(now + BURST)
    }

    /// Waits until `bytes` may pass.
    pub async fn take(&self, bytes: usize) {
        let wait = self.charge(bytes, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_beyond_the_burst_wait_in_proportion() {
        let t = Throttle::new(1 << 20); // 1 MiB/s
        let now = Instant::now();
        // 256 KiB = 250 ms of budget: within the burst allowance.
        assert_eq!(t.charge(256 << 10, now), Duration::ZERO);
        // The next 256 KiB waits 250 ms, the one after 500 ms.
        let w1 = t.charge(256 << 10, now);
        let w2 = t.charge(256 << 10, now);
        assert!((w1.as_millis() as i64 - 250).abs() <= 1, "{w1:?}");
        assert!((w2.as_millis() as i64 - 500).abs() <= 1, "{w2:?}");
        // After a long pause the budget is back, but no credit beyond the burst.
        let later = now + Duration::from_secs(10);
        assert_eq!(t.charge(256 << 10, later), Duration::ZERO);
        assert!(t.charge(256 << 10, later) > Duration::ZERO);
    }
}
