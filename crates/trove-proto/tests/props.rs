//! Properties of the codec (proptest):
//! - every wire type round-trips: encode → decode → equal value → identical bytes, and every
//!   strict prefix of an encoding fails to decode;
//! - no decoder panics on arbitrary bytes, on random CBOR built from the protocol's own key
//!   names, on any truncation of the vector encodings, or on random mutations of valid
//!   encodings, and whatever decodes re-encodes to something that decodes to the same value;
//! - flipping any bit of any signed field makes verification fail (TEST-MATRIX IN-5), for the
//!   manifest, share head, membership token, relay announcement and handshake hello.

mod common;

use common::*;
use proptest::collection::vec as pvec;
use proptest::option::of as popt;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use trove_proto::error::ProtoError;
use trove_proto::ids::{ContentId, DhtKey, ManifestId, NodeId, PubKey, ShareId};
use trove_proto::keys;
use trove_proto::wire::handshake::HelloExt;
use trove_proto::wire::*;
use trove_proto::{Keypair, ShareLink, cbor};

// ---------------------------------------------------------------- strategies: building blocks

fn bytes<const N: usize>() -> impl Strategy<Value = [u8; N]> {
    pvec(any::<u8>(), N).prop_map(|v| v.try_into().unwrap())
}
fn blob() -> impl Strategy<Value = Vec<u8>> {
    pvec(any::<u8>(), 0..48)
}
fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}
fn pubkey() -> impl Strategy<Value = PubKey> {
    bytes().prop_map(PubKey)
}
fn share_id() -> impl Strategy<Value = ShareId> {
    bytes().prop_map(ShareId)
}
fn content_id() -> impl Strategy<Value = ContentId> {
    bytes().prop_map(ContentId)
}
fn manifest_id() -> impl Strategy<Value = ManifestId> {
    bytes().prop_map(ManifestId)
}
fn dht_key() -> impl Strategy<Value = DhtKey> {
    bytes().prop_map(DhtKey)
}
fn capabilities() -> impl Strategy<Value = Capabilities> {
    any::<[bool; 5]>().prop_map(|[dht, store, relay, content_seed, mobile_light]| Capabilities {
        dht,
        store,
        relay,
        content_seed,
        mobile_light,
    })
}
fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![Just(Transport::Tcp), Just(Transport::Quic)]
}
fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        bytes::<4>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        bytes::<16>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
    ]
}
fn direct_peer() -> impl Strategy<Value = PeerAddr> {
    (ip(), any::<u16>(), transport(), popt(pubkey())).prop_map(|(ip, port, transport, pubkey_hint)| PeerAddr {
        ip,
        port,
        transport,
        pubkey_hint,
        relay_via: None,
    })
}
/// A PeerAddr with up to two nested relay routes (the decoder's limit).
fn peer_addr() -> impl Strategy<Value = PeerAddr> {
    (direct_peer(), pvec((direct_peer(), any::<u64>()), 0..=2)).prop_map(|(mut p, routes)| {
        let mut via = None;
        for (mut relay_addr, slot_id) in routes.into_iter().rev() {
            relay_addr.relay_via = via;
            via = Some(Box::new(RelayRoute { relay_addr, slot_id }));
        }
        p.relay_via = via;
        p
    })
}
fn peers() -> impl Strategy<Value = Vec<PeerAddr>> {
    pvec(peer_addr(), 0..4)
}

// ---------------------------------------------------------------- strategies: structures

