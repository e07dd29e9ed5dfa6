//! Framing (SCP2P-WIRE.md §1.5): a 4-byte big-endian length, then that many bytes. Reads check
//! the length against the limit before allocating, grow the buffer only as bytes arrive, and
//! finish the body within a deadline, so a trickling or lying peer costs little.

use crate::error::NetError;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes allocated up front for a frame body; the rest grows as data arrives.
pub const INITIAL_FRAME_ALLOC: usize = 64 * 1024;
/// Factor by which a frame buffer grows once it is full.
const GROWTH: usize = 4;

/// Outcome of waiting for the next frame.
#[derive(Debug)]
pub enum ReadOutcome {
    /// A whole frame body.
    Frame(Vec<u8>),
    /// The peer closed the stream cleanly between frames.
    Eof,
}

/// Reads one frame. `idle` bounds the wait for the length prefix (None = wait forever);
/// `body` bounds the time to receive the body once the prefix arrived.
pub async fn read_frame<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    limit: usize,
    idle: Option<Duration>,
    body: Duration,
) -> Result<ReadOutcome, FrameError> {
    read_frame_prealloc(r, limit, INITIAL_FRAME_ALLOC, idle, body).await
}

/// [`read_frame`] allocating frames of up to `prealloc` bytes whole at once (for answers to
/// this side's own requests, such as a chunk: no growing copies); bigger ones grow as bytes
/// arrive.
pub async fn read_frame_prealloc<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    limit: usize,
    prealloc: usize,
    idle: Option<Duration>,
    body: Duration,
) -> Result<ReadOutcome, FrameError> {
    let mut len_buf = [0u8; 4];
    let first = match idle {
        Some(t) => tokio::time::timeout(t, r.read(&mut len_buf)).await.map_err(|_| FrameError::IdleTimeout)?,
        None => r.read(&mut len_buf).await,
    }?;
    if first == 0 {
        return Ok(ReadOutcome::Eof);
    }
    let rest = async {
        if first < 4 {
            r.read_exact(&mut len_buf[first..]).await?;
        }
        let len = u32::from_be_bytes(len_buf) as usize;
        if len > limit {
            return Err(FrameError::TooLarge { len, limit });
        }
        let mut buf = Vec::with_capacity(if len <= prealloc { len } else { len.min(INITIAL_FRAME_ALLOC) });
        let mut body = r.take(len as u64);
        while buf.len() < len {
            if buf.len() == buf.capacity() {
                buf.reserve_exact(grown_capacity(buf.len(), len) - buf.len());
            }
            if body.read_buf(&mut buf).await? == 0 {
                return Err(FrameError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended after {} of {len} frame bytes", buf.len()),
                )));
            }
        }
        Ok(buf)
    };
    tokio::time::timeout(body, rest).await.map_err(|_| FrameError::BodyTimeout)?.map(ReadOutcome::Frame)
}

/// The buffer size for a frame of `len` bytes once `received` bytes filled the buffer: never
/// more than four times what arrived, and few copies on the way to a chunk-sized frame
/// (64 KiB, 256 KiB, 1 MiB).
fn grown_capacity(received: usize, len: usize) -> usize {
    received.saturating_mul(GROWTH).max(INITIAL_FRAME_ALLOC).min(len)
}

/// Writes one frame and flushes. The caller bounds the time.
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    body: &[u8],
    limit: usize,
) -> Result<(), FrameError> {
    if body.len() > limit {
        return Err(FrameError::TooLarge { len: body.len(), limit });
    }
    w.write_all(&(body.len() as u32).to_be_bytes()).await?;
    w.write_all(body).await?;
    w.flush().await?;
    Ok(())
}

/// A frame ready to send: its head (length prefix and envelope fields) and the payload,
/// kept apart so the payload is never copied on its way to the socket.
pub struct OutFrame {
    pub head: Vec<u8>,
    pub body: bytes::Bytes,
}

