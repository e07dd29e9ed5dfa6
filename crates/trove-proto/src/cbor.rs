//! The CBOR conventions of SCP2P v1 (SCP2P-WIRE.md §0) on top of minicbor.
//!
//! Encoding helpers write exactly what the reference emits: definite lengths, shortest
//! integers, fixed-size byte arrays as arrays of unsigned integers ("A32"), text-keyed maps
//! in declaration order. Decoding helpers accept what the reference accepts (§0.3): tags are
//! skipped, byte fields may come as byte strings or as arrays of integers, maps and arrays
//! may be indefinite, unknown keys are skipped, duplicate text keys are rejected, duplicate
//! integer keys keep the first value. Every declared length is checked against the remaining
//! input and a named cap before anything is allocated, and skipping unknown values has a
//! nesting limit, so no input can make a decoder allocate without bound or recurse deeply.

use minicbor::data::Type;
use minicbor::decode::Error as DecodeError;
use minicbor::encode::{Error as EncodeError, Write};
use minicbor::{Decoder, Encoder};

/// Result of an encoding step into any minicbor writer.
pub type EncResult<W> = Result<(), EncodeError<<W as Write>::Error>>;

/// Deepest nesting accepted inside an unknown (skipped) value.
pub const MAX_SKIP_DEPTH: u32 = 16;

/// Encodes a value into a new vector.
pub fn to_vec<T: minicbor::Encode<()>>(value: &T) -> Vec<u8> {
    let mut buf = Vec::new();
    minicbor::encode(value, &mut buf).expect("encoding into a Vec cannot fail");
    buf
}

/// Builds bytes with an encoder (signing forms and other hand-assembled structures).
pub fn build(f: impl FnOnce(&mut Encoder<Vec<u8>>) -> EncResult<Vec<u8>>) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    f(&mut e).expect("encoding into a Vec cannot fail");
    e.into_writer()
}

/// Decodes one value from the front of `bytes`. Bytes after the first item are ignored,
/// as the reference does (SCP2P-WIRE.md §0.3).
pub fn from_slice<'b, T: minicbor::Decode<'b, ()>>(bytes: &'b [u8]) -> Result<T, DecodeError> {
    let mut d = Decoder::new(bytes);
    d.decode()
}

/// Encodes a byte array as a CBOR array of unsigned integers (`A32`, `A64`, …).
pub fn write_int_array<W: Write>(e: &mut Encoder<W>, bytes: &[u8]) -> EncResult<W> {
    e.array(bytes.len() as u64)?;
    for b in bytes {
        e.u8(*b)?;
    }
    Ok(())
}

/// Encodes an optional byte array as an integer array, or `null`.
pub fn write_opt_int_array<W: Write>(e: &mut Encoder<W>, bytes: Option<&[u8]>) -> EncResult<W> {
    match bytes {
        Some(b) => write_int_array(e, b),
        None => {
            e.null()?;
            Ok(())
        }
    }
}

/// Encodes an optional text as a text string, or `null`.
pub fn write_opt_str<W: Write>(e: &mut Encoder<W>, s: Option<&str>) -> EncResult<W> {
    match s {
        Some(s) => e.str(s)?,
        None => e.null()?,
    };
    Ok(())
}

/// Encodes an optional unsigned integer, or `null`.
pub fn write_opt_u64<W: Write>(e: &mut Encoder<W>, v: Option<u64>) -> EncResult<W> {
    match v {
        Some(v) => e.u64(v)?,
        None => e.null()?,
    };
    Ok(())
}

/// Builds a decode error with a message.
pub fn err(msg: impl core::fmt::Display) -> DecodeError {
    DecodeError::message(msg.to_string())
}

/// Consumes the break byte that `datatype()` just reported.
fn consume_break(d: &mut Decoder<'_>) {
    d.set_position(d.position() + 1);
}

fn remaining(d: &Decoder<'_>) -> usize {
    d.input().len().saturating_sub(d.position())
}

/// Skips any CBOR tags in front of the next value and returns that value's type.
pub fn peek(d: &mut Decoder<'_>) -> Result<Type, DecodeError> {
    loop {
        match d.datatype()? {
            Type::Tag => {
                d.tag()?;
            }
            t => return Ok(t),
        }
    }
}

/// Reads an unsigned integer of any width (non-shortest forms accepted).
pub fn u64(d: &mut Decoder<'_>) -> Result<u64, DecodeError> {
    peek(d)?;
    d.u64()
}

/// Reads an unsigned integer that must fit in 32 bits.
pub fn u32(d: &mut Decoder<'_>) -> Result<u32, DecodeError> {
    peek(d)?;
    d.u32()
}