fn item() -> impl Strategy<Value = Item> {
    (content_id(), any::<u64>(), text(), popt(text()), popt(text()), pvec(text(), 0..4), any::<u32>(), bytes())
        .prop_map(|(content_id, size, name, path, mime, tags, chunk_count, chunk_list_hash)| Item {
            content_id,
            size,
            name,
            path,
            mime,
            tags,
            chunk_count,
            chunk_list_hash,
        })
}
fn visibility() -> impl Strategy<Value = Visibility> {
    prop_oneof![Just(Visibility::Private), Just(Visibility::Public)]
}
fn manifest() -> impl Strategy<Value = Manifest> {
    (
        (any::<u8>(), pubkey(), share_id(), any::<u64>(), any::<u64>(), popt(any::<u64>())),
        (popt(text()), popt(text()), visibility(), pvec(share_id(), 0..3), pvec(item(), 0..4)),
        (pvec(share_id(), 0..3), popt(bytes::<64>())),
    )
        .prop_map(
            |(
                (version, share_pubkey, share_id, seq, created_at, expires_at),
                (title, description, visibility, communities, items),
                (recommended_shares, signature),
            )| Manifest {
                version,
                share_pubkey,
                share_id,
                seq,
                created_at,
                expires_at,
                title,
                description,
                visibility,
                communities,
                items,
                recommended_shares,
                signature,
            },
        )
}
fn share_head() -> impl Strategy<Value = ShareHead> {
    (share_id(), any::<u64>(), manifest_id(), any::<u64>(), bytes::<64>(), popt(pubkey())).prop_map(
        |(share_id, latest_seq, latest_manifest_id, updated_at, sig, share_pubkey)| ShareHead {
            share_id,
            latest_seq,
            latest_manifest_id,
            updated_at,
            sig,
            share_pubkey,
        },
    )
}
fn hello_ext() -> impl Strategy<Value = HelloExt> {
    (any::<u16>(), pvec("[a-z0-9-]{0,24}", 0..5), popt(bytes::<64>()))
        .prop_map(|(version, features, binding)| HelloExt { version, features, binding, addrs: Vec::new() })
}
fn hello() -> impl Strategy<Value = HandshakeHello> {
    (
        (pubkey(), capabilities(), bytes::<32>(), popt(bytes::<32>()), any::<u64>()),
        (any::<u16>(), bytes::<32>(), bytes::<64>(), popt(hello_ext())),
    )
        .prop_map(
            |(
                (node_pubkey, capabilities, nonce, echoed_nonce, timestamp_unix_secs),
                (protocol_version, ephemeral_pubkey, signature, ext),
            )| HandshakeHello {
                node_pubkey,
                capabilities,
                nonce,
                echoed_nonce,
                timestamp_unix_secs,
                protocol_version,
                ephemeral_pubkey,
                signature,
                ext,
            },
        )
}
fn envelope() -> impl Strategy<Value = Envelope> {
    (any::<u16>(), any::<u32>(), any::<u16>(), blob()).prop_map(|(t, req_id, flags, payload)| Envelope {
        msg_type: MsgType(t),
        req_id,
        flags,
        payload: payload.into(),
    })
}
fn store() -> impl Strategy<Value = Store> {
    (dht_key(), blob(), 0..=i64::MAX as u64).prop_map(|(key, value, ttl_secs)| Store { key, value, ttl_secs })
}
fn summary() -> impl Strategy<Value = PublicShareSummary> {
    (share_id(), pubkey(), any::<u64>(), manifest_id(), popt(text()), popt(text())).prop_map(
        |(share_id, share_pubkey, latest_seq, latest_manifest_id, title, description)| PublicShareSummary {
            share_id,
            share_pubkey,
            latest_seq,
            latest_manifest_id,
            title,
            description,
        },
    )
}
fn relay_capacity() -> impl Strategy<Value = RelayCapacity> {
    let class = prop_oneof![Just(BandwidthClass::Low), Just(BandwidthClass::Medium), Just(BandwidthClass::High)];
    (any::<u16>(), class, popt(any::<u64>())).prop_map(|(max_tunnels, bandwidth_class, max_bytes_per_tunnel)| {
        RelayCapacity { max_tunnels, bandwidth_class, max_bytes_per_tunnel }
    })
}
fn relay_announcement() -> impl Strategy<Value = RelayAnnouncement> {
    (pubkey(), peers(), capabilities(), relay_capacity(), any::<u64>(), any::<u64>(), bytes::<64>()).prop_map(
        |(relay_pubkey, relay_addrs, capabilities, capacity, issued_at, expires_at, signature)| RelayAnnouncement {
            relay_pubkey,
            relay_addrs,
            capabilities,
            capacity,
            issued_at,
            expires_at,
            signature,
        },
    )
}
fn token() -> impl Strategy<Value = CommunityMembershipToken> {
    (share_id(), pubkey(), any::<u64>(), any::<u64>(), bytes::<64>()).prop_map(
        |(community_share_id, member_node_pubkey, issued_at, expires_at, signature)| CommunityMembershipToken {
            community_share_id,
            member_node_pubkey,
            issued_at,
            expires_at,
            signature,
        },
    )
}
fn community_members() -> impl Strategy<Value = CommunityMembers> {
    (share_id(), peers(), any::<u64>()).prop_map(|(community_share_id, members, updated_at)| CommunityMembers {
        community_share_id,
        members,
        updated_at,
    })
}
fn lan_packet() -> impl Strategy<Value = LanPacket> {
    (any::<u64>(), bytes::<16>(), any::<u16>(), popt(capabilities()), popt(any::<u16>()), popt(pubkey())).prop_map(
        |(version, instance_id, tcp_port, capabilities, quic_port, node_pubkey)| LanPacket {
            version,
            instance_id,
            tcp_port,
            capabilities,
            quic_port,
            node_pubkey,
        },
    )
}
fn blocklist() -> impl Strategy<Value = BlocklistRules> {
    (pvec(share_id(), 0..4), pvec(content_id(), 0..4))
        .prop_map(|(blocked_share_ids, blocked_content_ids)| BlocklistRules { blocked_share_ids, blocked_content_ids })
}
fn relay_kind() -> impl Strategy<Value = RelayKind> {
    prop_oneof![Just(RelayKind::Control), Just(RelayKind::Content)]
}

// ---------------------------------------------------------------- strategies: payloads

