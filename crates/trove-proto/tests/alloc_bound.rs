//! TEST-MATRIX IN-2 / IN-4: hostile CBOR (deep nesting, huge declared counts and lengths,
//! oversized lists, 10^6 tags, overflowing chunk counts) makes every decoder fail or stay
//! within its cap, never panic, and never allocate more than 4 × the input length plus a
//! small constant while decoding. A counting global allocator measures the peak bytes live
//! on the decoding thread (per thread, so tests running in parallel do not disturb it).

mod common;

use common::raw::*;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use trove_proto::cbor;
use trove_proto::limits::{
    MAX_CHUNK_HASHES_V1, MAX_LIST_ENTRIES, MAX_MANIFEST_CHUNKS_V1, MAX_MANIFEST_ITEMS, MAX_MANIFEST_ITEMS_V1,
    MAX_PEERS_PER_LIST, MAX_TAGS_PER_ITEM,
};
use trove_proto::wire::blocklist::MAX_BLOCKLIST_ENTRIES;
use trove_proto::wire::*;

// ---------------------------------------------------------------- the counting allocator

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted by its change in size: large blocks are resized in place (mremap), and a
            // copy of a small block is transient.
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the peak number of bytes allocated (and still live
/// at that moment) on this thread while it ran, the result included.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    let peak = PEAK.with(Cell::get) - start;
    (r, peak.max(0) as usize)
}

/// Allowance on top of 4 × the input: one error value. A decode error carries one formatted
/// message (type name, field name, counts: well under 200 bytes) and minicbor's error and
/// `format!` buffers may briefly double it; 1 KiB covers that with room to spare.
const SLACK: usize = 1024;

fn budget(input: &[u8]) -> usize {
    4 * input.len() + SLACK
}

/// Runs every decoder on `input`: none may panic or exceed the budget. Returns the names of
/// the decoders that accepted the input.
fn run_all(what: &str, input: &[u8]) -> Vec<String> {
    let decoders = all_decoders(false);
    let mut accepted = Vec::new();
    for (name, decode) in &decoders {
        let (ok, peak) = peak_during(|| decode(input));
        assert!(
            peak <= budget(input),
            "{what}: {name} allocated {peak} bytes for {} input bytes (budget {})",
            input.len(),
            budget(input)
        );
        if ok {
            accepted.push(name.clone());
        }
    }
    accepted
}

/// RELAY_REGISTER's fields are all optional, so any text-keyed map without them decodes.
const LENIENT: [&str; 2] = ["RelayRegister", "AnyRequest(450)"];

/// Asserts that no decoder but the lenient ones took a hostile map.
fn refused_by_all(what: &str, input: &[u8]) {
    let accepted = run_all(what, input);
    assert!(accepted.iter().all(|n| LENIENT.contains(&n.as_str())), "{what}: accepted by {accepted:?}");
}

/// Decodes `input` as `T`, expecting an error that contains `needle`, within the budget.
fn refused<T: for<'b> minicbor::Decode<'b, ()> + std::fmt::Debug>(what: &str, input: &[u8], needle: &str) {
    let (r, peak) = peak_during(|| cbor::from_slice::<T>(input).map(drop).map_err(|e| e.to_string()));
    let err = r.expect_err(what);
    assert!(err.contains(needle), "{what}: error {err:?} should mention {needle:?}");
    assert!(peak <= budget(input), "{what}: {peak} bytes allocated for {} input bytes", input.len());
}

// ---------------------------------------------------------------- inputs

const DEPTH: usize = 10_000;

/// Four ways to nest 10,000 levels deep.
fn nestings() -> Vec<(&'static str, Vec<u8>)> {
    let definite_arrays = [vec![0x81; DEPTH], vec![0x00]].concat();
    let indefinite_arrays = [vec![0x9f; DEPTH], vec![0xff; DEPTH]].concat();
    let definite_maps = [[0xa1, 0x00].repeat(DEPTH), vec![0x00]].concat();
    let indefinite_maps = [[0xbf, 0x00].repeat(DEPTH), vec![0xff; DEPTH]].concat();
    vec![
        ("definite arrays", definite_arrays),
        ("indefinite arrays", indefinite_arrays),
        ("definite maps", definite_maps),
        ("indefinite maps", indefinite_maps),
    ]
}

fn envelope_entries() -> Vec<(&'static str, Vec<u8>)> {
    vec![("type", uint(500)), ("req_id", uint(1)), ("flags", uint(0)), ("payload", bstr(b""))]
}

fn manifest_entries(items: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("version", uint(1)),
        ("share_pubkey", bstr(&[3; 32])),
        ("share_id", bstr(&[5; 32])),
        ("seq", uint(1)),
        ("created_at", uint(1)),
        ("items", items),
        ("recommended_shares", array(&[])),
    ]
}

