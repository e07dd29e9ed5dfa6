//! The error type of `trove-proto`: every failure names what was wrong and with which input.

use thiserror::Error;

/// Errors from decoding, parsing and verifying protocol data.
#[derive(Debug, Error)]
pub enum ProtoError {
    /// Bytes that do not decode as the expected structure.
    #[error("cannot decode {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: minicbor::decode::Error,
    },
    /// Text from a user or a link that does not parse (hex ids, links, addresses).
    #[error("invalid {what} '{input}': {reason}")]
    Parse { what: &'static str, input: String, reason: String },
    /// A signature that does not verify, or a public key that is not a valid point.
    #[error("{0}")]
    Signature(String),
    /// A structure that decodes but breaks a protocol rule or limit.
    #[error("{0}")]
    Invalid(String),
}

impl ProtoError {
    /// Wraps a decode error with the name of the structure being decoded.
    pub fn decode(what: &'static str) -> impl FnOnce(minicbor::decode::Error) -> ProtoError {
        move |source| ProtoError::Decode { what, source }
    }

    /// A parse error for user-supplied text (truncated to keep messages readable).
    pub fn parse(what: &'static str, input: &str, reason: impl Into<String>) -> ProtoError {
        let mut input = input.to_owned();
        if input.len() > 120 {
            let cut = (0..=120).rev().find(|i| input.is_char_boundary(*i)).unwrap_or(0);
            input.truncate(cut);
            input.push('…');
        }
        ProtoError::Parse { what, input, reason: reason.into() }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ProtoError> = std::result::Result<T, E>;
