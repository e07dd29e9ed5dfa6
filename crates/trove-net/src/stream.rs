//! A bidirectional byte stream as two boxed halves, whatever the transport underneath
//! (a TLS-over-TCP connection, a QUIC stream, or a relay tunnel), and the split that gives
//! one stream two halves without ever putting a thread to sleep.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The read half.
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A stream that carries frames.
pub struct Stream {
    pub read: BoxRead,
    pub write: BoxWrite,
}

impl Stream {
    /// Splits any `AsyncRead + AsyncWrite` into boxed halves (see [`split`]).
    pub fn from_io<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(io: S) -> Stream {
        let (r, w) = split(io);
        Stream { read: Box::new(r), write: Box::new(w) }
    }

    /// Joins QUIC stream halves.
    pub fn from_quic(send: quinn::SendStream, recv: quinn::RecvStream) -> Stream {
        Stream { read: Box::new(recv), write: Box::new(send) }
    }
}

/// Splits `io` into a read half and a write half that take turns on it.
///
/// A TLS stream cannot be read and written at the same time (one record state), so the
/// halves share it. Unlike a blocking lock, a half that finds the other one busy returns
/// `Pending` and is woken when the other half lets go: a reader decrypting a 256 KiB chunk
/// never puts the thread of a writer queueing a request to sleep (measured: a contended
/// blocking lock cost a tenth of a TLS session's CPU in futex sleeps and wake-ups).
pub fn split<S: AsyncRead + AsyncWrite + Unpin>(io: S) -> (ReadHalf<S>, WriteHalf<S>) {
    let vectored = io.is_write_vectored();
    let shared = Arc::new(Shared { io: Mutex::new(io), vectored, waiting: Mutex::new([None, None]) });
    (ReadHalf(shared.clone()), WriteHalf(shared))
}

const READ: usize = 0;
const WRITE: usize = 1;

struct Shared<S> {
    io: Mutex<S>,
    /// Whether the stream writes vectors efficiently (fixed by its type).
    vectored: bool,
    /// The waker of each half that found the stream busy.
    waiting: Mutex<[Option<Waker>; 2]>,
}

impl<S> Shared<S> {
    /// Runs `f` on the stream, or registers `side` to be woken and returns `Pending` when the
    /// other half holds it.
    fn with<T>(
        &self,
        side: usize,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut S, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let mut guard = match self.io.try_lock() {
            Ok(g) => g,
            Err(_) => {
                lock(&self.waiting)[side] = Some(cx.waker().clone());
                // The holder may have let go before the waker was registered: try once more.
                match self.io.try_lock() {
                    Ok(g) => g,
                    Err(_) => return Poll::Pending,
                }
            }
        };
        let out = f(&mut guard, cx);
        drop(guard);
        let woken = std::mem::take(&mut *lock(&self.waiting));
        woken.into_iter().flatten().for_each(Waker::wake);
        out
    }
}

/// Locks a mutex, ignoring poisoning (the data is plain and every critical section is short).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The read half of [`split`].
pub struct ReadHalf<S>(Arc<Shared<S>>);
/// The write half of [`split`].
pub struct WriteHalf<S>(Arc<Shared<S>>);

impl<S: AsyncRead + Unpin> AsyncRead for ReadHalf<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.0.with(READ, cx, |io, cx| Pin::new(io).poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteHalf<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.with(WRITE, cx, |io, cx| Pin::new(io).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.with(WRITE, cx, |io, cx| Pin::new(io).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.0.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.with(WRITE, cx, |io, cx| Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.with(WRITE, cx, |io, cx| Pin::new(io).poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Both halves of each end busy at once on worker threads of their own: every byte
    /// arrives in order, and a half that found the stream busy is always woken (a lost
    /// wake-up would hang the test until its timeout).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn halves_take_turns_without_losing_bytes_or_wakeups() {
        const LEN: usize = 8 << 20;
        let (a, b) = tokio::io::duplex(4096);
        let (mut ar, mut aw) = split(a);
        let (mut br, mut bw) = split(b);
        let data: Vec<u8> = (0..LEN as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let (d1, d2) = (data.clone(), data.clone());
        let write_a = tokio::spawn(async move {
            for piece in d1.chunks(7_001) {
                aw.write_all(piece).await.unwrap();
            }
            aw.shutdown().await.unwrap();
        });
        let write_b = tokio::spawn(async move {
            for piece in d2.chunks(5_003) {
                bw.write_all(piece).await.unwrap();
            }
            bw.shutdown().await.unwrap();
        });
        let read_a = tokio::spawn(async move {
            let mut got = Vec::new();
            ar.read_to_end(&mut got).await.unwrap();
            got
        });
        let read_b = tokio::spawn(async move {
            let mut got = Vec::new();
            br.read_to_end(&mut got).await.unwrap();
            got
        });
        let all = async { tokio::try_join!(write_a, write_b, read_a, read_b) };
        let (_, _, got_a, got_b) = tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("a half was never woken")
            .unwrap();
        assert!(got_a == data, "bytes from b to a changed");
        assert!(got_b == data, "bytes from a to b changed");
    }

    /// A half that finds the stream held returns `Pending` instead of blocking its thread,
    /// and is woken once the other half lets go.
    #[test]
    fn a_busy_stream_parks_the_task_not_the_thread() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (a, _b) = tokio::io::duplex(64);
        let (mut r, mut w) = split(a);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let held = r.0.io.lock().unwrap();
        assert!(Pin::new(&mut w).poll_write(&mut cx, b"x").is_pending(), "the write half waits its turn");
        drop(held);
        // The holder lets go the way a half does: by running an operation through `with`.
        let mut buf = [0u8; 1];
        let mut rb = ReadBuf::new(&mut buf);
        assert!(Pin::new(&mut r).poll_read(&mut cx, &mut rb).is_pending(), "nothing to read yet");
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the waiting half was woken");
        assert!(matches!(Pin::new(&mut w).poll_write(&mut cx, b"x"), Poll::Ready(Ok(1))));
    }
}
