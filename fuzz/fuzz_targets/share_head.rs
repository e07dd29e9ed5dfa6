//! ShareHead (with or without the `share_pubkey` extension key) and its verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::wire::ShareHead;

fuzz_target!(|data: &[u8]| {
    if let Some(h) = trove_fuzz::round_trip::<ShareHead>(data) {
        let _ = (h.verify_self(), h.signing_bytes());
        trove_fuzz::round_trip::<ShareHead>(&trove_proto::cbor::to_vec(&h.without_extension()));
    }
});