/// Reads an unsigned integer that must fit in 16 bits.
pub fn u16(d: &mut Decoder<'_>) -> Result<u16, DecodeError> {
    peek(d)?;
    d.u16()
}

/// Reads an unsigned integer that must fit in 8 bits.
pub fn u8(d: &mut Decoder<'_>) -> Result<u8, DecodeError> {
    peek(d)?;
    d.u8()
}

/// Reads a boolean.
pub fn bool(d: &mut Decoder<'_>) -> Result<bool, DecodeError> {
    peek(d)?;
    d.bool()
}

/// Consumes a `null` (or `undefined`) if one comes next and says whether it did.
pub fn take_null(d: &mut Decoder<'_>) -> Result<bool, DecodeError> {
    match peek(d)? {
        Type::Null => {
            d.null()?;
            Ok(true)
        }
        Type::Undefined => {
            d.undefined()?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Reads a definite-length text string of at most `max` bytes.
pub fn text(d: &mut Decoder<'_>, max: usize, what: &str) -> Result<String, DecodeError> {
    peek(d)?;
    let s = d.str()?;
    if s.len() > max {
        return Err(err(format_args!("{what} is {} bytes, limit {max}", s.len())));
    }
    Ok(s.to_owned())
}

/// Reads an optional text string (`null` → `None`).
pub fn opt_text(d: &mut Decoder<'_>, max: usize, what: &str) -> Result<Option<String>, DecodeError> {
    if take_null(d)? {
        return Ok(None);
    }
    text(d, max, what).map(Some)
}

/// Reads an optional unsigned integer (`null` → `None`).
pub fn opt_u64(d: &mut Decoder<'_>) -> Result<Option<u64>, DecodeError> {
    if take_null(d)? {
        return Ok(None);
    }
    u64(d).map(Some)
}

/// Reads a byte field that the reference accepts either as a byte string or as an array of
/// unsigned integers, with at most `max` bytes.
pub fn byte_vec(d: &mut Decoder<'_>, max: usize, what: &str) -> Result<Vec<u8>, DecodeError> {
    match peek(d)? {
        Type::Bytes => {
            let b = d.bytes()?;
            if b.len() > max {
                return Err(err(format_args!("{what} is {} bytes, limit {max}", b.len())));
            }
            Ok(b.to_vec())
        }
        Type::Array | Type::ArrayIndef => array(d, max, what, u8),
        t => Err(err(format_args!("{what}: expected bytes, found {t}"))),
    }
}

/// Reads exactly `N` bytes given as a byte string or as an array of `N` unsigned integers.
pub fn fixed<const N: usize>(d: &mut Decoder<'_>, what: &str) -> Result<[u8; N], DecodeError> {
    let v = byte_vec(d, N, what)?;
    v.try_into().map_err(|v: Vec<u8>| err(format_args!("{what} must be {N} bytes, got {}", v.len())))
}

/// Reads an optional fixed-size byte field (`null` → `None`).
pub fn opt_fixed<const N: usize>(d: &mut Decoder<'_>, what: &str) -> Result<Option<[u8; N]>, DecodeError> {
    if take_null(d)? {
        return Ok(None);
    }
    fixed(d, what).map(Some)
}

/// Reads a byte string (major type 2 only) of exactly `N` bytes; used for the integer-keyed
/// messages whose fields the reference reads by hand (SCP2P-WIRE.md §0.3).
pub fn bstr_fixed<const N: usize>(d: &mut Decoder<'_>, what: &str) -> Result<[u8; N], DecodeError> {
    peek(d)?;
    let b = d.bytes().map_err(|_| err(format_args!("{what} must be a byte string")))?;
    b.try_into().map_err(|_| err(format_args!("{what} must be {N} bytes, got {}", b.len())))
}

/// Reads a byte string (major type 2 only) of at most `max` bytes, borrowing the input.
pub fn bstr<'b>(d: &mut Decoder<'b>, max: usize, what: &str) -> Result<&'b [u8], DecodeError> {
    peek(d)?;
    let b = d.bytes().map_err(|_| err(format_args!("{what} must be a byte string")))?;
    if b.len() > max {
        return Err(err(format_args!("{what} is {} bytes, limit {max}", b.len())));
    }
    Ok(b)
}

/// Reads an array (definite or indefinite) of at most `max` elements, decoding each with `f`.
/// A declared length larger than the cap or than the remaining input is rejected before
/// anything is allocated. Memory follows the elements that actually decode (TEST-MATRIX
/// IN-2): the first reservation is at most the remaining input's size in bytes, so a count
/// near the cap backed by junk reserves little, and the vector then grows in quarter steps,
/// never past the declared count, so a decoded list carries at most 25% unused capacity.
pub fn array<'b, T>(
    d: &mut Decoder<'b>,
    max: usize,
    what: &str,
    mut f: impl FnMut(&mut Decoder<'b>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    peek(d)?;
    match d.array()? {
        Some(n) => {
            if n > max as u64 {
                return Err(err(format_args!("{what}: {n} entries, limit {max}")));
            }
            if n > remaining(d) as u64 {
                return Err(err(format_args!("{what}: {n} entries declared, input too short")));
            }
            let n = n as usize;
            let mut out = Vec::with_capacity(n.min(remaining(d) / size_of::<T>().max(1)));
            for _ in 0..n {
                reserve_one(&mut out, n);
                out.push(f(d)?);
            }
            Ok(out)
        }
        None => {
            let mut out = Vec::new();
            loop {
                if d.datatype()? == Type::Break {
                    consume_break(d);
                    return Ok(out);
                }
                if out.len() == max {
                    return Err(err(format_args!("{what}: more than {max} entries")));
                }
                reserve_one(&mut out, max);
                out.push(f(d)?);
            }
        }
    }
}

/// Makes room for one more element: when full, grows by a quarter of the length (at least
/// 4 elements) but never past `limit` elements.
fn reserve_one<T>(out: &mut Vec<T>, limit: usize) {
    if out.len() == out.capacity() {
        let room = limit.saturating_sub(out.len()).max(1);
        out.reserve_exact((out.len() / 4).max(4).min(room));
    }
}

/// Iterates the entries of a map (definite or indefinite), calling `f` for each key; `f`
/// must consume the value.
fn map_entries<'b>(
    d: &mut Decoder<'b>,
    what: &str,
    mut f: impl FnMut(&mut Decoder<'b>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    match peek(d)? {
        Type::Map | Type::MapIndef => {}
        t => return Err(err(format_args!("{what}: expected a map, found {t}"))),
    }
    match d.map()? {
        Some(n) => {
            if n > remaining(d) as u64 {
                return Err(err(format_args!("{what}: {n} entries declared, input too short")));
            }
            for _ in 0..n {
                f(d)?;
            }
        }
        None => loop {
            if d.datatype()? == Type::Break {
                consume_break(d);
                break;
            }
            f(d)?;
        },
    }
    Ok(())
}

