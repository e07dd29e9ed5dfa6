//! The envelope that carries every request and response after the handshake
//! (SCP2P-WIRE.md §3): `{type, req_id, flags, payload}` with error responses as raw UTF-8.

use super::msg_type::MsgType;
use crate::cbor::{self, EncResult};
use crate::error::ProtoError;
use crate::limits::MAX_ENVELOPE_PAYLOAD_BYTES;
use bytes::Bytes;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::Write;
use minicbor::{Decode, Decoder, Encode, Encoder};

/// Set on every response.
pub const FLAG_RESPONSE: u16 = 0x0001;
/// Set, with [`FLAG_RESPONSE`], on error responses.
pub const FLAG_ERROR: u16 = 0x0002;

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub msg_type: MsgType,
    pub req_id: u32,
    pub flags: u16,
    /// Shares the received frame's buffer when decoded with [`Envelope::from_frame`].
    pub payload: Bytes,
}

impl Envelope {
    /// A request (flags 0).
    pub fn request(msg_type: MsgType, req_id: u32, payload: impl Into<Bytes>) -> Self {
        Envelope { msg_type, req_id, flags: 0, payload: payload.into() }
    }

    /// A successful response of `msg_type` to request `req_id`.
    pub fn response(msg_type: MsgType, req_id: u32, payload: impl Into<Bytes>) -> Self {
        Envelope { msg_type, req_id, flags: FLAG_RESPONSE, payload: payload.into() }
    }

    /// An error response: the request's type code, flags 3, the message as raw UTF-8.
    pub fn error(request_type: MsgType, req_id: u32, message: &str) -> Self {
        Envelope {
            msg_type: request_type,
            req_id,
            flags: FLAG_RESPONSE | FLAG_ERROR,
            payload: Bytes::copy_from_slice(message.as_bytes()),
        }
    }

    /// Whether this is a response.
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_RESPONSE != 0
    }

    /// The error text when this is an error response.
    pub fn error_text(&self) -> Option<String> {
        if self.flags & FLAG_ERROR == 0 {
            return None;
        }
        if self.payload.is_empty() {
            return Some("peer returned protocol error".into());
        }
        Some(String::from_utf8_lossy(&self.payload).into_owned())
    }

    /// Encodes to CBOR.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::to_vec(self)
    }

    /// Decodes from CBOR (trailing bytes ignored, as the reference does).
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, ProtoError> {
        cbor::from_slice(bytes).map_err(ProtoError::decode("envelope"))
    }

    /// Decodes a received frame body without copying the payload: the payload shares the
    /// frame's buffer when it is a byte string (the normal case).
    pub fn from_frame(frame: Bytes) -> Result<Envelope, ProtoError> {
        let (msg_type, req_id, flags, payload) =
            decode_parts(&mut Decoder::new(&frame)).map_err(ProtoError::decode("envelope"))?;
        let payload = match payload {
            PayloadRef::Range(r) => frame.slice(r),
            PayloadRef::Owned(v) => Bytes::from(v),
        };
        Ok(Envelope { msg_type, req_id, flags, payload })
    }

    /// Length of the CBOR encoding.
    pub fn encoded_len(&self) -> usize {
        // {"type": u16, "req_id": u32, "flags": u16, "payload": bstr}
        1 + 5
            + uint_len(self.msg_type.0 as u64)
            + 7
            + uint_len(self.req_id as u64)
            + 6
            + uint_len(self.flags as u64)
            + 8
            + uint_len(self.payload.len() as u64)
            + self.payload.len()
    }

    /// Everything of the frame before the payload bytes: the 4-byte big-endian length and
    /// the envelope CBOR up to and including the payload's byte-string header. The frame is
    /// this followed by `payload`, so a writer can send the payload without copying it.
    pub fn frame_head(&self) -> Vec<u8> {
        let len = self.encoded_len();
        let mut buf = Vec::with_capacity(48);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
        let mut e = minicbor::Encoder::new(&mut buf);
        (|| -> EncResult<&mut Vec<u8>> {
            e.map(4)?;
            e.str("type")?.u16(self.msg_type.0)?;
            e.str("req_id")?.u32(self.req_id)?;
            e.str("flags")?.u16(self.flags)?;
            e.str("payload")?.bytes_len(self.payload.len() as u64)?;
            Ok(())
        })()
        .expect("encoding into a Vec cannot fail");
        debug_assert_eq!(buf.len() + self.payload.len(), 4 + len);
        buf
    }

    /// The whole frame: 4-byte big-endian length followed by the CBOR, in one buffer.
    pub fn to_frame(&self) -> Vec<u8> {
        let len = self.encoded_len();
        let mut buf = Vec::with_capacity(4 + len);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
        let mut e = minicbor::Encoder::new(&mut buf);
        self.encode(&mut e, &mut ()).expect("encoding into a Vec cannot fail");
        debug_assert_eq!(buf.len(), 4 + len);
        buf
    }
}