fn pex_offer() -> impl Strategy<Value = PexOffer> {
    peers().prop_map(|peers| PexOffer { peers })
}
fn pex_request() -> impl Strategy<Value = PexRequest> {
    any::<u8>().prop_map(|max_peers| PexRequest { max_peers })
}
fn find_node() -> impl Strategy<Value = FindNode> {
    bytes().prop_map(|t| FindNode { target: NodeId(t) })
}
fn find_node_result() -> impl Strategy<Value = FindNodeResult> {
    peers().prop_map(|peers| FindNodeResult { peers })
}
fn find_value() -> impl Strategy<Value = FindValue> {
    dht_key().prop_map(|key| FindValue { key })
}
fn find_value_result() -> impl Strategy<Value = FindValueResult> {
    (popt(store()), peers()).prop_map(|(value, closer_peers)| FindValueResult { value, closer_peers })
}
fn get_manifest() -> impl Strategy<Value = GetManifest> {
    manifest_id().prop_map(|manifest_id| GetManifest { manifest_id })
}
fn manifest_data() -> impl Strategy<Value = ManifestData> {
    (manifest_id(), blob()).prop_map(|(manifest_id, bytes)| ManifestData { manifest_id, bytes })
}
fn list_public_shares() -> impl Strategy<Value = ListPublicShares> {
    any::<u16>().prop_map(|max_entries| ListPublicShares { max_entries })
}
fn public_share_list() -> impl Strategy<Value = PublicShareList> {
    pvec(summary(), 0..3).prop_map(|shares| PublicShareList { shares })
}
fn get_community_status() -> impl Strategy<Value = GetCommunityStatus> {
    (share_id(), pubkey()).prop_map(|(community_share_id, community_share_pubkey)| GetCommunityStatus {
        community_share_id,
        community_share_pubkey,
    })
}
fn community_status() -> impl Strategy<Value = CommunityStatus> {
    (share_id(), any::<bool>(), popt(blob()), popt(text())).prop_map(
        |(community_share_id, joined, membership_proof, name)| CommunityStatus {
            community_share_id,
            joined,
            membership_proof,
            name,
        },
    )
}
fn list_community_public_shares() -> impl Strategy<Value = ListCommunityPublicShares> {
    (share_id(), pubkey(), any::<u16>(), popt(pubkey()), popt(blob())).prop_map(
        |(
            community_share_id,
            community_share_pubkey,
            max_entries,
            requester_node_pubkey,
            requester_membership_proof,
        )| {
            ListCommunityPublicShares {
                community_share_id,
                community_share_pubkey,
                max_entries,
                requester_node_pubkey,
                requester_membership_proof,
            }
        },
    )
}
fn community_public_share_list() -> impl Strategy<Value = CommunityPublicShareList> {
    (share_id(), pvec(summary(), 0..3))
        .prop_map(|(community_share_id, shares)| CommunityPublicShareList { community_share_id, shares })
}
fn relay_register() -> impl Strategy<Value = RelayRegister> {
    (popt(any::<u64>()), any::<bool>()).prop_map(|(relay_slot_id, tunnel)| RelayRegister { relay_slot_id, tunnel })
}
fn relay_registered() -> impl Strategy<Value = RelayRegistered> {
    (any::<u64>(), any::<u64>()).prop_map(|(relay_slot_id, expires_at)| RelayRegistered { relay_slot_id, expires_at })
}
fn relay_connect() -> impl Strategy<Value = RelayConnect> {
    any::<u64>().prop_map(|relay_slot_id| RelayConnect { relay_slot_id })
}
fn relay_stream() -> impl Strategy<Value = RelayStream> {
    (any::<u64>(), any::<u32>(), relay_kind(), blob())
        .prop_map(|(relay_slot_id, stream_id, kind, payload)| RelayStream { relay_slot_id, stream_id, kind, payload })
}
fn relay_list_request() -> impl Strategy<Value = RelayListRequest> {
    any::<u16>().prop_map(|max_count| RelayListRequest { max_count })
}
fn relay_list_response() -> impl Strategy<Value = RelayListResponse> {
    pvec(relay_announcement(), 0..3).prop_map(|announcements| RelayListResponse { announcements })
}
fn providers() -> impl Strategy<Value = Providers> {
    (content_id(), peers(), any::<u64>()).prop_map(|(content_id, providers, updated_at)| Providers {
        content_id,
        providers,
        updated_at,
    })
}
fn have_content() -> impl Strategy<Value = HaveContent> {
    content_id().prop_map(|content_id| HaveContent { content_id })
}
fn get_chunk() -> impl Strategy<Value = GetChunk> {
    (content_id(), any::<u32>()).prop_map(|(content_id, chunk_index)| GetChunk { content_id, chunk_index })
}
fn chunk_data() -> impl Strategy<Value = ChunkData> {
    (content_id(), any::<u32>(), pvec(any::<u8>(), 0..600)).prop_map(|(content_id, chunk_index, bytes)| ChunkData {
        content_id,
        chunk_index,
        bytes: bytes.into(),
    })
}
fn get_chunk_hashes() -> impl Strategy<Value = GetChunkHashes> {
    content_id().prop_map(|content_id| GetChunkHashes { content_id })
}
fn chunk_hash_list() -> impl Strategy<Value = ChunkHashList> {
    (content_id(), pvec(bytes::<32>(), 0..4)).prop_map(|(content_id, hashes)| ChunkHashList { content_id, hashes })
}
/// Every request a node serves, as the dispatcher returns it.
fn any_request() -> impl Strategy<Value = AnyRequest> {
    prop_oneof![
        pex_offer().prop_map(AnyRequest::PexOffer),
        pex_request().prop_map(AnyRequest::PexRequest),
        find_node().prop_map(AnyRequest::FindNode),
        find_value().prop_map(AnyRequest::FindValue),
        store().prop_map(AnyRequest::Store),
        get_manifest().prop_map(AnyRequest::GetManifest),
        list_public_shares().prop_map(AnyRequest::ListPublicShares),
        get_community_status().prop_map(AnyRequest::GetCommunityStatus),
        list_community_public_shares().prop_map(AnyRequest::ListCommunityPublicShares),
        relay_register().prop_map(AnyRequest::RelayRegister),
        relay_connect().prop_map(AnyRequest::RelayConnect),
        relay_stream().prop_map(AnyRequest::RelayStream),
        relay_list_request().prop_map(AnyRequest::RelayListRequest),
        have_content().prop_map(AnyRequest::HaveContent),
        get_chunk().prop_map(AnyRequest::GetChunk),
        get_chunk_hashes().prop_map(AnyRequest::GetChunkHashes),
    ]
}
/// A bootstrap entry as a share link carries it: non-empty, trimmed, no comma.
fn bootstrap_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        peer_addr().prop_map(|p| format!("{}://{}", p.transport.as_str(), p.socket_addr())),
        "[^,]{1,24}".prop_map(|s| s.trim().to_owned()).prop_filter("non-empty", |s| !s.is_empty()),
    ]
}
fn share_link() -> impl Strategy<Value = ShareLink> {
    (pubkey(), pvec(bootstrap_entry(), 0..4)).prop_map(|(k, bootstrap)| ShareLink::new(k, bootstrap))
}

// ---------------------------------------------------------------- round trips

/// Encode → decode → equal → same bytes; every strict prefix fails; and all decoders run
/// on the encoding without panicking.
fn check_round_trip<T>(v: &T) -> Result<(), TestCaseError>
where
    T: minicbor::Encode<()> + for<'b> minicbor::Decode<'b, ()> + PartialEq + std::fmt::Debug,
{
    let bytes = cbor::to_vec(v);
    let back: T = cbor::from_slice(&bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", hexs(&bytes))))?;
    prop_assert_eq!(&back, v);
    prop_assert_eq!(hexs(&cbor::to_vec(&back)), hexs(&bytes));
    for cut in 0..bytes.len() {
        prop_assert!(cbor::from_slice::<T>(&bytes[..cut]).is_err(), "prefix of {} bytes decodes", cut);
    }
    for (_, decode) in all_decoders(true) {
        decode(&bytes);
    }
    Ok(())
}

macro_rules! round_trips {
    ($($name:ident: $strategy:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $name(v in $strategy) {
                    check_round_trip(&v)?;
                }
            )*
        }
    };
}

