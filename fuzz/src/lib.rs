//! Checks shared by the fuzz targets: decode the input; when it decodes, re-encode the value,
//! decode that again, and require the same value and the same bytes (a stable round trip).
//! A panic anywhere (decoder, encoder, verifier) is a finding.

use std::fmt::Debug;
use trove_proto::cbor;
use trove_proto::wire::*;

/// Decodes `data` as `T` and checks the round trip; returns the value when it decoded.
pub fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + Debug,
{
    let value: T = cbor::from_slice(data).ok()?;
    let bytes = cbor::to_vec(&value);
    let again: T = cbor::from_slice(&bytes).unwrap_or_else(|e| panic!("re-encoded {value:?} does not decode: {e}"));
    assert_eq!(value, again, "decode → encode → decode changed the value");
    assert_eq!(bytes, cbor::to_vec(&again), "the encoding of an equal value changed");
    Some(value)
}

/// Re-encodes a request of any type (the inverse of `AnyRequest::decode`).
pub fn encode_request(r: &AnyRequest) -> Vec<u8> {
    match r {
        AnyRequest::PexOffer(v) => v.to_payload(),
        AnyRequest::PexRequest(v) => v.to_payload(),
        AnyRequest::FindNode(v) => v.to_payload(),
        AnyRequest::FindValue(v) => v.to_payload(),
        AnyRequest::Store(v) => v.to_payload(),
        AnyRequest::GetManifest(v) => v.to_payload(),
        AnyRequest::ListPublicShares(v) => v.to_payload(),
        AnyRequest::GetCommunityStatus(v) => v.to_payload(),
        AnyRequest::ListCommunityPublicShares(v) => v.to_payload(),
        AnyRequest::RelayRegister(v) => v.to_payload(),
        AnyRequest::RelayConnect(v) => v.to_payload(),
        AnyRequest::RelayStream(v) => v.to_payload(),
        AnyRequest::RelayListRequest(v) => v.to_payload(),
        AnyRequest::HaveContent(v) => v.to_payload(),
        AnyRequest::GetChunk(v) => v.to_payload(),
        AnyRequest::GetChunkHashes(v) => v.to_payload(),
        AnyRequest::GetManifestPage(v) => v.to_payload(),
        AnyRequest::GetChunkHashesPage(v) => v.to_payload(),
        AnyRequest::WatchHeads(v) => v.to_payload(),
        AnyRequest::GetCommunityRecords(v) => v.to_payload(),
        AnyRequest::PutCommunityRecords(v) => v.to_payload(),
        AnyRequest::RelayOpen(v) => v.to_payload(),
        AnyRequest::RelayIncoming(v) => v.to_payload(),
        AnyRequest::RelayAccept(v) => v.to_payload(),
    }
}

/// Decodes a request payload of type `code` as a server does, and checks its round trip.
pub fn request(code: u16, payload: &[u8]) {
    let t = MsgType(code);
    let v1 = AnyRequest::decode(t, payload);
    let ext = AnyRequest::decode_ext(t, payload, true);
    if t.name().is_some() {
        assert_eq!(v1, ext, "v1 and extension dispatch disagree on a v1 type");
    }
    if let Ok(r) = ext {
        assert_eq!(r.msg_type(), t);
        let bytes = encode_request(&r);
        assert_eq!(AnyRequest::decode_ext(t, &bytes, true), Ok(r), "request round trip");
    }
}

/// The response and DHT value types, in the order of the selector byte.
pub const RESPONSES: [&str; 15] = [
    "FindNodeResult",
    "FindValueResult",
    "ManifestData",
    "PublicShareList",
    "CommunityStatus",
    "CommunityPublicShareList",
    "RelayRegistered",
    "RelayListResponse",
    "ChunkData",
    "ChunkHashList",
    "PexOffer",
    "Providers",
    "CommunityMembers",
    "CommunityRecords",
    "CommunityRecordsAccepted",
];

/// Decodes `data` as the response type chosen by `selector` (modulo 15).
pub fn response(selector: u8, data: &[u8]) {
    match selector as usize % RESPONSES.len() {
        0 => drop(round_trip::<FindNodeResult>(data)),
        1 => drop(round_trip::<FindValueResult>(data)),
        2 => drop(round_trip::<ManifestData>(data)),
        3 => drop(round_trip::<PublicShareList>(data)),
        4 => drop(round_trip::<CommunityStatus>(data)),
        5 => drop(round_trip::<CommunityPublicShareList>(data)),
        6 => drop(round_trip::<RelayRegistered>(data)),
        7 => {
            if let Some(list) = round_trip::<RelayListResponse>(data) {
                list.announcements.iter().for_each(|a| drop(a.validate()));
            }
        }
        8 => drop(round_trip::<ChunkData>(data)),
        9 => drop(round_trip::<ChunkHashList>(data)),
        10 => drop(round_trip::<PexOffer>(data)),
        11 => drop(round_trip::<Providers>(data)),
        12 => drop(round_trip::<CommunityMembers>(data)),
        13 => {
            if let Some(page) = round_trip::<CommunityRecords>(data) {
                page.members.iter().for_each(|m| drop(m.verify(Some(1_700_000_000))));
                page.shares.iter().for_each(|r| drop(r.verify(Some(1_700_000_000))));
            }
        }
        _ => drop(round_trip::<CommunityRecordsAccepted>(data)),
    }
}