/// Decodes a text-keyed map (a serde struct in the reference). For every key listed in
/// `names`, `f(d, index)` decodes the value; unknown keys and non-text keys are skipped with
/// their values; a repeated known key is an error ("duplicate field").
pub fn tmap<'b>(
    d: &mut Decoder<'b>,
    what: &str,
    names: &[&str],
    mut f: impl FnMut(&mut Decoder<'b>, usize) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    debug_assert!(names.len() <= 64);
    let mut seen = 0u64;
    map_entries(d, what, |d| {
        let key = match peek(d)? {
            Type::String => Some(d.str()?),
            _ => {
                skip(d)?;
                None
            }
        };
        match key.and_then(|k| names.iter().position(|n| *n == k)) {
            Some(i) => {
                if seen & (1 << i) != 0 {
                    return Err(err(format_args!("{what}: duplicate field `{}`", names[i])));
                }
                seen |= 1 << i;
                f(d, i)
            }
            None => skip(d),
        }
    })
}

/// Decodes an integer-keyed map (the hand-read DHT and chunk messages). For each key below
/// 64, `f(d, key)` decodes the value on its first occurrence; later duplicates and other keys
/// are skipped (first occurrence wins, as in the reference).
pub fn imap<'b>(
    d: &mut Decoder<'b>,
    what: &str,
    mut f: impl FnMut(&mut Decoder<'b>, u64) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut seen = 0u64;
    map_entries(d, what, |d| {
        let key = match peek(d)? {
            Type::U8 | Type::U16 | Type::U32 | Type::U64 => Some(d.u64()?),
            _ => {
                skip(d)?;
                None
            }
        };
        match key {
            Some(k) if k < 64 && seen & (1 << k) == 0 => {
                seen |= 1 << k;
                f(d, k)
            }
            _ => skip(d),
        }
    })
}

/// Builds the error for a required field that was absent.
pub fn missing(what: &str, field: &str) -> DecodeError {
    err(format_args!("{what}: missing field `{field}`"))
}

/// Skips one value of any type, with at most [`MAX_SKIP_DEPTH`] levels of nesting.
pub fn skip(d: &mut Decoder<'_>) -> Result<(), DecodeError> {
    skip_depth(d, 0)
}