impl OutFrame {
    /// The frame of an envelope.
    pub fn of(env: &trove_proto::wire::Envelope) -> OutFrame {
        OutFrame { head: env.frame_head(), body: env.payload.clone() }
    }

    /// Length of the CBOR body (what the prefix announces).
    pub fn body_len(&self) -> usize {
        self.head.len() + self.body.len() - 4
    }
}

/// Writes a frame (head then payload, vectored where the stream supports it) and flushes.
pub async fn write_out<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    f: &OutFrame,
    limit: usize,
) -> Result<(), FrameError> {
    if f.body_len() > limit {
        return Err(FrameError::TooLarge { len: f.body_len(), limit });
    }
    write_parts(w, &f.head, &f.body).await?;
    w.flush().await?;
    Ok(())
}

async fn write_parts<W: AsyncWrite + Unpin + ?Sized>(w: &mut W, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() {
        let n = w.write_vectored(&[io::IoSlice::new(a), io::IoSlice::new(b)]).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    w.write_all(b).await
}

/// A queue in front of a write half: frames from many tasks are written in order by one
/// task, with one flush per burst, so concurrent requests never contend for the stream.
#[derive(Clone)]
pub struct FrameQueue {
    tx: tokio::sync::mpsc::Sender<OutFrame>,
}

impl FrameQueue {
    /// Starts the writer task over `w`. Writing stops at the first error or after `deadline`
    /// without progress on one burst.
    pub fn spawn<W: AsyncWrite + Unpin + Send + 'static>(mut w: W, deadline: Duration) -> FrameQueue {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<OutFrame>(64);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let burst = async {
                    write_parts(&mut w, &first.head, &first.body).await?;
                    while let Ok(next) = rx.try_recv() {
                        write_parts(&mut w, &next.head, &next.body).await?;
                    }
                    w.flush().await
                };
                if !matches!(tokio::time::timeout(deadline, burst).await, Ok(Ok(()))) {
                    break;
                }
            }
            let _ = w.shutdown().await;
        });
        FrameQueue { tx }
    }

    /// Queues a frame; false if the writer has stopped.
    pub async fn send(&self, frame: OutFrame) -> bool {
        self.tx.send(frame).await.is_ok()
    }
}

