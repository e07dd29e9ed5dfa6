//! Share links: parse; a parsed link prints to a link that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_proto::ShareLink;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(link) = ShareLink::parse(text) {
        let printed = link.to_string();
        let again =
            ShareLink::parse(&printed).unwrap_or_else(|e| panic!("printed link {printed:?} does not parse: {e}"));
        assert_eq!(again, link, "parse → print → parse changed the link");
        assert_eq!(again.to_string(), printed, "printing is not stable");
    }
});