fn skip_depth(d: &mut Decoder<'_>, depth: u32) -> Result<(), DecodeError> {
    if depth > MAX_SKIP_DEPTH {
        return Err(err(format_args!("value nested deeper than {MAX_SKIP_DEPTH} levels")));
    }
    match peek(d)? {
        Type::Array => {
            let n = d.array()?.unwrap_or(0);
            for _ in 0..n {
                skip_depth(d, depth + 1)?;
            }
            Ok(())
        }
        Type::Map => {
            let n = d.map()?.unwrap_or(0);
            for _ in 0..n.saturating_mul(2) {
                skip_depth(d, depth + 1)?;
            }
            Ok(())
        }
        Type::ArrayIndef | Type::MapIndef => {
            // Consume the header, then the items up to the break.
            if peek(d)? == Type::ArrayIndef {
                d.array()?;
            } else {
                d.map()?;
            }
            loop {
                if d.datatype()? == Type::Break {
                    consume_break(d);
                    return Ok(());
                }
                skip_depth(d, depth + 1)?;
            }
        }
        Type::Break => Err(err("unexpected break")),
        // Scalars, byte and text strings (definite or not) contain no nesting.
        _ => d.skip(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_unknown_values_are_bounded() {
        // 10,000 nested indefinite arrays: skipping refuses instead of recursing.
        let mut input = vec![0x9f; 10_000];
        input.extend(std::iter::repeat_n(0xff, 10_000));
        let mut d = Decoder::new(&input);
        assert!(skip(&mut d).is_err());
        // 10 levels are fine.
        let mut ok = vec![0x81; 10];
        ok.push(0x00);
        let mut d = Decoder::new(&ok);
        skip(&mut d).unwrap();
        assert_eq!(d.position(), ok.len());
    }

    #[test]
    fn huge_declared_array_is_rejected_before_allocation() {
        // 0x9b + 8-byte length 2^32: must fail on the length check.
        let input = [0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0];
        let mut d = Decoder::new(&input);
        let e = array(&mut d, usize::MAX, "items", u8).unwrap_err();
        assert!(e.to_string().contains("input too short"), "{e}");
        let mut d = Decoder::new(&input);
        let e = array(&mut d, 10, "items", u8).unwrap_err();
        assert!(e.to_string().contains("limit 10"), "{e}");
    }

    #[test]
    fn fixed_accepts_both_forms_and_tags() {
        let mut e = Encoder::new(Vec::new());
        write_int_array(&mut e, &[1, 2, 3]).unwrap();
        let arr = e.into_writer();
        assert_eq!(fixed::<3>(&mut Decoder::new(&arr), "x").unwrap(), [1, 2, 3]);
        let bstr = [0x43, 1, 2, 3];
        assert_eq!(fixed::<3>(&mut Decoder::new(&bstr), "x").unwrap(), [1, 2, 3]);
        let tagged = [0xd8, 0x40, 0x43, 1, 2, 3];
        assert_eq!(fixed::<3>(&mut Decoder::new(&tagged), "x").unwrap(), [1, 2, 3]);
        assert!(fixed::<4>(&mut Decoder::new(&bstr), "x").is_err());
        // An element above 255 is rejected.
        let big = [0x81, 0x19, 0x01, 0x00];
        assert!(fixed::<1>(&mut Decoder::new(&big), "x").is_err());
    }

    #[test]
    fn tmap_rejects_duplicates_and_skips_unknown() {
        // {"a": 1, "zz": [1, 2], "a": 2}
        let input = [0xa3, 0x61, b'a', 0x01, 0x62, b'z', b'z', 0x82, 1, 2, 0x61, b'a', 0x02];
        let mut d = Decoder::new(&input);
        let e = tmap(&mut d, "t", &["a"], |d, _| u64(d).map(drop)).unwrap_err();
        assert!(e.to_string().contains("duplicate field `a`"), "{e}");
        // Indefinite map with an unknown key.
        let input = [0xbf, 0x62, b'z', b'z', 0x05, 0x61, b'a', 0x07, 0xff];
        let mut d = Decoder::new(&input);
        let mut a = None;
        tmap(&mut d, "t", &["a"], |d, _| {
            a = Some(u64(d)?);
            Ok(())
        })
        .unwrap();
        assert_eq!(a, Some(7));
    }

    #[test]
    fn imap_first_occurrence_wins() {
        // {0: 1, 0: 2}
        let input = [0xa2, 0x00, 0x01, 0x00, 0x02];
        let mut d = Decoder::new(&input);
        let mut v = Vec::new();
        imap(&mut d, "i", |d, _| {
            v.push(u64(d)?);
            Ok(())
        })
        .unwrap();
        assert_eq!(v, vec![1]);
    }
}
