//! Waiting for a state change announced through a [`Notify`], with a deadline.

use tokio::sync::Notify;
use tokio::time::Instant;

/// Calls `check` now and after every notification until it returns `Ok`, or until `deadline`
/// passes, and then returns its last `Err`. The notification is registered before each check,
/// so a change between the check and the wait is not missed.
pub async fn until<T, E>(notify: &Notify, deadline: Instant, mut check: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let last = check();
        if last.is_ok() {
            return last;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn wakes_on_each_notification_and_gives_up_at_the_deadline() {
        let notify = Arc::new(Notify::new());
        let value = Arc::new(AtomicU32::new(0));
        let (n, v) = (notify.clone(), value.clone());
        let waiter = tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            until(&n, deadline, || match v.load(Ordering::SeqCst) {
                2 => Ok(2),
                x => Err(x),
            })
            .await
        });
        for x in 1..=2 {
            tokio::task::yield_now().await;
            value.store(x, Ordering::SeqCst);
            notify.notify_waiters();
        }
        assert_eq!(waiter.await.unwrap(), Ok(2));
        // Nothing changes: the last answer comes back once the deadline passed.
        let start = Instant::now();
        let r: Result<(), u32> = until(&notify, start + Duration::from_secs(5), || Err(7)).await;
        assert_eq!(r, Err(7));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
