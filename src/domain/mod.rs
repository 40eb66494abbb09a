//! Validated record types: every value past the edge was built by a `parse`
//! constructor that implements its DICOM PS3.5 value-representation rule.
//!
//! Invariant: no type here can hold a value that breaks its rule, and no
//! error produced here contains the offending value (it may be PHI).

mod actor;
mod age;
mod code_string;
mod date;
mod error;
mod field;
mod person_name;
mod record;
mod text;
mod time_of_day;
mod uid;

pub use actor::{Actor, Role};
pub use age::{AgeString, AgeUnit};
pub use code_string::{CodeString, PatientSex};
pub use date::DicomDate;
pub use error::{FieldError, RuleViolation, ValidationErrors};
pub use field::{RecordField, UnknownField};
pub use person_name::PersonName;
pub use record::{Record, RecordBatch, latest_civil_date};
pub use text::{LongString, PatientId, ShortString};
pub use time_of_day::DicomTime;
pub use uid::DicomUid;

/// Implements the plumbing shared by every string newtype: `Display`,
/// `AsRef<str>`, `TryFrom<String>`, serde through `parse`, and a `Debug`
/// that never prints the value (values may be PHI).
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as a string slice, exactly as validated.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                // Values may be PHI: Debug output ends up in logs and panics.
                write!(
                    f,
                    concat!(stringify!($name), "(<{} chars>)"),
                    self.0.chars().count()
                )
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::RuleViolation;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_newtype;

/// Implements `schemars::JsonSchema` for a string newtype from a pattern and
/// length bounds, so the published schema carries the same rule as `parse`.
macro_rules! string_schema {
    ($name:ident, $title:expr, $description:expr, $pattern:expr, $min:expr, $max:expr) => {
        impl ::schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                ::schemars::json_schema!({
                    "type": "string",
                    "title": $title,
                    "description": $description,
                    "pattern": $pattern,
                    "minLength": $min,
                    "maxLength": $max,
                })
            }
        }
    };
}
pub(crate) use string_schema;

/// Characters PS3.5 §6.1.2 forbids in LO/SH/PN text values that reach us as
/// JSON: control characters (C0, DEL, C1) and the backslash, which is the
/// DICOM value delimiter (PS3.5 §6.4).
pub(crate) fn is_forbidden_text_char(c: char) -> bool {
    c.is_control() || c == '\\'
}
