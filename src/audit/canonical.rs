//! The canonical JSON encoding the audit hash chain is computed over.
//!
//! It is the JSON Canonicalization Scheme (RFC 8785) restricted to values
//! whose numbers are integers of magnitude below 2^53: object members sorted
//! by the UTF-16 code units of their names (RFC 8785 §3.2.3), no whitespace,
//! strings escaped as in RFC 8785 §3.2.2.2 (`\"`, `\\`, `\b`, `\t`, `\n`,
//! `\f`, `\r`, other controls as `\u00xx` in lower-case hex, everything else
//! as literal UTF-8), integers in plain decimal. Restricting numbers to such
//! integers makes the number form trivial and identical in every language
//! (RFC 8785 §3.2.2.3 would otherwise need the ECMAScript float algorithm).

use serde_json::Value;

/// The largest integer magnitude allowed: 2^53 − 1, the largest integer an
/// IEEE 754 double holds exactly (I-JSON, RFC 7493 §2.2).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The value cannot be encoded canonically.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A number was fractional, or an integer of magnitude 2^53 or more.
    #[error("audit values may hold only integers of magnitude below 2^53")]
    UnsupportedNumber,
}

/// Checks that `value` is encodable: every number an integer of magnitude
/// below 2^53.
pub fn check(value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(n) => {
            let ok = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u <= MAX_SAFE_INTEGER,
                (None, Some(i)) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
                (None, None) => false,
            };
            if ok {
                Ok(())
            } else {
                Err(CanonicalError::UnsupportedNumber)
            }
        }
        Value::Array(items) => items.iter().try_for_each(check),
        Value::Object(map) => map.values().try_for_each(check),
    }
}

/// The canonical bytes of `value`.
///
/// Guarantee: equal JSON values (same members, in any order) give equal
/// bytes, and the bytes parse back to an equal value.
pub fn to_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    check(value)?;
    let mut out = Vec::with_capacity(256);
    write(value, &mut out);
    Ok(out)
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Checked above: an integer, printed in plain decimal.
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // RFC 8785 §3.2.3: sort by the UTF-16 code units of the names.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                write(item, out);
            }
            out.push(b'}');
        }
    }
}

/// RFC 8785 §3.2.2.2 string serialisation.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{0C}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                let b = c as u32 as usize;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[b >> 4]);
                out.push(HEX[b & 0xf]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        String::from_utf8(to_bytes(&v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_members_and_drops_whitespace() {
        let v = json!({"b": 1, "a": {"d": [1, 2, {"z": null, "y": true}], "c": "x"}});
        assert_eq!(
            canon(v),
            r#"{"a":{"c":"x","d":[1,2,{"y":true,"z":null}]},"b":1}"#
        );
    }

    #[test]
    fn escapes_strings_as_rfc_8785() {
        let v = json!("q\" b\\ \u{8}\t\n\u{c}\r \u{1} \u{1f} \u{7f} / é €");
        assert_eq!(
            canon(v),
            "\"q\\\" b\\\\ \\b\\t\\n\\f\\r \\u0001 \\u001f \u{7f} / é €\""
        );
    }

    #[test]
    fn sorts_names_by_utf16_code_units() {
        // RFC 8785 §3.2.3: U+E000 (one unit 0xE000) sorts after U+1F600,
        // whose first UTF-16 unit is the surrogate 0xD83D, although its UTF-8
        // bytes sort first.
        let v = json!({"\u{e000}": 1, "\u{1f600}": 2});
        assert_eq!(canon(v), "{\"\u{1f600}\":2,\"\u{e000}\":1}");
    }

    #[test]
    fn accepts_safe_integers_only() {
        assert_eq!(
            canon(json!([-9007199254740991i64, 9007199254740991u64])),
            "[-9007199254740991,9007199254740991]"
        );
        assert!(to_bytes(&json!(9007199254740992u64)).is_err());
        assert!(to_bytes(&json!(-9007199254740992i64)).is_err());
        assert!(to_bytes(&json!({"x": [1.5]})).is_err());
    }

    #[test]
    fn matches_serde_json_for_ascii_sorted_input() {
        // Independent cross-check: for already-sorted members, serde_json's
        // compact writer produces the same bytes.
        let v = json!({"a": "t\u{1}\"x", "b": [1, -2, null, false], "c": {"d": "é"}});
        assert_eq!(canon(v.clone()), serde_json::to_string(&v).unwrap());
    }
}