round_trips! {
    round_trip_peer_addr: peer_addr();
    round_trip_capabilities: capabilities();
    round_trip_item: item();
    round_trip_manifest: manifest();
    round_trip_share_head: share_head();
    round_trip_hello_ext: hello_ext();
    round_trip_hello: hello();
    round_trip_envelope: envelope();
    round_trip_pex_offer: pex_offer();
    round_trip_pex_request: pex_request();
    round_trip_find_node: find_node();
    round_trip_find_node_result: find_node_result();
    round_trip_find_value: find_value();
    round_trip_find_value_result: find_value_result();
    round_trip_store: store();
    round_trip_get_manifest: get_manifest();
    round_trip_manifest_data: manifest_data();
    round_trip_list_public_shares: list_public_shares();
    round_trip_public_share_list: public_share_list();
    round_trip_get_community_status: get_community_status();
    round_trip_community_status: community_status();
    round_trip_list_community_public_shares: list_community_public_shares();
    round_trip_community_public_share_list: community_public_share_list();
    round_trip_community_members: community_members();
    round_trip_token: token();
    round_trip_relay_register: relay_register();
    round_trip_relay_registered: relay_registered();
    round_trip_relay_connect: relay_connect();
    round_trip_relay_stream: relay_stream();
    round_trip_relay_list_request: relay_list_request();
    round_trip_relay_list_response: relay_list_response();
    round_trip_relay_capacity: relay_capacity();
    round_trip_relay_announcement: relay_announcement();
    round_trip_providers: providers();
    round_trip_have_content: have_content();
    round_trip_get_chunk: get_chunk();
    round_trip_chunk_data: chunk_data();
    round_trip_get_chunk_hashes: get_chunk_hashes();
    round_trip_chunk_hash_list: chunk_hash_list();
    round_trip_lan_packet: lan_packet();
    round_trip_blocklist: blocklist();
}

proptest! {
    /// The server-side dispatcher returns exactly the request that was encoded.
    #[test]
    fn requests_dispatch_to_what_was_sent(r in any_request()) {
        let bytes = encode_request(&r);
        prop_assert_eq!(AnyRequest::decode(r.msg_type(), &bytes), Ok(r.clone()));
        prop_assert!(r.msg_type().response_type().is_some());
        // Carried in an envelope and back.
        let env = Envelope::request(r.msg_type(), 7, bytes);
        let back = Envelope::from_bytes(&env.to_bytes()).unwrap();
        prop_assert_eq!(AnyRequest::decode(back.msg_type, &back.payload), Ok(r));
    }

    /// Share links print and parse back, bootstrap lists included.
    #[test]
    fn share_links_round_trip(link in share_link()) {
        let printed = link.to_string();
        prop_assert!(printed.starts_with("scp2p://s/"));
        prop_assert_eq!(printed.contains("?bp="), !link.bootstrap.is_empty());
        let back = ShareLink::parse(&printed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &link);
        prop_assert_eq!(back.to_string(), printed.clone());
        // Surrounding whitespace is trimmed; a damaged payload is refused.
        prop_assert_eq!(ShareLink::parse(&format!("  {printed}\n")).unwrap(), link);
        let mut damaged = printed.into_bytes();
        damaged[12] = if damaged[12] == b'A' { b'B' } else { b'A' };
        prop_assert!(ShareLink::parse(std::str::from_utf8(&damaged).unwrap()).is_err());
    }
}

// ---------------------------------------------------------------- decoders never panic

/// Runs every decoder (with round-trip checks on success) on `bytes`.
fn decode_everything(bytes: &[u8]) {
    for (_, decode) in all_decoders(true) {
        decode(bytes);
    }
}

/// The protocol's key names, so random maps hit real fields.
const KEYS: &[&str] = &[
    "type",
    "req_id",
    "flags",
    "payload",
    "ip",
    "V4",
    "V6",
    "port",
    "transport",
    "pubkey_hint",
    "relay_via",
    "relay_addr",
    "slot_id",
    "version",
    "share_pubkey",
    "share_id",
    "seq",
    "created_at",
    "expires_at",
    "title",
    "description",
    "visibility",
    "communities",
    "items",
    "recommended_shares",
    "signature",
    "content_id",
    "size",
    "name",
    "path",
    "mime",
    "tags",
    "chunk_count",
    "chunk_list_hash",
    "latest_seq",
    "latest_manifest_id",
    "updated_at",
    "sig",
    "node_pubkey",
    "capabilities",
    "dht",
    "store",
    "relay",
    "content_seed",
    "mobile_light",
    "nonce",
    "echoed_nonce",
    "timestamp_unix_secs",
    "protocol_version",
    "ephemeral_pubkey",
    "trove",
    "v",
    "features",
    "bind",
    "peers",
    "max_peers",
    "manifest_id",
    "bytes",
    "max_entries",
    "shares",
    "community_share_id",
    "community_share_pubkey",
    "joined",
    "membership_proof",
    "requester_node_pubkey",
    "requester_membership_proof",
    "members",
    "member_node_pubkey",
    "issued_at",
    "relay_pubkey",
    "relay_addrs",
    "capacity",
    "max_tunnels",
    "bandwidth_class",
    "max_bytes_per_tunnel",
    "relay_slot_id",
    "tunnel",
    "stream_id",
    "kind",
    "max_count",
    "announcements",
    "providers",
    "instance_id",
    "tcp_port",
    "quic_port",
    "blocked_share_ids",
    "blocked_content_ids",
    "tcp",
    "quic",
    "public",
    "private",
    "control",
    "content",
    "Low",
    "Medium",
    "High",
];

