//! Every SCP2P v1 wire structure with its byte-exact CBOR encoding and tolerant decoding,
//! plus trove's backward-compatible extensions to them. One structure family per file.

pub mod any_request;
pub mod blocklist;
pub mod capabilities;
pub mod community;
pub mod community_ext;
pub mod dht_msgs;
pub mod envelope;
pub mod ext;
pub mod handshake;
pub mod lan;
pub mod listing;
pub mod manifest;
pub mod msg_type;
pub mod payload;
pub mod peer_addr;
pub mod pex;
pub mod providers;
pub mod relay;
pub mod relay_ext;
pub mod share_head;
pub mod transfer;

pub use any_request::{AnyRequest, RequestError};
pub use blocklist::BlocklistRules;
pub use capabilities::Capabilities;
pub use community::{
    CommunityMembers, CommunityMembershipToken, CommunityPublicShareList, CommunityStatus, GetCommunityStatus,
    ListCommunityPublicShares,
};
pub use community_ext::{
    CommunityRecords, CommunityRecordsAccepted, GetCommunityRecords, MemberRecord, PutCommunityRecords, RecordCursor,
    ShareRecord,
};
pub use dht_msgs::{FindNode, FindNodeResult, FindValue, FindValueResult, Store};
pub use envelope::{Envelope, FLAG_ERROR, FLAG_RESPONSE};
pub use ext::{ChunkHashesPage, GetChunkHashesPage, GetManifestPage, Heads, ManifestPage, WatchHeads};
pub use handshake::{HandshakeHello, HelloExt, Role};
pub use lan::LanPacket;
pub use listing::{ListPublicShares, PublicShareList, PublicShareSummary};
pub use manifest::{Item, Manifest, Visibility};
pub use msg_type::MsgType;
pub use payload::{Ack, Payload, Request};
pub use peer_addr::{PeerAddr, RelayRoute, Transport};
pub use pex::{PexOffer, PexRequest};
pub use providers::Providers;
pub use relay::{
    BandwidthClass, RelayAnnouncement, RelayCapacity, RelayConnect, RelayKind, RelayListRequest, RelayListResponse,
    RelayRegister, RelayRegistered, RelayStream,
};
pub use relay_ext::{RelayAccept, RelayIncoming, RelayOpen, RelayOpened};
pub use share_head::ShareHead;
pub use transfer::{ChunkData, ChunkHashList, GetChunk, GetChunkHashes, GetManifest, HaveContent, ManifestData};
