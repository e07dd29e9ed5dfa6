//! LAN discovery packets (unauthenticated UDP datagrams, at most 1024 bytes on the wire).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::wire::LanPacket;

fuzz_target!(|data: &[u8]| {
    trove_fuzz::round_trip::<LanPacket>(data);
});
