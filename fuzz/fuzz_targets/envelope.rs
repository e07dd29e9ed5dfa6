//! Envelope decoding (every request and response travels in one), then the request payload
//! as a server would dispatch it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::wire::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Some(env) = trove_fuzz::round_trip::<Envelope>(data) {
        let _ = env.error_text();
        if !env.is_response() {
            trove_fuzz::request(env.msg_type.0, &env.payload);
        }
    }
});
