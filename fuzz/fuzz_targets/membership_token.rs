//! CommunityMembershipToken and its verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::wire::CommunityMembershipToken;

fuzz_target!(|data: &[u8]| {
    if let Some(t) = trove_fuzz::round_trip::<CommunityMembershipToken>(data) {
        let _ = t.verify(&t.member_node_pubkey, Some(t.issued_at));
    }
});