/// The smallest item the decoder accepts: required keys only, byte-string id.
fn minimal_item(chunk_count: u32) -> Vec<u8> {
    tmap(&[
        ("content_id", bstr(&[7; 32])),
        ("size", uint(1)),
        ("name", tstr("a")),
        ("tags", array(&[])),
        ("chunk_count", uint(chunk_count as u64)),
    ])
}

fn peer() -> Vec<u8> {
    x(entry("peer_addrs", "v4_tcp_nohint"), "cbor")
}

/// An array header declaring `n` entries.
fn array_header(n: u64) -> Vec<u8> {
    cbor::build(|e| e.array(n).map(drop))
}

// ---------------------------------------------------------------- IN-2: nesting

#[test]
fn nesting_10000_deep_is_refused_everywhere() {
    for (kind, nested) in nestings() {
        // On its own, for every decoder.
        let accepted = run_all(kind, &nested);
        assert!(accepted.is_empty(), "{kind}: accepted by {accepted:?}");
        // Inside an unknown key of an envelope, of a manifest and of a manifest item.
        let mut e = envelope_entries();
        e.push(("future", nested.clone()));
        let env = tmap(&e);
        refused::<Envelope>(kind, &env, "nested deeper than");
        refused_by_all(kind, &env);
        let mut m = manifest_entries(array(&[minimal_item(1)]));
        m.insert(2, ("future", nested.clone()));
        let man = tmap(&m);
        refused::<Manifest>(kind, &man, "nested deeper than");
        let mut item = minimal_item(1);
        item[0] += 1;
        item.extend(tstr("future"));
        item.extend(&nested);
        let man = tmap(&manifest_entries(array(&[item])));
        refused::<Manifest>(kind, &man, "nested deeper than");
        // As the value of known fields.
        refused::<Envelope>(kind, &tmap(&[("payload", nested.clone())]), "");
        refused::<Manifest>(kind, &tmap(&manifest_entries(nested.clone())), "");
        refused::<PexOffer>(kind, &tmap(&[("peers", nested.clone())]), "");
        refused::<FindValueResult>(kind, &imap(&[(0, nested.clone())]), "");
    }
}

// ---------------------------------------------------------------- IN-2: declared sizes

#[test]
fn a_5_byte_header_declaring_4_billion_items_is_refused() {
    for header in [vec![0x9a, 0xff, 0xff, 0xff, 0xff], vec![0xba, 0xff, 0xff, 0xff, 0xff]] {
        let mut input = header.clone();
        input.extend([0u8; 16]);
        assert!(run_all("4 billion items", &input).is_empty());
        refused::<Envelope>("envelope payload", &tmap(&[("payload", input.clone())]), "");
        refused::<Manifest>("manifest items", &tmap(&manifest_entries(input.clone())), "");
        refused::<PexOffer>("PEX peers", &tmap(&[("peers", input.clone())]), "");
        refused::<ChunkHashList>("chunk hashes", &imap(&[(0, bstr(&[1; 32])), (1, input.clone())]), "");
        refused::<BlocklistRules>("blocklist", &tmap(&[("blocked_share_ids", input.clone())]), "");
        refused::<ShareHead>("A32 field", &tmap(&[("share_id", input.clone())]), "");
    }
    // The array form is checked against the cap and then against the input length.
    refused::<PexOffer>("cap", &tmap(&[("peers", [0x9a, 0xff, 0xff, 0xff, 0xff].to_vec())]), "limit 4096");
    let items = [vec![0x9a, 0xff, 0xff, 0xff, 0xff], vec![0; 8]].concat();
    refused::<Manifest>("cap", &tmap(&manifest_entries(items)), "limit 1000000");
    let eight_byte = [vec![0x9b, 0, 0, 0, 1, 0, 0, 0, 0], vec![0; 8]].concat();
    refused::<RelayListResponse>("u64 count", &tmap(&[("announcements", eight_byte)]), "limit 65535");
}

