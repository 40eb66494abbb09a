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

#[cfg(test)]
mod tests {
    use super::*;

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
