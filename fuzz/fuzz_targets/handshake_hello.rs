//! The handshake message (with or without the `trove` extension key) and its verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::wire::HandshakeHello;

fuzz_target!(|data: &[u8]| {
    if let Some(h) = trove_fuzz::round_trip::<HandshakeHello>(data) {
        let _ = (h.signed_tuple(), h.verify(h.timestamp_unix_secs));
    }
});
