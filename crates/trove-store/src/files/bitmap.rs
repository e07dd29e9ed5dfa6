//! A compact bit set over chunk indices: which chunks of a download are verified. It keeps
//! its population count, finds missing chunks fast, and converts to and from bytes for the
//! database (bit `i` is bit `i % 8` of byte `i / 8`, least significant first).

use crate::error::{Result, StoreError};

/// A fixed-length set of bits, one per chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
    len: u64,
    count: u64,
}

impl Bitmap {
    /// An all-clear bitmap of `len` bits. Fails (instead of aborting) if the memory for it
    /// cannot be had.
    pub fn new(len: u64) -> Result<Bitmap> {
        let n = usize::try_from(len.div_ceil(64))
            .map_err(|_| StoreError::Invalid(format!("bitmap of {len} bits is too large")))?;
        let mut words = Vec::new();
        words.try_reserve_exact(n).map_err(|_| StoreError::Invalid(format!("bitmap of {len} bits is too large")))?;
        words.resize(n, 0);
        Ok(Bitmap { words, len, count: 0 })
    }

    /// Number of bits.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the bitmap has no bits at all (a zero-length file).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether every bit is set (true for a zero-length bitmap).
    pub fn is_complete(&self) -> bool {
        self.count == self.len
    }

    /// Whether bit `i` is set (false past the end).
    pub fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    /// Sets bit `i`; returns whether it was clear before. An index past the end is an error.
    pub fn set(&mut self, i: u64) -> Result<bool> {
        if i >= self.len {
            return Err(StoreError::Invalid(format!("bit {i} is past the end of a {}-bit bitmap", self.len)));
        }
        let word = &mut self.words[(i / 64) as usize];
        let mask = 1u64 << (i % 64);
        let was_clear = *word & mask == 0;
        *word |= mask;
        self.count += u64::from(was_clear);
        Ok(was_clear)
    }

    /// Clears bit `i`; returns whether it was set before (false past the end).
    pub fn clear(&mut self, i: u64) -> bool {
        if i >= self.len {
            return false;
        }
        let word = &mut self.words[(i / 64) as usize];
        let mask = 1u64 << (i % 64);
        let was_set = *word & mask != 0;
        *word &= !mask;
        self.count -= u64::from(was_set);
        was_set
    }

    /// The lowest clear bit, if any.
    pub fn first_missing(&self) -> Option<u64> {
        self.missing().next()
    }

    /// The clear bits in increasing order (skips full words quickly).
    pub fn missing(&self) -> impl Iterator<Item = u64> + '_ {
        self.bits_where(true)
    }

    /// The set bits in increasing order.
    pub fn present(&self) -> impl Iterator<Item = u64> + '_ {
        self.bits_where(false)
    }

    fn bits_where(&self, invert: bool) -> impl Iterator<Item = u64> + '_ {
        let len = self.len;
        self.words.iter().enumerate().flat_map(move |(wi, &w)| {
            let mut bits = if invert { !w } else { w };
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as u64;
                bits &= bits - 1;
                Some(wi as u64 * 64 + b)
            })
            .take_while(move |&i| i < len)
        })
    }

    /// The bits as `ceil(len / 8)` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.len.div_ceil(8) as usize;
        self.words.iter().flat_map(|w| w.to_le_bytes()).take(n).collect()
    }

    /// Rebuilds a bitmap of `len` bits from [`Bitmap::to_bytes`] output. The byte count
    /// must be exactly `ceil(len / 8)` and padding bits past `len` must be clear.
    pub fn from_bytes(len: u64, bytes: &[u8]) -> Result<Bitmap> {
        if len.div_ceil(8) != bytes.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "bitmap of {len} bits needs {} bytes, got {}",
                len.div_ceil(8),
                bytes.len()
            )));
        }
        let mut map = Bitmap::new(len)?;
        for (word, chunk) in map.words.iter_mut().zip(bytes.chunks(8)) {
            let mut le = [0u8; 8];
            le[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_le_bytes(le);
        }
        let used_bits_of_last = len % 64;
        let last = map.words.last().copied().unwrap_or(0);
        if used_bits_of_last != 0 && last >> used_bits_of_last != 0 {
            return Err(StoreError::Corrupt(format!("bitmap of {len} bits has bits set past its end")));
        }
        map.count = map.words.iter().map(|w| u64::from(w.count_ones())).sum();
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_bitmap_is_complete() {
        let b = Bitmap::new(0).unwrap();
        assert!(b.is_empty());
        assert!(b.is_complete());
        assert_eq!(b.first_missing(), None);
        assert_eq!(b.to_bytes(), Vec::<u8>::new());
        assert_eq!(Bitmap::from_bytes(0, &[]).unwrap(), b);
    }

    #[test]
    fn set_count_and_missing() {
        let mut b = Bitmap::new(130).unwrap();
        assert_eq!(b.first_missing(), Some(0));
        assert!(b.set(0).unwrap());
        assert!(!b.set(0).unwrap());
        assert!(b.set(64).unwrap());
        assert!(b.set(129).unwrap());
        assert_eq!(b.count(), 3);
        assert!(b.get(64) && !b.get(65) && !b.get(130) && !b.get(u64::MAX));
        assert_eq!(b.first_missing(), Some(1));
        assert_eq!(b.missing().count(), 127);
        assert_eq!(b.present().collect::<Vec<_>>(), vec![0, 64, 129]);
        assert!(b.set(130).is_err());
        assert!(b.clear(64) && !b.clear(64) && !b.clear(1000));
        assert_eq!(b.count(), 2);
        for i in 0..130 {
            b.set(i).unwrap();
        }
        assert!(b.is_complete());
        assert_eq!(b.first_missing(), None);
        assert_eq!(b.missing().count(), 0);
    }

    #[test]
    fn from_bytes_rejects_bad_lengths_and_padding() {
        assert!(matches!(Bitmap::from_bytes(9, &[0]), Err(StoreError::Corrupt(_))));
        assert!(matches!(Bitmap::from_bytes(9, &[0, 0, 0]), Err(StoreError::Corrupt(_))));
        assert!(matches!(Bitmap::from_bytes(9, &[0, 2]), Err(StoreError::Corrupt(_))));
        let b = Bitmap::from_bytes(9, &[0x81, 1]).unwrap();
        assert_eq!(b.present().collect::<Vec<_>>(), vec![0, 7, 8]);
        assert_eq!(b.count(), 3);
    }

    #[test]
    fn huge_bitmap_is_an_error_not_an_abort() {
        assert!(Bitmap::new(u64::MAX).is_err());
    }

    proptest! {
        #[test]
        fn bytes_round_trip(len in 0u64..1000, picks in proptest::collection::vec(0u64..1000, 0..200)) {
            let mut b = Bitmap::new(len).unwrap();
            for p in picks.iter().filter(|&&p| p < len) {
                b.set(*p).unwrap();
            }
            let back = Bitmap::from_bytes(len, &b.to_bytes()).unwrap();
            prop_assert_eq!(&back, &b);
            prop_assert_eq!(b.present().count() as u64 + b.missing().count() as u64, len);
            prop_assert_eq!(b.present().count() as u64, b.count());
        }
    }
}