#[test]
fn huge_declared_byte_and_text_lengths_are_refused() {
    let headers: [&[u8]; 4] = [
        &[0x5a, 0xff, 0xff, 0xff, 0xff],
        &[0x5b, 0, 0, 0, 1, 0, 0, 0, 0],
        &[0x7a, 0xff, 0xff, 0xff, 0xff],
        &[0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    for h in headers {
        let input = [h, b"only a few bytes follow"].concat();
        assert!(run_all("huge string", &input).is_empty());
        refused::<Envelope>("envelope payload", &tmap(&[("payload", input.clone())]), "");
        let mut m = manifest_entries(array(&[]));
        m.push(("title", input.clone()));
        refused::<Manifest>("title", &tmap(&m), "");
        let mut item = minimal_item(0);
        item[0] += 1;
        item.extend(tstr("mime"));
        item.extend(&input);
        refused::<Manifest>("item mime", &tmap(&manifest_entries(array(&[item]))), "");
        refused::<ChunkData>("chunk bytes", &imap(&[(0, bstr(&[1; 32])), (1, uint(0)), (2, input.clone())]), "");
        refused::<Store>("DHT value", &imap(&[(0, bstr(&[1; 32])), (1, input.clone()), (2, uint(1))]), "");
    }
}

/// A count at the cap, backed by enough junk bytes to pass the "input too short" check: the
/// decoder must not reserve `count × element size` up front.
#[test]
fn counts_at_the_cap_backed_by_junk_do_not_preallocate() {
    fn junk(n: usize) -> Vec<u8> {
        vec![0x00; n]
    }
    let at_cap = |cap: usize| [array_header(cap as u64), junk(cap)].concat();
    // (what, input, the decoder whose list it is)
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("manifest items", tmap(&manifest_entries(at_cap(MAX_MANIFEST_ITEMS))), "Manifest"),
        ("PEX peers", tmap(&[("peers", at_cap(MAX_PEERS_PER_LIST))]), "PexOffer"),
        ("chunk hashes", imap(&[(0, bstr(&[1; 32])), (1, at_cap(MAX_CHUNK_HASHES_V1))]), "ChunkHashList"),
        ("relay announcements", tmap(&[("announcements", at_cap(MAX_LIST_ENTRIES))]), "RelayListResponse"),
        ("public shares", tmap(&[("shares", at_cap(MAX_LIST_ENTRIES))]), "PublicShareList"),
        ("blocklist", tmap(&[("blocked_share_ids", at_cap(MAX_BLOCKLIST_ENTRIES))]), "BlocklistRules"),
        ("tags", tmap(&manifest_entries(array(&[tmap(&[("tags", at_cap(MAX_TAGS_PER_ITEM))])]))), "Manifest"),
    ];
    for (what, input, target) in cases {
        // Within the budget for every decoder (run_all checks it); refused by its own.
        let accepted = run_all(what, &input);
        assert!(!accepted.iter().any(|n| n == target), "{what}: accepted by {target}");
    }
}

// ---------------------------------------------------------------- IN-4: oversized semantics

#[test]
fn a_manifest_declaring_limit_plus_one_items_is_refused() {
    let items = [array_header(MAX_MANIFEST_ITEMS as u64 + 1), minimal_item(1)].concat();
    refused::<Manifest>("limit+1 items", &tmap(&manifest_entries(items)), "items: 1000001 entries, limit 1000000");
    // The v1 limit: 3,001 real items decode (trove pages beyond v1) but fail the v1 check.
    let items: Vec<Vec<u8>> = (0..=MAX_MANIFEST_ITEMS_V1).map(|_| minimal_item(1)).collect();
    let input = tmap(&manifest_entries(array(&items)));
    let (m, peak) = peak_during(|| Manifest::from_bytes(&input));
    let m = m.unwrap();
    assert_eq!(m.items.len(), MAX_MANIFEST_ITEMS_V1 + 1);
    assert!(peak <= budget(&input), "{peak} bytes for a {}-byte manifest", input.len());
    let err = m.check_v1_limits().unwrap_err().to_string();
    assert!(err.contains("3001 items; SCP2P v1 allows 3000"), "{err}");
    // The smallest items possible (64 bytes on the wire, 176 in memory), in definite and
    // indefinite arrays: list growth keeps even these within the budget.
    let smallest = tmap(&[("content_id", bstr(&[7; 32])), ("size", uint(0)), ("name", tstr("")), ("tags", array(&[]))]);
    assert_eq!(smallest.len(), 64);
    let items = vec![smallest; 20_000];
    let indefinite = [vec![0x9f], items.concat(), vec![0xff]].concat();
    for list in [array(&items), indefinite] {
        let input = tmap(&manifest_entries(list));
        let (m, peak) = peak_during(|| Manifest::from_bytes(&input));
        assert_eq!(m.unwrap().items.len(), 20_000);
        assert!(peak <= budget(&input), "{peak} bytes for {} input bytes", input.len());
    }
}

#[test]
fn an_item_with_a_million_tags_is_refused() {
    let mut tags = array_header(1_000_000);
    tags.extend(std::iter::repeat_n(tstr("t"), 1_000).flatten());
    let item = tmap(&[("content_id", bstr(&[7; 32])), ("size", uint(1)), ("name", tstr("a")), ("tags", tags)]);
    refused::<Manifest>(
        "10^6 tags declared",
        &tmap(&manifest_entries(array(&[item]))),
        "tags: 1000000 entries, limit 256",
    );
    // 10^6 CBOR tags in front of one value are skipped without allocating.
    let mut tagged = [0xc6].repeat(1_000_000);
    tagged.extend(uint(9));
    let input = tmap(&[("max_peers", tagged)]);
    let (r, peak) = peak_during(|| PexRequest::from_payload(&input));
    assert_eq!(r.unwrap().max_peers, 9);
    assert!(peak <= SLACK, "{peak} bytes to skip tags");
    let accepted = run_all("10^6 tags", &input);
    assert_eq!(accepted, ["PexRequest", "RelayRegister", "AnyRequest(101)", "AnyRequest(450)"]);
}

#[test]
fn chunk_counts_whose_sum_overflows_are_refused_without_overflow() {
    // Summed in 32 bits these would wrap around to a small number.
    let items: Vec<Vec<u8>> = (0..MAX_MANIFEST_ITEMS_V1).map(|_| minimal_item(u32::MAX)).collect();
    let m = Manifest::from_bytes(&tmap(&manifest_entries(array(&items)))).unwrap();
    let err = m.check_v1_limits().unwrap_err().to_string();
    let total = MAX_MANIFEST_ITEMS_V1 as u64 * u32::MAX as u64;
    assert!(err.contains(&format!("{total} chunks in total")), "{err}");
    // Two items that wrap a u32 exactly to zero.
    let m2 = Manifest::from_bytes(&tmap(&manifest_entries(array(&[minimal_item(u32::MAX), minimal_item(1)])))).unwrap();
    assert!(m2.check_v1_limits().is_err());
    // At the limit it passes; one more chunk fails.
    let at = MAX_MANIFEST_CHUNKS_V1 as u32;
    let ok = Manifest::from_bytes(&tmap(&manifest_entries(array(&[minimal_item(at - 1), minimal_item(1)])))).unwrap();
    ok.check_v1_limits().unwrap();
    let over = Manifest::from_bytes(&tmap(&manifest_entries(array(&[minimal_item(at), minimal_item(1)])))).unwrap();
    assert!(over.check_v1_limits().is_err());
}

#[test]
fn a_pex_offer_with_20000_peers_is_refused() {
    let peers = vec![peer(); 20_000];
    let definite = tmap(&[("peers", array(&peers))]);
    let mut indefinite_peers = vec![0x9f];
    peers.iter().for_each(|p| indefinite_peers.extend(p));
    indefinite_peers.push(0xff);
    let indefinite = tmap(&[("peers", indefinite_peers.clone())]);
    refused::<PexOffer>("definite", &definite, "peers: 20000 entries, limit 4096");
    refused::<PexOffer>("indefinite", &indefinite, "peers: more than 4096 entries");
    // Every PeerAddr list has the same cap.
    refused::<FindNodeResult>("FIND_NODE result", &imap(&[(0, array(&peers))]), "limit 4096");
    refused::<FindValueResult>("closer peers", &imap(&[(0, null()), (1, indefinite_peers.clone())]), "4096");
    let providers = tmap(&[("content_id", bstr(&[1; 32])), ("providers", array(&peers)), ("updated_at", uint(1))]);
    refused::<Providers>("providers", &providers, "limit 4096");
    let members = tmap(&[("community_share_id", bstr(&[1; 32])), ("members", array(&peers)), ("updated_at", uint(1))]);
    refused::<CommunityMembers>("members", &members, "limit 4096");
    for input in [&definite, &indefinite] {
        refused_by_all("20,000 peers", input);
    }
    // The cap itself is accepted.
    let at_cap = tmap(&[("peers", array(&peers[..MAX_PEERS_PER_LIST]))]);
    let (r, peak) = peak_during(|| PexOffer::from_payload(&at_cap));
    assert_eq!(r.unwrap().peers.len(), MAX_PEERS_PER_LIST);
    assert!(peak <= budget(&at_cap), "{peak} bytes for {} input bytes", at_cap.len());
}

/// The well-formed vectors stay within the budget too (decoding is linear in the input).
#[test]
fn vector_encodings_decode_within_the_budget() {
    let inputs = [
        x(entry("manifests", "conformance_m1"), "transmitted_cbor"),
        x(entry("share_heads", "conformance_head"), "cbor"),
        x(&group("handshake")[0]["messages"][0], "cbor"),
        x(entry("relay_announcements", "relay_66"), "cbor"),
        x(entry("peer_addrs", "v4_tcp_relay_via"), "cbor"),
        x(entry("envelopes", "tunnel_outer_relay_stream"), "envelope"),
        x(entry("blocklist_rules", "blocklist_rules_basic"), "cbor"),
    ];
    for input in inputs {
        assert!(!run_all("vector", &input).is_empty());
    }
}
