//! The message type registry of SCP2P v1 (SCP2P-WIRE.md §4.1).

use std::fmt;

/// A message type code as carried in the envelope.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgType(pub u16);

macro_rules! types {
    ($($name:ident = $code:expr, $text:literal;)*) => {
        impl MsgType {
            $(#[doc = $text] pub const $name: MsgType = MsgType($code);)*

            /// Every v1 type code.
            pub const ALL_V1: &'static [MsgType] = &[$(MsgType::$name),*];

            /// The protocol name, or `None` for a code SCP2P v1 does not define.
            pub fn name(self) -> Option<&'static str> {
                match self { $(MsgType::$name => Some($text),)* _ => None }
            }
        }
    };
}

types! {
    PEX_OFFER = 100, "PEX_OFFER";
    PEX_REQUEST = 101, "PEX_REQUEST";
    FIND_NODE = 200, "FIND_NODE";
    FIND_VALUE = 201, "FIND_VALUE";
    STORE = 202, "STORE";
    GET_MANIFEST = 400, "GET_MANIFEST";
    MANIFEST_DATA = 401, "MANIFEST_DATA";
    LIST_PUBLIC_SHARES = 402, "LIST_PUBLIC_SHARES";
    PUBLIC_SHARE_LIST = 403, "PUBLIC_SHARE_LIST";
    GET_COMMUNITY_STATUS = 404, "GET_COMMUNITY_STATUS";
    COMMUNITY_STATUS = 405, "COMMUNITY_STATUS";
    LIST_COMMUNITY_PUBLIC_SHARES = 406, "LIST_COMMUNITY_PUBLIC_SHARES";
    COMMUNITY_PUBLIC_SHARE_LIST = 407, "COMMUNITY_PUBLIC_SHARE_LIST";
    RELAY_REGISTER = 450, "RELAY_REGISTER";
    RELAY_REGISTERED = 451, "RELAY_REGISTERED";
    RELAY_CONNECT = 452, "RELAY_CONNECT";
    RELAY_STREAM = 453, "RELAY_STREAM";
    RELAY_LIST_REQUEST = 460, "RELAY_LIST_REQUEST";
    RELAY_LIST_RESPONSE = 461, "RELAY_LIST_RESPONSE";
    PROVIDERS = 498, "PROVIDERS";
    HAVE_CONTENT = 499, "HAVE_CONTENT";
    GET_CHUNK = 500, "GET_CHUNK";
    CHUNK_DATA = 501, "CHUNK_DATA";
    GET_CHUNK_HASHES = 502, "GET_CHUNK_HASHES";
    CHUNK_HASH_LIST = 503, "CHUNK_HASH_LIST";
}

/// trove extension types (docs/PROTOCOL.md §3), sent only to peers that announced them.
impl MsgType {
    pub const GET_MANIFEST_PAGE: MsgType = MsgType(4000);
    pub const MANIFEST_PAGE: MsgType = MsgType(4001);
    pub const GET_CHUNK_HASHES_PAGE: MsgType = MsgType(4002);
    pub const CHUNK_HASHES_PAGE: MsgType = MsgType(4003);
    pub const WATCH_HEADS: MsgType = MsgType(4010);
    pub const HEADS: MsgType = MsgType(4011);
    pub const GET_COMMUNITY_RECORDS: MsgType = MsgType(4030);
    pub const COMMUNITY_RECORDS: MsgType = MsgType(4031);
    pub const PUT_COMMUNITY_RECORDS: MsgType = MsgType(4032);
    pub const COMMUNITY_RECORDS_ACCEPTED: MsgType = MsgType(4033);
    pub const RELAY_OPEN: MsgType = MsgType(4020);
    pub const RELAY_OPENED: MsgType = MsgType(4021);
    pub const RELAY_INCOMING: MsgType = MsgType(4022);
    pub const RELAY_ACCEPT: MsgType = MsgType(4023);

    /// Every extension type code with its name.
    pub const EXTENSIONS: &'static [(MsgType, &'static str)] = &[
        (MsgType::GET_MANIFEST_PAGE, "GET_MANIFEST_PAGE"),
        (MsgType::MANIFEST_PAGE, "MANIFEST_PAGE"),
        (MsgType::GET_CHUNK_HASHES_PAGE, "GET_CHUNK_HASHES_PAGE"),
        (MsgType::CHUNK_HASHES_PAGE, "CHUNK_HASHES_PAGE"),
        (MsgType::WATCH_HEADS, "WATCH_HEADS"),
        (MsgType::HEADS, "HEADS"),
        (MsgType::GET_COMMUNITY_RECORDS, "GET_COMMUNITY_RECORDS"),
        (MsgType::COMMUNITY_RECORDS, "COMMUNITY_RECORDS"),
        (MsgType::PUT_COMMUNITY_RECORDS, "PUT_COMMUNITY_RECORDS"),
        (MsgType::COMMUNITY_RECORDS_ACCEPTED, "COMMUNITY_RECORDS_ACCEPTED"),
        (MsgType::RELAY_OPEN, "RELAY_OPEN"),
        (MsgType::RELAY_OPENED, "RELAY_OPENED"),
        (MsgType::RELAY_INCOMING, "RELAY_INCOMING"),
        (MsgType::RELAY_ACCEPT, "RELAY_ACCEPT"),
    ];

    /// The name of an extension type.
    pub fn ext_name(self) -> Option<&'static str> {
        MsgType::EXTENSIONS.iter().find(|(t, _)| *t == self).map(|(_, n)| *n)
    }
}

impl MsgType {
    /// The type code a successful response to this request carries (§4.1), or `None` for
    /// codes that are not requests.
    pub fn response_type(self) -> Option<MsgType> {
        Some(match self {
            MsgType::PEX_OFFER | MsgType::PEX_REQUEST => MsgType::PEX_OFFER,
            MsgType::FIND_NODE | MsgType::FIND_VALUE | MsgType::STORE => self,
            MsgType::GET_MANIFEST => MsgType::MANIFEST_DATA,
            MsgType::LIST_PUBLIC_SHARES => MsgType::PUBLIC_SHARE_LIST,
            MsgType::GET_COMMUNITY_STATUS => MsgType::COMMUNITY_STATUS,
            MsgType::LIST_COMMUNITY_PUBLIC_SHARES => MsgType::COMMUNITY_PUBLIC_SHARE_LIST,
            MsgType::RELAY_REGISTER => MsgType::RELAY_REGISTERED,
            MsgType::RELAY_CONNECT | MsgType::RELAY_STREAM => self,
            MsgType::RELAY_LIST_REQUEST => MsgType::RELAY_LIST_RESPONSE,
            MsgType::HAVE_CONTENT => self,
            MsgType::GET_CHUNK => MsgType::CHUNK_DATA,
            MsgType::GET_CHUNK_HASHES => MsgType::CHUNK_HASH_LIST,
            _ => return None,
        })
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name().or(self.ext_name()) {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "type {}", self.0),
        }
    }
}

impl fmt::Debug for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_25_codes() {
        assert_eq!(MsgType::ALL_V1.len(), 25);
        assert_eq!(MsgType::GET_CHUNK.response_type(), Some(MsgType::CHUNK_DATA));
        assert_eq!(MsgType::CHUNK_DATA.response_type(), None);
        assert_eq!(MsgType(999).to_string(), "type 999");
    }
}
