//! A bidirectional byte stream as two boxed halves, whatever the transport underneath
//! (a TLS-over-TCP connection, a QUIC stream, or a relay tunnel).

use tokio::io::{AsyncRead, AsyncWrite};

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
    /// Splits any `AsyncRead + AsyncWrite` into boxed halves.
    pub fn from_io<S: AsyncRead + AsyncWrite + Send + 'static>(io: S) -> Stream {
        let (r, w) = tokio::io::split(io);
        Stream { read: Box::new(r), write: Box::new(w) }
    }

    /// Joins QUIC stream halves.
    pub fn from_quic(send: quinn::SendStream, recv: quinn::RecvStream) -> Stream {
        Stream { read: Box::new(recv), write: Box::new(send) }
    }
}
