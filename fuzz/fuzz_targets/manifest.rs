//! ManifestV1 in its transmitted form, then everything a receiver computes from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::wire::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Some(m) = trove_fuzz::round_trip::<Manifest>(data) {
        let _ = (m.manifest_id(), m.signing_bytes(), m.check_v1_limits(), m.verify_at(m.created_at));
    }
});
