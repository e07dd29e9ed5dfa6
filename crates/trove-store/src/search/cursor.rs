//! Page cursors: an opaque string holding the position of the last hit of a page (its final
//! score, name sort key, content id prefix and document key). The next page is everything
//! strictly after that position, so a cursor stays usable after the index changes: the
//! next page is then a best effort (nothing shown twice, new matches before the position
//! are skipped).

use super::collect::RankKey;
use crate::error::{Result, StoreError};

/// Cursor format tag.
const TAG: &str = "t1.";
/// Hex digits after the tag.
const DIGITS: usize = 8 + 3 * 16;

/// Encodes a position.
pub fn encode(k: &RankKey) -> String {
    format!("{TAG}{:08x}{:016x}{:016x}{:016x}", k.score.to_bits(), k.name, k.content, k.key)
}

/// Decodes a cursor given back by a caller.
pub fn decode(s: &str) -> Result<RankKey> {
    let bad = || {
        let mut shown: String = s.chars().take(40).collect();
        if shown.len() < s.len() {
            shown.push('…');
        }
        StoreError::Invalid(format!(
            "search cursor '{}' is not a cursor returned by this search index",
            shown.escape_debug()
        ))
    };
    let hex = s.trim().strip_prefix(TAG).filter(|h| h.len() == DIGITS && h.is_ascii()).ok_or_else(bad)?;
    let num = |from: usize, len: usize| u64::from_str_radix(&hex[from..from + len], 16).map_err(|_| bad());
    let bits = u32::try_from(num(0, 8)?).map_err(|_| bad())?;
    let score = f32::from_bits(bits);
    if !score.is_finite() || score < 0.0 {
        return Err(bad());
    }
    Ok(RankKey { score, name: num(8, 16)?, content: num(24, 16)?, key: num(40, 16)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = RankKey { score: 1100.5, name: u64::MAX, content: 7, key: 0x0123_4567_89ab_cdef };
        assert_eq!(decode(&encode(&k)).unwrap(), k);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        for s in [
            "",
            "t1.",
            "t1.zz",
            "x1.0000",
            &"t1.".repeat(50),
            "t1.ffffffff0000000000000000000000000000000000000000000000000",
        ] {
            let e = decode(s).unwrap_err().to_string();
            assert!(e.contains("search cursor"), "{e}");
        }
        let nan = format!("t1.{:08x}{}", f32::NAN.to_bits(), "0".repeat(48));
        assert!(decode(&nan).is_err());
        assert!(decode("t1.é0000000000000000000000000000000000000000000000000000000").is_err());
    }
}