/// Random CBOR built from the protocol's vocabulary: known keys and plausible values, nested.
fn cbor_value() -> impl Strategy<Value = Vec<u8>> {
    use common::raw::*;
    let key = prop::sample::select(KEYS).prop_map(tstr);
    let leaf = prop_oneof![
        any::<u64>().prop_map(uint),
        (0u64..300).prop_map(uint),
        any::<i64>().prop_map(|n| int(n.min(-1))),
        blob().prop_map(|b| bstr(&b)),
        bytes::<32>().prop_map(|b| bstr(&b)),
        bytes::<32>().prop_map(|b| ints(&b)),
        bytes::<64>().prop_map(|b| ints(&b)),
        bytes::<4>().prop_map(|b| ints(&b)),
        key.clone(),
        text().prop_map(|s| tstr(&s)),
        Just(null()),
        any::<bool>().prop_map(bool),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            pvec(inner.clone(), 0..6).prop_map(|v| array(&v)),
            pvec((key.clone(), inner.clone()), 0..9).prop_map(|kv| {
                let mut m = cbor::build(|e| e.map(kv.len() as u64).map(drop));
                kv.into_iter().for_each(|(k, v)| m.extend(k.into_iter().chain(v)));
                m
            }),
            pvec((0u64..4, inner.clone()), 0..4).prop_map(|kv| imap(&kv)),
            (any::<u64>(), inner).prop_map(|(t, v)| tagged(t, v)),
        ]
    })
}

/// One random edit of a byte string.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Edit::Insert(i, v)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    if bytes.is_empty() {
        return;
    }
    let at = |i: usize| i % bytes.len();
    match *e {
        Edit::Flip(i, b) => {
            let i = at(i);
            bytes[i] ^= 1 << b;
        }
        Edit::Set(i, v) => {
            let i = at(i);
            bytes[i] = v;
        }
        Edit::Insert(i, v) => {
            let i = at(i);
            bytes.insert(i, v);
        }
        Edit::Delete(i) => {
            let i = at(i);
            bytes.remove(i);
        }
        Edit::Truncate(i) => bytes.truncate(at(i)),
    }
}

