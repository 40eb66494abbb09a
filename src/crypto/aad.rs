//! The unambiguous encoding of associated data and HMAC inputs.
//!
//! Every input that the crypto layer authenticates or MACs is a sequence of
//! parts, each written as its length (u32, big-endian) followed by its
//! bytes, and the first part is always a domain-separation label such as
//! `phivault/field/v1`. Two different part sequences can therefore never
//! encode to the same bytes, and an input built for one purpose can never be
//! taken for another (docs/FORMAT.md, "Length-prefixed encoding").

/// Encodes `parts` as `len(u32 BE) ‖ bytes` for each part, in order.
pub(crate) fn length_prefixed(parts: &[&[u8]]) -> Vec<u8> {
    let total = parts.iter().map(|p| 4 + p.len()).sum();
    let mut out = Vec::with_capacity(total);
    for part in parts {
        // A part longer than 4 GiB cannot reach this layer (record fields are
        // at most 64 characters); saturating keeps the code panic-free, and
        // such an input would only encode differently, never ambiguously
        // with a shorter one of the same prefix.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Calls `f` with the encoding of `parts`, built on the stack when it fits
/// in `N` bytes (the hot path: field AAD is ~105 bytes), else on the heap.
/// The bytes given to `f` are exactly [`length_prefixed`]`(parts)`.
pub(crate) fn with_length_prefixed<const N: usize, R>(
    parts: &[&[u8]],
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    let total: usize = parts.iter().map(|p| 4 + p.len()).sum();
    if total > N || parts.iter().any(|p| u32::try_from(p.len()).is_err()) {
        return f(&length_prefixed(parts));
    }
    let mut buf = [0u8; N];
    let mut at = 0;
    for part in parts {
        let len = (part.len() as u32).to_be_bytes();
        buf[at..at + 4].copy_from_slice(&len);
        buf[at + 4..at + 4 + part.len()].copy_from_slice(part);
        at += 4 + part.len();
    }
    f(&buf[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_encoding_equals_the_heap_one() {
        let long = [7u8; 200];
        for parts in [
            &[&b"ab"[..], b"", b"c"][..],
            &[&b"phivault/field/v1"[..], &[1; 16], b"PatientName"][..],
            &[&b"x"[..], &long[..]][..],
        ] {
            let heap = length_prefixed(parts);
            assert_eq!(with_length_prefixed::<64, _>(parts, |b| b.to_vec()), heap);
            assert_eq!(with_length_prefixed::<8, _>(parts, |b| b.to_vec()), heap);
        }
    }

    #[test]
    fn layout_is_length_then_bytes() {
        assert_eq!(
            length_prefixed(&[b"ab", b"", b"c"]),
            vec![0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 1, b'c']
        );
    }

    #[test]
    fn moving_a_boundary_changes_the_encoding() {
        assert_ne!(
            length_prefixed(&[b"ab", b"c"]),
            length_prefixed(&[b"a", b"bc"])
        );
    }
}
