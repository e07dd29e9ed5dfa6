//! Server-side dispatch: decodes an incoming request envelope into one typed value, and
//! produces the v1 error texts for unknown and unsupported types (SCP2P-WIRE.md §3.3).

use super::community::{GetCommunityStatus, ListCommunityPublicShares};
use super::community_ext::{GetCommunityRecords, PutCommunityRecords};
use super::dht_msgs::{FindNode, FindValue, Store};
use super::ext::{GetChunkHashesPage, GetManifestPage, WatchHeads};
use super::listing::ListPublicShares;
use super::msg_type::MsgType;
use super::payload::Payload;
use super::pex::{PexOffer, PexRequest};
use super::relay::{RelayConnect, RelayListRequest, RelayRegister, RelayStream};
use super::relay_ext::{RelayAccept, RelayIncoming, RelayOpen};
use super::transfer::{GetChunk, GetChunkHashes, GetManifest, HaveContent};

/// Any request a node serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyRequest {
    PexOffer(PexOffer),
    PexRequest(PexRequest),
    FindNode(FindNode),
    FindValue(FindValue),
    Store(Store),
    GetManifest(GetManifest),
    ListPublicShares(ListPublicShares),
    GetCommunityStatus(GetCommunityStatus),
    ListCommunityPublicShares(ListCommunityPublicShares),
    RelayRegister(RelayRegister),
    RelayConnect(RelayConnect),
    RelayStream(RelayStream),
    RelayListRequest(RelayListRequest),
    HaveContent(HaveContent),
    GetChunk(GetChunk),
    GetChunkHashes(GetChunkHashes),
    /// Extension (`paged-manifest`).
    GetManifestPage(GetManifestPage),
    /// Extension (`paged-hashes`).
    GetChunkHashesPage(GetChunkHashesPage),
    /// Extension (`head-push`).
    WatchHeads(WatchHeads),
    /// Extension (`community`): read a community record stream.
    GetCommunityRecords(GetCommunityRecords),
    /// Extension (`community`): records pushed by a member.
    PutCommunityRecords(PutCommunityRecords),
    /// Extension (`relay-e2e`): a dialer asks a relay for a virtual stream.
    RelayOpen(RelayOpen),
    /// Extension (`relay-e2e`): a relay announces a virtual stream to a firewalled node.
    RelayIncoming(RelayIncoming),
    /// Extension (`relay-e2e`): a firewalled node claims a virtual stream.
    RelayAccept(RelayAccept),
}

/// Why an incoming request cannot be served; the `Display` text is what goes back in the
/// error envelope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown message type {0}")]
    Unknown(u16),
    #[error("unsupported message type")]
    Unsupported,
    #[error("{0}")]
    Malformed(String),
}

impl AnyRequest {
    /// Decodes the payload of a request of type `t`; extension types only when `extensions`
    /// (the session is bound to a trove peer), otherwise they are unknown types as in v1.
    pub fn decode_ext(t: MsgType, payload: &[u8], extensions: bool) -> Result<AnyRequest, RequestError> {
        fn p<T: Payload>(b: &[u8], f: fn(T) -> AnyRequest) -> Result<AnyRequest, RequestError> {
            T::from_payload(b).map(f).map_err(|e| RequestError::Malformed(e.to_string()))
        }
        match t {
            MsgType::GET_MANIFEST_PAGE if extensions => p(payload, AnyRequest::GetManifestPage),
            MsgType::GET_CHUNK_HASHES_PAGE if extensions => p(payload, AnyRequest::GetChunkHashesPage),
            MsgType::WATCH_HEADS if extensions => p(payload, AnyRequest::WatchHeads),
            MsgType::GET_COMMUNITY_RECORDS if extensions => p(payload, AnyRequest::GetCommunityRecords),
            MsgType::PUT_COMMUNITY_RECORDS if extensions => p(payload, AnyRequest::PutCommunityRecords),
            MsgType::RELAY_OPEN if extensions => p(payload, AnyRequest::RelayOpen),
            MsgType::RELAY_INCOMING if extensions => p(payload, AnyRequest::RelayIncoming),
            MsgType::RELAY_ACCEPT if extensions => p(payload, AnyRequest::RelayAccept),
            _ => AnyRequest::decode(t, payload),
        }
    }

