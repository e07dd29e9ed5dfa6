//! The envelope that carries every request and response after the handshake
//! (SCP2P-WIRE.md §3): `{type, req_id, flags, payload}` with error responses as raw UTF-8.

use super::msg_type::MsgType;
use crate::cbor::{self, EncResult};
use crate::error::ProtoError;
use crate::limits::MAX_ENVELOPE_PAYLOAD_BYTES;
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
    pub payload: Vec<u8>,
}

impl Envelope {
    /// A request (flags 0).
    pub fn request(msg_type: MsgType, req_id: u32, payload: Vec<u8>) -> Self {
        Envelope { msg_type, req_id, flags: 0, payload }
    }

    /// A successful response of `msg_type` to request `req_id`.
    pub fn response(msg_type: MsgType, req_id: u32, payload: Vec<u8>) -> Self {
        Envelope { msg_type, req_id, flags: FLAG_RESPONSE, payload }
    }

    /// An error response: the request's type code, flags 3, the message as raw UTF-8.
    pub fn error(request_type: MsgType, req_id: u32, message: &str) -> Self {
        Envelope {
            msg_type: request_type,
            req_id,
            flags: FLAG_RESPONSE | FLAG_ERROR,
            payload: message.as_bytes().to_vec(),
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

impl<'b, C> Decode<'b, C> for Envelope {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, DecodeError> {
        const W: &str = "envelope";
        let (mut t, mut r, mut f, mut p) = (None, None, None, None);
        cbor::tmap(d, W, &["type", "req_id", "flags", "payload"], |d, i| {
            match i {
                0 => t = Some(cbor::u16(d)?),
                1 => r = Some(cbor::u32(d)?),
                2 => f = Some(cbor::u16(d)?),
                _ => p = Some(cbor::byte_vec(d, MAX_ENVELOPE_PAYLOAD_BYTES, "payload")?),
            }
            Ok(())
        })?;
        Ok(Envelope {
            msg_type: MsgType(t.ok_or_else(|| cbor::missing(W, "type"))?),
            req_id: r.ok_or_else(|| cbor::missing(W, "req_id"))?,
            flags: f.ok_or_else(|| cbor::missing(W, "flags"))?,
            payload: p.ok_or_else(|| cbor::missing(W, "payload"))?,
        })
    }
}
