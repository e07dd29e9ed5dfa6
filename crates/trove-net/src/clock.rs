//! The wall clock used for handshake timestamps, injectable so tests can skew it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(unix_now))
    }

    /// The system clock shifted by `offset` seconds (tests of clock skew).
    pub fn skewed(offset: i64) -> Self {
        Clock(Arc::new(move || unix_now().saturating_add_signed(offset)))
    }

    /// Current time.
    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// Seconds since the Unix epoch from the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