/// Bytes a CBOR unsigned integer header takes.
fn uint_len(v: u64) -> usize {
    match v {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

impl<C> Encode<C> for Envelope {
    fn encode<W: Write>(&self, e: &mut Encoder<W>, _: &mut C) -> EncResult<W> {
        e.map(4)?;
        e.str("type")?.u16(self.msg_type.0)?;
        e.str("req_id")?.u32(self.req_id)?;
        e.str("flags")?.u16(self.flags)?;
        e.str("payload")?.bytes(&self.payload)?;
        Ok(())
    }
}

/// Where a decoded payload is: a range of the input (byte string) or a copy (integer array).
enum PayloadRef {
    Range(std::ops::Range<usize>),
    Owned(Vec<u8>),
}

/// Decodes the four envelope fields, locating the payload inside the decoder's input.
fn decode_parts(d: &mut Decoder<'_>) -> Result<(MsgType, u32, u16, PayloadRef), minicbor::decode::Error> {
    const W: &str = "envelope";
    let input = d.input();
    let (mut t, mut r, mut f, mut p) = (None, None, None, None);
    cbor::tmap(d, W, &["type", "req_id", "flags", "payload"], |d, i| {
        match i {
            0 => t = Some(cbor::u16(d)?),
            1 => r = Some(cbor::u32(d)?),
            2 => f = Some(cbor::u16(d)?),
            _ => {
                p = Some(if cbor::peek(d)? == minicbor::data::Type::Bytes {
                    let b = cbor::bstr(d, MAX_ENVELOPE_PAYLOAD_BYTES, "payload")?;
                    let start = b.as_ptr() as usize - input.as_ptr() as usize;
                    PayloadRef::Range(start..start + b.len())
                } else {
                    PayloadRef::Owned(cbor::byte_vec(d, MAX_ENVELOPE_PAYLOAD_BYTES, "payload")?)
                })
            }
        }
        Ok(())
    })?;
    Ok((
        MsgType(t.ok_or_else(|| cbor::missing(W, "type"))?),
        r.ok_or_else(|| cbor::missing(W, "req_id"))?,
        f.ok_or_else(|| cbor::missing(W, "flags"))?,
        p.ok_or_else(|| cbor::missing(W, "payload"))?,
    ))
}

impl<'b, C> Decode<'b, C> for Envelope {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        let input = d.input();
        let (msg_type, req_id, flags, payload) = decode_parts(d)?;
        let payload = match payload {
            PayloadRef::Range(r) => Bytes::copy_from_slice(&input[r]),
            PayloadRef::Owned(v) => Bytes::from(v),
        };
        Ok(Envelope { msg_type, req_id, flags, payload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_head_plus_payload_is_the_frame() {
        for len in [0usize, 5, 23, 24, 255, 256, 65_535, 65_536, 262_200] {
            let e = Envelope::response(MsgType::CHUNK_DATA, 0xdead_beef, vec![7u8; len]);
            let mut joined = e.frame_head();
            joined.extend_from_slice(&e.payload);
            assert_eq!(joined, e.to_frame(), "payload of {len} bytes");
        }
    }
}
