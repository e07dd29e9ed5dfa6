//! Request payloads as a server dispatches them: the first 2 bytes are the type code (big
//! endian), the rest is the payload given to `AnyRequest::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let [a, b, payload @ ..] = data {
        trove_fuzz::request(u16::from_be_bytes([*a, *b]), payload);
    }
});
