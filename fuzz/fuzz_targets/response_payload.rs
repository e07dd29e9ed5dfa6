//! Response and DHT value payloads: the first byte selects the type (see
//! `trove_fuzz::RESPONSES`), the rest is the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let [selector, payload @ ..] = data {
        trove_fuzz::response(*selector, payload);
    }
});