    /// Decodes the payload of a v1 request of type `t`.
    pub fn decode(t: MsgType, payload: &[u8]) -> Result<AnyRequest, RequestError> {
        fn p<T: Payload>(b: &[u8], f: fn(T) -> AnyRequest) -> Result<AnyRequest, RequestError> {
            T::from_payload(b).map(f).map_err(|e| RequestError::Malformed(e.to_string()))
        }
        match t {
            MsgType::PEX_OFFER => p(payload, AnyRequest::PexOffer),
            MsgType::PEX_REQUEST => p(payload, AnyRequest::PexRequest),
            MsgType::FIND_NODE => p(payload, AnyRequest::FindNode),
            MsgType::FIND_VALUE => p(payload, AnyRequest::FindValue),
            MsgType::STORE => p(payload, AnyRequest::Store),
            MsgType::GET_MANIFEST => p(payload, AnyRequest::GetManifest),
            MsgType::LIST_PUBLIC_SHARES => p(payload, AnyRequest::ListPublicShares),
            MsgType::GET_COMMUNITY_STATUS => p(payload, AnyRequest::GetCommunityStatus),
            MsgType::LIST_COMMUNITY_PUBLIC_SHARES => p(payload, AnyRequest::ListCommunityPublicShares),
            MsgType::RELAY_REGISTER => p(payload, AnyRequest::RelayRegister),
            MsgType::RELAY_CONNECT => p(payload, AnyRequest::RelayConnect),
            MsgType::RELAY_STREAM => p(payload, AnyRequest::RelayStream),
            MsgType::RELAY_LIST_REQUEST => p(payload, AnyRequest::RelayListRequest),
            MsgType::HAVE_CONTENT => p(payload, AnyRequest::HaveContent),
            MsgType::GET_CHUNK => p(payload, AnyRequest::GetChunk),
            MsgType::GET_CHUNK_HASHES => p(payload, AnyRequest::GetChunkHashes),
            t if t.name().is_some() => Err(RequestError::Unsupported),
            t => Err(RequestError::Unknown(t.0)),
        }
    }

    /// The request's type code.
    pub fn msg_type(&self) -> MsgType {
        match self {
            AnyRequest::PexOffer(_) => MsgType::PEX_OFFER,
            AnyRequest::PexRequest(_) => MsgType::PEX_REQUEST,
            AnyRequest::FindNode(_) => MsgType::FIND_NODE,
            AnyRequest::FindValue(_) => MsgType::FIND_VALUE,
            AnyRequest::Store(_) => MsgType::STORE,
            AnyRequest::GetManifest(_) => MsgType::GET_MANIFEST,
            AnyRequest::ListPublicShares(_) => MsgType::LIST_PUBLIC_SHARES,
            AnyRequest::GetCommunityStatus(_) => MsgType::GET_COMMUNITY_STATUS,
            AnyRequest::ListCommunityPublicShares(_) => MsgType::LIST_COMMUNITY_PUBLIC_SHARES,
            AnyRequest::RelayRegister(_) => MsgType::RELAY_REGISTER,
            AnyRequest::RelayConnect(_) => MsgType::RELAY_CONNECT,
            AnyRequest::RelayStream(_) => MsgType::RELAY_STREAM,
            AnyRequest::RelayListRequest(_) => MsgType::RELAY_LIST_REQUEST,
            AnyRequest::HaveContent(_) => MsgType::HAVE_CONTENT,
            AnyRequest::GetChunk(_) => MsgType::GET_CHUNK,
            AnyRequest::GetChunkHashes(_) => MsgType::GET_CHUNK_HASHES,
            AnyRequest::GetManifestPage(_) => MsgType::GET_MANIFEST_PAGE,
            AnyRequest::GetChunkHashesPage(_) => MsgType::GET_CHUNK_HASHES_PAGE,
            AnyRequest::WatchHeads(_) => MsgType::WATCH_HEADS,
            AnyRequest::GetCommunityRecords(_) => MsgType::GET_COMMUNITY_RECORDS,
            AnyRequest::PutCommunityRecords(_) => MsgType::PUT_COMMUNITY_RECORDS,
            AnyRequest::RelayOpen(_) => MsgType::RELAY_OPEN,
            AnyRequest::RelayIncoming(_) => MsgType::RELAY_INCOMING,
            AnyRequest::RelayAccept(_) => MsgType::RELAY_ACCEPT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_unsupported_types() {
        assert_eq!(AnyRequest::decode(MsgType(999), &[]).unwrap_err().to_string(), "unknown message type 999");
        assert_eq!(AnyRequest::decode(MsgType::CHUNK_DATA, &[]).unwrap_err().to_string(), "unsupported message type");
        assert!(matches!(AnyRequest::decode(MsgType::GET_CHUNK, &[0xa0]), Err(RequestError::Malformed(_))));
    }
}
