//! Typed payloads: the [`Payload`] trait that turns a message into envelope payload bytes and
//! back, and [`Request`], which ties a request to its type code and response type.

use super::msg_type::MsgType;
use crate::error::ProtoError;

/// A structure carried in an envelope payload.
pub trait Payload: Sized {
    /// Name used in errors.
    const NAME: &'static str;
    /// Encodes to payload bytes.
    fn to_payload(&self) -> Vec<u8>;
    /// Decodes from payload bytes.
    fn from_payload(bytes: &[u8]) -> Result<Self, ProtoError>;

    /// Decodes from a shared buffer; types carrying bulk bytes override this to keep
    /// slices of `bytes` instead of copying.
    fn from_shared(bytes: &bytes::Bytes) -> Result<Self, ProtoError> {
        Self::from_payload(bytes)
    }
}

/// A request message: its type code, and what a successful answer carries.
pub trait Request: Payload {
    /// Type code of the request.
    const TYPE: MsgType;
    /// Type code of the successful response.
    const RESPONSE_TYPE: MsgType;
    /// The response payload.
    type Response: Payload;
}

/// The empty payload of acknowledgements (STORE, PEX_OFFER, RELAY_CONNECT, HAVE_CONTENT).
/// The reference ignores whatever an acknowledgement carries; so does this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ack;

impl Payload for Ack {
    const NAME: &'static str = "acknowledgement";
    fn to_payload(&self) -> Vec<u8> {
        Vec::new()
    }
    fn from_payload(_: &[u8]) -> Result<Self, ProtoError> {
        Ok(Ack)
    }
}

/// Implements [`Payload`] through the type's minicbor `Encode`/`Decode`.
macro_rules! cbor_payload {
    ($t:ty, $name:literal) => {
        impl $crate::wire::payload::Payload for $t {
            const NAME: &'static str = $name;
            fn to_payload(&self) -> Vec<u8> {
                $crate::cbor::to_vec(self)
            }
            fn from_payload(bytes: &[u8]) -> Result<Self, $crate::error::ProtoError> {
                $crate::cbor::from_slice(bytes).map_err($crate::error::ProtoError::decode($name))
            }
        }
    };
}
pub(crate) use cbor_payload;

/// Declares a request type with its codes and response type.
macro_rules! request {
    ($t:ty, $ty:ident => $rty:ident, $resp:ty) => {
        impl $crate::wire::payload::Request for $t {
            const TYPE: $crate::wire::MsgType = $crate::wire::MsgType::$ty;
            const RESPONSE_TYPE: $crate::wire::MsgType = $crate::wire::MsgType::$rty;
            type Response = $resp;
        }
    };
}
pub(crate) use request;