/// Errors while reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("no frame arrived before the idle timeout")]
    IdleTimeout,
    #[error("frame body did not arrive in time")]
    BodyTimeout,
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl FrameError {
    /// Converts to a session error for the peer at `addr`.
    pub fn into_net(self, addr: std::net::SocketAddr) -> NetError {
        match self {
            FrameError::TooLarge { len, limit } => NetError::FrameTooLarge { len, limit },
            FrameError::IdleTimeout => NetError::Closed { addr, reason: "idle timeout".into() },
            FrameError::BodyTimeout => NetError::Timeout { stage: "reading a frame", addr, secs: 0 },
            FrameError::Io(e) => NetError::Closed { addr, reason: e.to_string() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_limits() {
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        write_frame(&mut a, b"hello", 100).await.unwrap();
        match read_frame(&mut b, 100, None, Duration::from_secs(1)).await.unwrap() {
            ReadOutcome::Frame(f) => assert_eq!(f, b"hello"),
            ReadOutcome::Eof => panic!("eof"),
        }
        assert!(matches!(write_frame(&mut a, &[0; 101], 100).await, Err(FrameError::TooLarge { .. })));
        // A prefix announcing more than the limit is refused before reading the body.
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(matches!(
            read_frame(&mut b, 100, None, Duration::from_secs(1)).await,
            Err(FrameError::TooLarge { len, .. }) if len == u32::MAX as usize
        ));
    }

    #[tokio::test]
    async fn zero_length_frame_and_eof() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, b"", 100).await.unwrap();
        drop(a);
        assert!(matches!(
            read_frame(&mut b, 100, None, Duration::from_secs(1)).await.unwrap(),
            ReadOutcome::Frame(f) if f.is_empty()
        ));
        assert!(matches!(read_frame(&mut b, 100, None, Duration::from_secs(1)).await.unwrap(), ReadOutcome::Eof));
    }

    #[tokio::test]
    async fn a_big_frame_in_small_pieces_is_read_whole() {
        let body: Vec<u8> = (0..1_100_000u32).map(|i| (i % 251) as u8).collect();
        let (mut a, mut b) = tokio::io::duplex(7 * 1024);
        let sent = body.clone();
        let writer = tokio::spawn(async move {
            write_frame(&mut a, &sent, 2 << 20).await.unwrap();
            write_frame(&mut a, b"next", 2 << 20).await.unwrap();
            // A frame announcing 16 MiB that ends after 100 KiB.
            a.write_all(&(16u32 << 20).to_be_bytes()).await.unwrap();
            a.write_all(&[7; 100 * 1024]).await.unwrap();
        });
        async fn read(b: &mut tokio::io::DuplexStream) -> Result<ReadOutcome, FrameError> {
            read_frame(b, 32 << 20, None, Duration::from_secs(10)).await
        }
        assert!(matches!(read(&mut b).await.unwrap(), ReadOutcome::Frame(f) if f == body));
        assert!(matches!(read(&mut b).await.unwrap(), ReadOutcome::Frame(f) if f == b"next"));
        match read(&mut b).await {
            Err(FrameError::Io(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
                assert!(e.to_string().contains(&format!("after {} of {}", 100 * 1024, 16 << 20)), "{e}");
            }
            other => panic!("{other:?}"),
        }
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn answers_up_to_the_preallocation_are_read_whole() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 13) as u8).collect();
        let sent = body.clone();
        let writer = tokio::spawn(async move {
            write_frame(&mut a, &sent, 1 << 20).await.unwrap();
            write_frame(&mut a, &sent[..1000], 1 << 20).await.unwrap();
        });
        for (prealloc, want) in [(300_000, &body[..]), (300_000, &body[..1000])] {
            match read_frame_prealloc(&mut b, 1 << 20, prealloc, None, Duration::from_secs(10)).await.unwrap() {
                ReadOutcome::Frame(f) => {
                    assert_eq!(f, want);
                    assert_eq!(f.capacity(), want.len(), "allocated once, to the frame's size");
                }
                ReadOutcome::Eof => panic!("eof"),
            }
        }
        writer.await.unwrap();
    }

    #[test]
    fn frame_buffers_grow_with_what_arrived() {
        assert_eq!(grown_capacity(0, 10), 10);
        assert_eq!(grown_capacity(0, 1 << 20), INITIAL_FRAME_ALLOC);
        assert_eq!(grown_capacity(INITIAL_FRAME_ALLOC, 1 << 20), 4 * INITIAL_FRAME_ALLOC);
        assert_eq!(grown_capacity(4 * INITIAL_FRAME_ALLOC, 1 << 20), 1 << 20);
        for received in [1usize, 1000, 65_536, 300_000, 5 << 20] {
            let len = 16 << 20;
            let c = grown_capacity(received, len);
            assert!(c > received && c <= (4 * received).max(INITIAL_FRAME_ALLOC) && c <= len, "{received}: {c}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn trickled_body_hits_the_deadline() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&10u32.to_be_bytes()).await.unwrap();
        a.write_all(b"abc").await.unwrap();
        let r = read_frame(&mut b, 100, None, Duration::from_secs(10)).await;
        assert!(matches!(r, Err(FrameError::BodyTimeout)));
    }

    #[tokio::test]
    async fn truncated_body_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&10u32.to_be_bytes()).await.unwrap();
        a.write_all(b"abc").await.unwrap();
        drop(a);
        assert!(matches!(read_frame(&mut b, 100, None, Duration::from_secs(1)).await, Err(FrameError::Io(_))));
    }
}
