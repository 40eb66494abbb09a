//! Byte layouts of the keys and small values the store writes
//! (docs/FORMAT.md, "Stored record"). Pure functions, no I/O.

use time::OffsetDateTime;

use super::{RecordId, RetentionEntry, SubjectId};
use crate::audit::AuditHead;

/// The storage format this build reads and writes (meta key `format`).
pub(crate) const FORMAT_VERSION: u32 = 2;

/// Keys of the `meta` tree.
pub(crate) mod meta {
    /// Storage format version, u32 big-endian.
    pub const FORMAT: &[u8] = b"format";
    /// The audit chain head: seq u64 big-endian ++ 32-byte hash.
    pub const AUDIT_HEAD: &[u8] = b"audit/head";
    /// Number of records, u64 big-endian.
    pub const RECORDS: &[u8] = b"count/records";
    /// Number of held records, u64 big-endian.
    pub const HOLDS: &[u8] = b"count/holds";
    /// Prefix of per-policy record counts: `count/policy/` ++ policy id.
    pub const POLICY_PREFIX: &[u8] = b"count/policy/";
}

/// Length of a retention-queue key.
pub(crate) const RETENTION_KEY_LEN: usize = 8 + 4 + 16;

/// The retention-queue key of a record: `retain_until` as seconds since the
/// Unix epoch (i64, sign bit flipped, big-endian) ++ nanoseconds (u32
/// big-endian) ++ the record id. Byte order is time order, then id order,
/// also before 1970.
pub(crate) fn retention_key(at: OffsetDateTime, id: &RecordId) -> [u8; RETENTION_KEY_LEN] {
    let mut key = [0u8; RETENTION_KEY_LEN];
    key[..12].copy_from_slice(&time_prefix(at));
    key[12..].copy_from_slice(id.as_bytes());
    key
}

/// The largest key an entry due at or before `at` can have.
pub(crate) fn retention_upper_bound(at: OffsetDateTime) -> [u8; RETENTION_KEY_LEN] {
    let mut key = [0xffu8; RETENTION_KEY_LEN];
    key[..12].copy_from_slice(&time_prefix(at));
    key
}

fn time_prefix(at: OffsetDateTime) -> [u8; 12] {
    let secs = (at.unix_timestamp() as u64) ^ (1 << 63);
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&secs.to_be_bytes());
    out[8..].copy_from_slice(&at.nanosecond().to_be_bytes());
    out
}

/// Decodes a retention-queue key.
pub(crate) fn decode_retention_key(key: &[u8]) -> Option<RetentionEntry> {
    let key: &[u8; RETENTION_KEY_LEN] = key.try_into().ok()?;
    let secs = (u64::from_be_bytes(key[..8].try_into().ok()?) ^ (1 << 63)) as i64;
    let nanos = u32::from_be_bytes(key[8..12].try_into().ok()?);
    if nanos >= 1_000_000_000 {
        return None;
    }
    let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    let retain_until = OffsetDateTime::from_unix_timestamp_nanos(total).ok()?;
    let id = RecordId::from_bytes(key[12..].try_into().ok()?);
    Some(RetentionEntry { retain_until, id })
}

/// The subject-index key: subject (32 bytes) ++ record id (16 bytes), so a
/// prefix scan on the subject lists its records.
pub(crate) fn subject_index_key(subject: &SubjectId, id: &RecordId) -> [u8; 48] {
    let mut key = [0u8; 48];
    key[..32].copy_from_slice(&subject.0);
    key[32..].copy_from_slice(id.as_bytes());
    key
}

/// The record id at the end of a subject-index key.
pub(crate) fn decode_subject_index_key(key: &[u8]) -> Option<RecordId> {
    let key: &[u8; 48] = key.try_into().ok()?;
    Some(RecordId::from_bytes(key[32..].try_into().ok()?))
}

/// A 32-byte key (subject key tree, series index).
pub(crate) fn decode_key32(key: &[u8]) -> Option<[u8; 32]> {
    key.try_into().ok()
}

/// A 16-byte record id key.
pub(crate) fn decode_record_id(key: &[u8]) -> Option<RecordId> {
    Some(RecordId::from_bytes(key.try_into().ok()?))
}

/// An audit-tree key: the seq, big-endian, so byte order is seq order.
pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Decodes a big-endian u64 (counters, seq keys).
pub(crate) fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The audit head value: seq (u64 big-endian) ++ hash.
pub(crate) fn encode_head(head: AuditHead) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&head.seq.to_be_bytes());
    out[8..].copy_from_slice(&head.hash);
    out
}

/// Decodes the audit head value.
pub(crate) fn decode_head(bytes: &[u8]) -> Option<AuditHead> {
    let bytes: &[u8; 40] = bytes.try_into().ok()?;
    Some(AuditHead {
        seq: u64::from_be_bytes(bytes[..8].try_into().ok()?),
        hash: bytes[8..].try_into().ok()?,
    })
}

/// The meta key of a policy's record count.
pub(crate) fn policy_count_key(policy_id: &str) -> Vec<u8> {
    let mut key = meta::POLICY_PREFIX.to_vec();
    key.extend_from_slice(policy_id.as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn retention_keys_sort_in_time_order_across_the_epoch() {
        let id = RecordId::from_bytes([0x55; 16]);
        let times = [
            datetime!(1900-01-01 00:00:00 UTC),
            datetime!(1969-12-31 23:59:59.999999999 UTC),
            datetime!(1970-01-01 00:00:00 UTC),
            datetime!(1970-01-01 00:00:00.000000001 UTC),
            datetime!(2026-06-01 12:00:00 UTC),
            datetime!(2026-06-01 12:00:00.5 UTC),
            datetime!(2026-06-01 12:00:01 UTC),
            datetime!(2300-01-01 00:00:00 UTC),
        ];
        let keys: Vec<_> = times.iter().map(|t| retention_key(*t, &id)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (t, k) in times.iter().zip(&keys) {
            let e = decode_retention_key(k).unwrap();
            assert_eq!(e.retain_until, *t);
            assert_eq!(e.id, id);
        }
    }

    #[test]
    fn the_upper_bound_includes_exactly_the_instant() {
        let t = datetime!(2026-06-01 12:00:00.5 UTC);
        let bound = retention_upper_bound(t);
        let max_id = RecordId::from_bytes([0xff; 16]);
        assert!(retention_key(t, &max_id) <= bound);
        let later = t + time::Duration::nanoseconds(1);
        assert!(retention_key(later, &RecordId::from_bytes([0; 16])) > bound);
    }

    #[test]
    fn a_non_utc_time_keys_as_its_instant() {
        let id = RecordId::from_bytes([1; 16]);
        let utc = datetime!(2026-06-01 12:00:00 UTC);
        let paris = utc.to_offset(time::macros::offset!(+2));
        assert_eq!(retention_key(utc, &id), retention_key(paris, &id));
    }

    #[test]
    fn subject_index_and_head_round_trip() {
        let s = SubjectId([9; 32]);
        let id = RecordId::from_bytes([3; 16]);
        let k = subject_index_key(&s, &id);
        assert!(k.starts_with(&s.0));
        assert_eq!(decode_subject_index_key(&k), Some(id));
        let head = AuditHead {
            seq: 42,
            hash: [7; 32],
        };
        assert_eq!(decode_head(&encode_head(head)), Some(head));
        assert_eq!(decode_head(&[0; 39]), None);
    }
}
