//! XOR distance between node ids (SCP2P-WIRE.md §8.1): the ordered [`Distance`] type, the
//! k-bucket index of an id relative to the local one, and random ids inside a bucket's range.

use trove_proto::NodeId;

/// Number of k-buckets: one per bit of a 160-bit [`NodeId`].
pub const BUCKETS: usize = 160;

/// The XOR of two node ids as a 160-bit number (smaller = closer), kept as a big-endian
/// pair of integers so comparisons stay cheap even in unoptimised builds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Distance {
    hi: u128,
    lo: u32,
}

impl Distance {
    /// The largest distance; peers whose id is unknown sort here (last).
    pub const MAX: Distance = Distance { hi: u128::MAX, lo: u32::MAX };

    /// Distance between two ids.
    pub fn between(a: &NodeId, b: &NodeId) -> Distance {
        let [ah @ .., a16, a17, a18, a19] = a.0;
        let [bh @ .., b16, b17, b18, b19] = b.0;
        Distance {
            hi: u128::from_be_bytes(ah) ^ u128::from_be_bytes(bh),
            lo: u32::from_be_bytes([a16, a17, a18, a19]) ^ u32::from_be_bytes([b16, b17, b18, b19]),
        }
    }

    /// The distance from its 20 big-endian bytes.
    pub fn from_bytes(b: [u8; 20]) -> Distance {
        Distance::between(&NodeId(b), &NodeId([0; 20]))
    }

    /// The 20 big-endian bytes.
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..16].copy_from_slice(&self.hi.to_be_bytes());
        out[16..].copy_from_slice(&self.lo.to_be_bytes());
        out
    }

    /// Number of leading zero bits (160 for the zero distance).
    pub fn leading_zeros(&self) -> usize {
        if self.hi != 0 { self.hi.leading_zeros() as usize } else { 128 + self.lo.leading_zeros() as usize }
    }
}

/// The k-bucket of `other` seen from `own`: the number of leading zero bits of their XOR
/// distance. Bucket 0 holds the farthest half of the id space, bucket 159 the single
/// closest id. `None` for `own` itself.
pub fn bucket_index(own: &NodeId, other: &NodeId) -> Option<usize> {
    let z = Distance::between(own, other).leading_zeros();
    (z < BUCKETS).then_some(z)
}

/// An id inside bucket `index` of `own`, drawn from caller-supplied random bytes: its
/// distance to `own` has exactly `index` leading zero bits, bit `index` set, and the
/// remaining low bits taken from `random`. Indexes past 159 are treated as 159.
pub fn random_id_in_bucket(own: &NodeId, index: usize, random: [u8; 20]) -> NodeId {
    let index = index.min(BUCKETS - 1);
    let mut d = random;
    for (byte_no, b) in d.iter_mut().enumerate() {
        for bit in 0..8 {
            let pos = byte_no * 8 + bit;
            let mask = 0x80u8 >> bit;
            if pos < index {
                *b &= !mask;
            } else if pos == index {
                *b |= mask;
            }
        }
    }
    let mut id = own.0;
    for (o, x) in id.iter_mut().zip(d) {
        *o ^= x;
    }
    NodeId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(first: u8) -> NodeId {
        let mut b = [0u8; 20];
        b[0] = first;
        NodeId(b)
    }

    #[test]
    fn bucket_index_is_leading_zeros_of_xor() {
        let own = NodeId([0; 20]);
        assert_eq!(bucket_index(&own, &own), None);
        assert_eq!(bucket_index(&own, &id(0x80)), Some(0));
        assert_eq!(bucket_index(&own, &id(0x40)), Some(1));
        assert_eq!(bucket_index(&own, &id(0x01)), Some(7));
        let mut last = [0u8; 20];
        last[19] = 1;
        assert_eq!(bucket_index(&own, &NodeId(last)), Some(159));
        // Relative to a non-zero own id.
        let own = id(0xff);
        assert_eq!(bucket_index(&own, &id(0x7f)), Some(0));
        assert_eq!(bucket_index(&own, &id(0xfe)), Some(7));
    }

    #[test]
    fn distance_orders_numerically() {
        let (x, y) = (NodeId([0x5a; 20]), NodeId(core::array::from_fn(|i| i as u8 * 13)));
        assert_eq!(Distance::between(&x, &y).to_bytes(), x.distance(&y));
        let a = Distance::from_bytes([0; 20]);
        let mut b = [0u8; 20];
        b[19] = 0xff;
        let mut c = [0u8; 20];
        c[0] = 1;
        let mut d = [0u8; 20];
        d[15] = 1;
        let (b, c, d) = (Distance::from_bytes(b), Distance::from_bytes(c), Distance::from_bytes(d));
        assert!(a < b && b < d && d < c && c < Distance::MAX);
        assert_eq!(Distance::MAX.leading_zeros(), 0);
        assert_eq!(a.leading_zeros(), 160);
        assert_eq!(b.leading_zeros(), 152);
        assert_eq!(d.leading_zeros(), 127);
        assert_eq!(Distance::from_bytes(c.to_bytes()), c);
    }

    #[test]
    fn random_ids_land_in_their_bucket() {
        let own = NodeId([0x5a; 20]);
        for index in [0usize, 1, 7, 8, 9, 63, 100, 158, 159] {
            for seed in [[0u8; 20], [0xff; 20], [0x3c; 20]] {
                let r = random_id_in_bucket(&own, index, seed);
                assert_eq!(bucket_index(&own, &r), Some(index), "index {index} seed {seed:?}");
            }
        }
        assert_eq!(bucket_index(&own, &random_id_in_bucket(&own, 500, [9; 20])), Some(159));
    }
}
