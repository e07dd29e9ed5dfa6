//! PeerAddr, with relay routes, and how it prints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::wire::PeerAddr;

fuzz_target!(|data: &[u8]| {
    if let Some(p) = trove_fuzz::round_trip::<PeerAddr>(data) {
        let _ = (p.to_string(), p.dedup_key(), p.socket_addr());
    }
});