/// Every encoding in the vectors file.
fn vector_samples() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let is_cbor = ["cbor", "payload", "envelope", "transmitted_cbor", "body"].contains(&k.as_str());
                    match v.as_str() {
                        Some(s) if is_cbor && !s.is_empty() => out.push(h(s)),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(vectors(), &mut out);
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_truncation_of_every_vector_is_handled_by_every_decoder() {
    let samples = vector_samples();
    assert!(samples.len() >= 60, "only {} samples", samples.len());
    let decoders = all_decoders(true);
    let mut accepted_whole = 0;
    for s in &samples {
        accepted_whole += decoders.iter().filter(|(_, d)| d(s)).count();
        // A strict prefix of the first CBOR item is never a complete item: nothing takes it.
        let mut d = minicbor::Decoder::new(s);
        let item_len = d.skip().map(|_| d.position()).unwrap_or(s.len());
        for cut in 0..item_len {
            for (name, decode) in &decoders {
                assert!(!decode(&s[..cut]), "{name} decodes a {cut}-byte prefix of {}", hexs(s));
            }
        }
    }
    assert!(accepted_whole >= samples.len(), "the samples decode as something");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in pvec(any::<u8>(), 0..300)) {
        decode_everything(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_protocol_shaped_cbor(bytes in cbor_value()) {
        decode_everything(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_vectors(pick in any::<prop::sample::Index>(), edits in pvec(edit(), 1..5)) {
        let samples = vector_samples();
        let mut bytes = samples[pick.index(samples.len())].clone();
        for e in &edits {
            apply(&mut bytes, e);
        }
        decode_everything(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_mutated_manifests(m in manifest(), edits in pvec(edit(), 1..5)) {
        let mut bytes = m.to_bytes();
        for e in &edits {
            apply(&mut bytes, e);
        }
        decode_everything(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_requests(r in any_request(), edits in pvec(edit(), 1..4)) {
        let mut bytes = encode_request(&r);
        for e in &edits {
            apply(&mut bytes, e);
        }
        decode_everything(&bytes);
    }
}

// ---------------------------------------------------------------- IN-5: signed fields

fn flip_bytes(b: &[u8]) -> Vec<Vec<u8>> {
    (0..b.len() * 8)
        .map(|i| {
            let mut c = b.to_vec();
            c[i / 8] ^= 1 << (i % 8);
            c
        })
        .collect()
}
fn flip_arr<const N: usize>(a: &[u8; N]) -> Vec<[u8; N]> {
    flip_bytes(a).into_iter().map(|v| v.try_into().unwrap()).collect()
}
fn flip_u64(v: u64) -> Vec<u64> {
    (0..64).map(|i| v ^ (1 << i)).collect()
}
/// Bit flips that keep the string valid UTF-8.
fn flip_str(s: &str) -> Vec<String> {
    flip_bytes(s.as_bytes()).into_iter().filter_map(|b| String::from_utf8(b).ok()).collect()
}
fn flip_opt_u64(o: Option<u64>) -> Vec<Option<u64>> {
    match o {
        Some(v) => flip_u64(v).into_iter().map(Some).chain([None]).collect(),
        None => vec![Some(0)],
    }
}
fn flip_opt_str(o: &Option<String>) -> Vec<Option<String>> {
    match o {
        Some(s) => flip_str(s).into_iter().map(Some).chain([None]).collect(),
        None => vec![Some(String::new())],
    }
}
fn flip_opt_arr<const N: usize>(o: &Option<[u8; N]>) -> Vec<Option<[u8; N]>> {
    match o {
        Some(a) => flip_arr(a).into_iter().map(Some).chain([None]).collect(),
        None => vec![Some([0; N])],
    }
}
/// Every single-bit flip of every element, plus one element more and one fewer.
fn flip_list<T: Clone>(list: &[T], flip: impl Fn(&T) -> Vec<T>, extra: T) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    for (i, x) in list.iter().enumerate() {
        for f in flip(x) {
            let mut l = list.to_vec();
            l[i] = f;
            out.push(l);
        }
    }
    let mut longer = list.to_vec();
    longer.push(extra);
    out.push(longer);
    if !list.is_empty() {
        out.push(list[1..].to_vec());
    }
    out
}
fn flip_caps(c: Capabilities) -> Vec<Capabilities> {
    (0..5)
        .map(|i| {
            let mut c = c;
            let f = [&mut c.dht, &mut c.store, &mut c.relay, &mut c.content_seed, &mut c.mobile_light];
            *f.into_iter().nth(i).unwrap() ^= true;
            c
        })
        .collect()
}
fn flip_peer(p: &PeerAddr) -> Vec<PeerAddr> {
    let mut out = Vec::new();
    let octets = match p.ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    for o in flip_bytes(&octets) {
        let ip = match o.len() {
            4 => IpAddr::from(<[u8; 4]>::try_from(o).unwrap()),
            _ => IpAddr::from(<[u8; 16]>::try_from(o).unwrap()),
        };
        out.push(PeerAddr { ip, ..p.clone() });
    }
    for port in (0..16).map(|i| p.port ^ (1 << i)) {
        out.push(PeerAddr { port, ..p.clone() });
    }
    let other = if p.transport == Transport::Tcp { Transport::Quic } else { Transport::Tcp };
    out.push(PeerAddr { transport: other, ..p.clone() });
    for h in flip_opt_arr(&p.pubkey_hint.map(|k| k.0)) {
        out.push(PeerAddr { pubkey_hint: h.map(PubKey), ..p.clone() });
    }
    let route = RelayRoute { relay_addr: PeerAddr { relay_via: None, ..p.clone() }, slot_id: 1 };
    out.push(PeerAddr { relay_via: Some(Box::new(route)), ..p.clone() });
    out
}

/// Every single-field, single-bit variant of a manifest's signed fields and its signature.
fn manifest_variants(m: &Manifest) -> Vec<(String, Manifest)> {
    let mut out: Vec<(String, Manifest)> = Vec::new();
    let mut add = |label: &str, f: &dyn Fn(&mut Manifest)| {
        let mut c = m.clone();
        f(&mut c);
        out.push((label.to_owned(), c));
    };
    for v in (0..8).map(|i| m.version ^ (1 << i)) {
        add("version", &|c| c.version = v);
    }
    for k in flip_arr(&m.share_pubkey.0) {
        add("share_pubkey", &|c| c.share_pubkey = PubKey(k));
    }
    for k in flip_arr(&m.share_id.0) {
        add("share_id", &|c| c.share_id = ShareId(k));
    }
    for v in flip_u64(m.seq) {
        add("seq", &|c| c.seq = v);
    }
    for v in flip_u64(m.created_at) {
        add("created_at", &|c| c.created_at = v);
    }
    for v in flip_opt_u64(m.expires_at) {
        add("expires_at", &|c| c.expires_at = v);
    }
    for v in flip_opt_str(&m.title) {
        add("title", &|c| c.title = v.clone());
    }
    for v in flip_opt_str(&m.description) {
        add("description", &|c| c.description = v.clone());
    }
    add("visibility", &|c| {
        c.visibility = if m.visibility == Visibility::Public { Visibility::Private } else { Visibility::Public }
    });
    let flip_id = |id: &ShareId| flip_arr(&id.0).into_iter().map(ShareId).collect();
    for l in flip_list(&m.communities, flip_id, ShareId([0; 32])) {
        add("communities", &|c| c.communities = l.clone());
    }
    for l in flip_list(&m.recommended_shares, flip_id, ShareId([0; 32])) {
        add("recommended_shares", &|c| c.recommended_shares = l.clone());
    }
    for (i, it) in m.items.iter().enumerate() {
        for k in flip_arr(&it.content_id.0) {
            add("item content_id", &|c| c.items[i].content_id = ContentId(k));
        }
        for v in flip_u64(it.size) {
            add("item size", &|c| c.items[i].size = v);
        }
        for v in flip_str(&it.name) {
            add("item name", &|c| c.items[i].name = v.clone());
        }
        for v in flip_opt_str(&it.path) {
            add("item path", &|c| c.items[i].path = v.clone());
        }
        for v in flip_opt_str(&it.mime) {
            add("item mime", &|c| c.items[i].mime = v.clone());
        }
        for l in flip_list(&it.tags, |t| flip_str(t), String::new()) {
            add("item tags", &|c| c.items[i].tags = l.clone());
        }
        for v in (0..32).map(|b| it.chunk_count ^ (1 << b)) {
            add("item chunk_count", &|c| c.items[i].chunk_count = v);
        }
        for h in flip_arr(&it.chunk_list_hash) {
            add("item chunk_list_hash", &|c| c.items[i].chunk_list_hash = h);
        }
    }
    let extra = m.items.first().cloned();
    if let Some(extra) = extra {
        add("items (one more)", &|c| c.items.push(extra.clone()));
        add("items (one fewer)", &|c| drop(c.items.pop()));
    }
    for s in flip_opt_arr(&m.signature) {
        add("signature", &|c| c.signature = s);
    }
    out
}

fn head_variants(h: &ShareHead) -> Vec<(String, ShareHead)> {
    let mut out = Vec::new();
    out.extend(
        flip_arr(&h.share_id.0).into_iter().map(|k| ("share_id", ShareHead { share_id: ShareId(k), ..h.clone() })),
    );
    out.extend(flip_u64(h.latest_seq).into_iter().map(|v| ("latest_seq", ShareHead { latest_seq: v, ..h.clone() })));
    out.extend(
        flip_arr(&h.latest_manifest_id.0)
            .into_iter()
            .map(|k| ("latest_manifest_id", ShareHead { latest_manifest_id: ManifestId(k), ..h.clone() })),
    );
    out.extend(flip_u64(h.updated_at).into_iter().map(|v| ("updated_at", ShareHead { updated_at: v, ..h.clone() })));
    out.extend(flip_arr(&h.sig).into_iter().map(|s| ("sig", ShareHead { sig: s, ..h.clone() })));
    out.into_iter().map(|(l, v)| (l.to_owned(), v)).collect()
}

fn token_variants(t: &CommunityMembershipToken) -> Vec<(String, CommunityMembershipToken)> {
    let mut out = Vec::new();
    let base = || t.clone();
    out.extend(
        flip_arr(&t.community_share_id.0)
            .into_iter()
            .map(|k| ("community_share_id", CommunityMembershipToken { community_share_id: ShareId(k), ..base() })),
    );
    out.extend(
        flip_arr(&t.member_node_pubkey.0)
            .into_iter()
            .map(|k| ("member_node_pubkey", CommunityMembershipToken { member_node_pubkey: PubKey(k), ..base() })),
    );
    out.extend(
        flip_u64(t.issued_at).into_iter().map(|v| ("issued_at", CommunityMembershipToken { issued_at: v, ..base() })),
    );
    out.extend(
        flip_u64(t.expires_at)
            .into_iter()
            .map(|v| ("expires_at", CommunityMembershipToken { expires_at: v, ..base() })),
    );
    out.extend(
        flip_arr(&t.signature).into_iter().map(|s| ("signature", CommunityMembershipToken { signature: s, ..base() })),
    );
    out.into_iter().map(|(l, v)| (l.to_owned(), v)).collect()
}

fn announcement_variants(a: &RelayAnnouncement) -> Vec<(String, RelayAnnouncement)> {
    let mut out: Vec<(&str, RelayAnnouncement)> = Vec::new();
    let base = || a.clone();
    out.extend(
        flip_arr(&a.relay_pubkey.0)
            .into_iter()
            .map(|k| ("relay_pubkey", RelayAnnouncement { relay_pubkey: PubKey(k), ..base() })),
    );
    let extra =
        a.relay_addrs.first().cloned().unwrap_or_else(|| PeerAddr::new("10.0.0.1:1".parse().unwrap(), Transport::Tcp));
    for l in flip_list(&a.relay_addrs, flip_peer, extra) {
        out.push(("relay_addrs", RelayAnnouncement { relay_addrs: l, ..base() }));
    }
    for c in flip_caps(a.capabilities) {
        out.push(("capabilities", RelayAnnouncement { capabilities: c, ..base() }));
    }
    let cap = &a.capacity;
    for v in (0..16).map(|i| cap.max_tunnels ^ (1 << i)) {
        out.push((
            "max_tunnels",
            RelayAnnouncement { capacity: RelayCapacity { max_tunnels: v, ..cap.clone() }, ..base() },
        ));
    }
    for class in [BandwidthClass::Low, BandwidthClass::Medium, BandwidthClass::High] {
        if class != cap.bandwidth_class {
            let capacity = RelayCapacity { bandwidth_class: class, ..cap.clone() };
            out.push(("bandwidth_class", RelayAnnouncement { capacity, ..base() }));
        }
    }
    for v in flip_opt_u64(cap.max_bytes_per_tunnel) {
        let capacity = RelayCapacity { max_bytes_per_tunnel: v, ..cap.clone() };
        out.push(("max_bytes_per_tunnel", RelayAnnouncement { capacity, ..base() }));
    }
    out.extend(flip_u64(a.issued_at).into_iter().map(|v| ("issued_at", RelayAnnouncement { issued_at: v, ..base() })));
    out.extend(
        flip_u64(a.expires_at).into_iter().map(|v| ("expires_at", RelayAnnouncement { expires_at: v, ..base() })),
    );
    out.extend(flip_arr(&a.signature).into_iter().map(|s| ("signature", RelayAnnouncement { signature: s, ..base() })));
    out.into_iter().map(|(l, v)| (l.to_owned(), v)).collect()
}

fn hello_variants(h: &HandshakeHello) -> Vec<(String, HandshakeHello)> {
    let mut out: Vec<(&str, HandshakeHello)> = Vec::new();
    let base = || h.clone();
    out.extend(
        flip_arr(&h.node_pubkey.0)
            .into_iter()
            .map(|k| ("node_pubkey", HandshakeHello { node_pubkey: PubKey(k), ..base() })),
    );
    out.extend(
        flip_caps(h.capabilities).into_iter().map(|c| ("capabilities", HandshakeHello { capabilities: c, ..base() })),
    );
    out.extend(flip_arr(&h.nonce).into_iter().map(|n| ("nonce", HandshakeHello { nonce: n, ..base() })));
    out.extend(
        flip_opt_arr(&h.echoed_nonce)
            .into_iter()
            .map(|n| ("echoed_nonce", HandshakeHello { echoed_nonce: n, ..base() })),
    );
    out.extend(
        flip_u64(h.timestamp_unix_secs)
            .into_iter()
            .map(|t| ("timestamp_unix_secs", HandshakeHello { timestamp_unix_secs: t, ..base() })),
    );
    out.extend(
        (0..16)
            .map(|i| h.protocol_version ^ (1 << i))
            .map(|v| ("protocol_version", HandshakeHello { protocol_version: v, ..base() })),
    );
    out.extend(
        flip_arr(&h.ephemeral_pubkey)
            .into_iter()
            .map(|k| ("ephemeral_pubkey", HandshakeHello { ephemeral_pubkey: k, ..base() })),
    );
    out.extend(flip_arr(&h.signature).into_iter().map(|s| ("signature", HandshakeHello { signature: s, ..base() })));
    out.into_iter().map(|(l, v)| (l.to_owned(), v)).collect()
}

/// `verify` accepts `base` and rejects every variant; returns how many were checked.
fn all_rejected<T>(
    what: &str,
    base: &T,
    variants: Vec<(String, T)>,
    verify: impl Fn(&T) -> Result<(), ProtoError>,
) -> usize {
    verify(base).unwrap_or_else(|e| panic!("{what}: the original does not verify: {e}"));
    for (label, v) in &variants {
        assert!(verify(v).is_err(), "{what}: flipping a bit of {label} still verifies");
    }
    variants.len()
}

fn manifest_verifies(m: &Manifest) -> Result<(), ProtoError> {
    // Signature over the rebuilt signing form with the manifest's own key, and the full check.
    let sig = m.signature.ok_or_else(|| ProtoError::Signature("unsigned".into()))?;
    keys::verify(&m.share_pubkey, &m.signing_bytes(), &sig, "manifest")?;
    m.verify_at(m.created_at)
}

fn announcement_verifies(a: &RelayAnnouncement) -> Result<(), ProtoError> {
    keys::verify(&a.relay_pubkey, &a.signing_bytes(), &a.signature, "relay announcement")?;
    a.validate()
}

#[test]
fn every_signed_bit_of_the_vector_structures_is_covered() {
    for e in group("manifests") {
        let mut m = common::manifest(&e["fields"]);
        m.signature = Some(xa(e, "signature"));
        let n = all_rejected("manifest", &m, manifest_variants(&m), manifest_verifies);
        assert!(n > 2_000, "{n} manifest variants");
        // A correct signature by another key is rejected too.
        let wrong = Manifest { signature: Some(Keypair::from_seed([0x99; 32]).sign(&m.signing_bytes())), ..m.clone() };
        assert!(manifest_verifies(&wrong).is_err());
    }
    let e = &group("share_heads")[0];
    let key = common::pubkey(e, "share_pubkey");
    let head = ShareHead::from_payload(&x(e, "cbor")).unwrap();
    all_rejected("share head", &head, head_variants(&head), |h| h.verify(&key));
    let other = Keypair::from_seed([0x98; 32]);
    let forged = ShareHead::sign(&other, head.latest_seq, head.latest_manifest_id, head.updated_at);
    assert!(ShareHead { share_id: head.share_id, ..forged.without_extension() }.verify(&key).is_err());

    let e = &group("membership_tokens")[0];
    let key = common::pubkey(e, "community_pubkey");
    let t = CommunityMembershipToken::from_payload(&x(e, "cbor")).unwrap();
    all_rejected("membership token", &t, token_variants(&t), |t| t.verify(&key, None));

    let e = &group("relay_announcements")[0];
    let a = RelayAnnouncement::from_payload(&x(e, "cbor")).unwrap();
    all_rejected("relay announcement", &a, announcement_variants(&a), announcement_verifies);

    for msg in group("handshake")[0]["messages"].as_array().unwrap() {
        let h = HandshakeHello::from_bytes(&x(msg, "cbor")).unwrap();
        all_rejected("handshake hello", &h, hello_variants(&h), |h| h.verify(h.timestamp_unix_secs));
    }
}

/// Signs a manifest with a fresh key (its share fields set to that key).
fn signed_manifest(seed: [u8; 32], mut m: Manifest) -> Manifest {
    let k = Keypair::from_seed(seed);
    m.share_pubkey = k.public();
    m.share_id = k.share_id();
    // Valid at `created_at`: an expiry, when present, just after it.
    m.expires_at = m.expires_at.and_then(|_| m.created_at.checked_add(1));
    m.sign(&k);
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_flipped_bit_of_a_random_signed_manifest_fails(
        seed in bytes::<32>(),
        m in manifest(),
        pick in any::<prop::sample::Index>(),
    ) {
        let m = signed_manifest(seed, m);
        prop_assert!(manifest_verifies(&m).is_ok());
        let variants = manifest_variants(&m);
        let (label, v) = &variants[pick.index(variants.len())];
        prop_assert!(manifest_verifies(v).is_err(), "flipping {} still verifies", label);
        // A tampered manifest also gets another id.
        prop_assert_ne!(v.manifest_id(), m.manifest_id());
    }

    #[test]
    fn a_flipped_bit_of_random_signed_records_fails(
        seed in bytes::<32>(),
        h in hello(),
        a in relay_announcement(),
        t in token(),
        seq in any::<u64>(),
        pick in any::<prop::sample::Index>(),
    ) {
        let k = Keypair::from_seed(seed);
        let hello = HandshakeHello::sign(&k, h.capabilities, h.nonce, h.echoed_nonce, h.timestamp_unix_secs, h.ephemeral_pubkey);
        let variants = hello_variants(&hello);
        let (label, v) = &variants[pick.index(variants.len())];
        prop_assert!(hello.verify(hello.timestamp_unix_secs).is_ok());
        prop_assert!(v.verify(v.timestamp_unix_secs).is_err(), "hello: flipping {} still verifies", label);

        let head = ShareHead::sign(&k, seq, ManifestId(h.nonce), t.issued_at).without_extension();
        let variants = head_variants(&head);
        let (label, v) = &variants[pick.index(variants.len())];
        prop_assert!(head.verify(&k.public()).is_ok());
        prop_assert!(v.verify(&k.public()).is_err(), "head: flipping {} still verifies", label);

        let token = CommunityMembershipToken::issue(&k, t.member_node_pubkey, t.issued_at, t.expires_at);
        let variants = token_variants(&token);
        let (label, v) = &variants[pick.index(variants.len())];
        prop_assert!(token.verify(&k.public(), None).is_ok());
        prop_assert!(v.verify(&k.public(), None).is_err(), "token: flipping {} still verifies", label);

        let mut caps = a.capabilities;
        caps.relay = true;
        let addrs: Vec<PeerAddr> = a.relay_addrs.iter().map(|p| PeerAddr { relay_via: None, ..p.clone() }).collect();
        let addrs = if addrs.is_empty() { vec![PeerAddr::new("192.0.2.1:7001".parse().unwrap(), Transport::Tcp)] } else { addrs };
        let issued = a.issued_at % (u64::MAX - 21_600);
        let ann = RelayAnnouncement::sign(&k, addrs, caps, a.capacity.clone(), issued, issued + 1 + a.expires_at % 21_600);
        let variants = announcement_variants(&ann);
        let (label, v) = &variants[pick.index(variants.len())];
        prop_assert!(announcement_verifies(&ann).is_ok());
        prop_assert!(announcement_verifies(v).is_err(), "relay announcement: flipping {} still verifies", label);
    }
}
