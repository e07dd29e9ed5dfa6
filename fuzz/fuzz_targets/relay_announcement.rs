//! RelayAnnouncement, its validity rules and rendezvous keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::ids::DhtKey;
use trove_proto::wire::RelayAnnouncement;

fuzz_target!(|data: &[u8]| {
    if let Some(a) = trove_fuzz::round_trip::<RelayAnnouncement>(data) {
        let _ = (a.validate(), a.matches_rendezvous_key(&DhtKey([0; 32])));
    }
});
