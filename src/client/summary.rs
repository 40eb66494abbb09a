//! The JSON summary `submit` prints on stdout, and the entries that make it
//! up. Every reason names a rule, a status or a tag, never a value.

use serde::Serialize;

/// A record that was not stored: refused by the client's own validation
/// (before sending) or by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Where the record came from: `file.json`, `file.json#/3` (array
    /// element), `file.ndjson:7` (line), or a DICOM series' first file.
    pub source: String,
    /// JSON Pointer to the failing member of the record, when one field is
    /// at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Why, in words a technician can act on.
    pub reason: String,
}

/// An input path that yielded nothing to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// The file or directory, as found.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The outcome of one `submit` run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records the server answered for (created, replaced or refused).
    pub sent: usize,
    /// Records the server stored as new (201).
    pub created: usize,
    /// Records that replaced a stored series (200).
    pub replaced: usize,
    /// Records refused, by the client's validation or by the server.
    pub refused: Vec<Refusal>,
    /// Inputs skipped (not DICOM or JSON, unreadable, missing a required
    /// tag).
    pub skipped: Vec<Skip>,
    /// Records whose delivery failed after every retry (server unreachable,
    /// 5xx, or an answer that could not be read); safe to submit again.
    pub undelivered: Vec<Refusal>,
}

impl Summary {
    /// Whether every record found was stored: nothing refused and nothing
    /// undelivered (skipped inputs do not count).
    pub fn all_stored(&self) -> bool {
        self.refused.is_empty() && self.undelivered.is_empty()
    }
}
