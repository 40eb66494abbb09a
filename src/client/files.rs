//! Turns the PATH arguments of `submit` into records to send: JSON files
//! (one record or an array), NDJSON (`.ndjson`, `.jsonl`: one record per
//! line), and DICOM Part 10 files or directories of them, read recursively
//! and grouped into series.
//!
//! A file is DICOM when it has the `DICM` marker at byte 128 (PS3.10 §7.1),
//! whatever its name; otherwise it is JSON by its extension; anything else
//! is skipped with a reason. Every record is validated here, so a record
//! that would be refused is reported without being sent.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::dicom_header::{has_dicm_marker, read_header_file};
use super::series::{SeriesCollector, SeriesProblem};
use super::summary::{Refusal, Skip};
use crate::domain::Record;

/// A validated record and where it came from.
#[derive(Debug, Clone)]
pub struct SourcedRecord {
    /// `file.json`, `file.json#/3`, `file.ndjson:7`, or a series' first
    /// DICOM file.
    pub source: String,
    /// The record, as accepted by [`Record::from_json_now`].
    pub record: Value,
}

/// Everything found under the PATH arguments.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Records to send, in the order found (DICOM series last, by UID).
    pub records: Vec<SourcedRecord>,
    /// Records refused by validation before sending.
    pub refused: Vec<Refusal>,
    /// Paths that yielded nothing.
    pub skipped: Vec<Skip>,
}

/// What kind of input a file is.
enum Kind {
    Dicom,
    Json,
    NdJson,
}

/// The kind of `path`: DICOM by content, JSON by extension.
fn kind_of(path: &Path) -> std::io::Result<Option<Kind>> {
    if has_dicm_marker(path)? {
        return Ok(Some(Kind::Dicom));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    Ok(match ext.as_deref() {
        Some("json") => Some(Kind::Json),
        Some("ndjson" | "jsonl") => Some(Kind::NdJson),
        _ => None,
    })
}

/// A JSON syntax error described by position only: serde_json's own
/// message may quote part of the input.
fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "syntax error",
        Category::Data => "data error",
        Category::Eof => "unexpected end of input",
    };
    format!(
        "not valid JSON: {what} at line {}, column {}",
        e.line(),
        e.column()
    )
}

/// Every regular file under `path` (itself if it is a file), sorted, not
/// following symbolic links to directories (which could loop).
fn walk(path: &Path, files: &mut Vec<PathBuf>, skipped: &mut Vec<Skip>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            skipped.push(Skip {
                path: path.display().to_string(),
                reason: format!("cannot read: {e}"),
            });
            return;
        }
    };
    if meta.is_file() {
        files.push(path.to_owned());
        return;
    }
    if !meta.is_dir() {
        skipped.push(Skip {
            path: path.display().to_string(),
            reason: "not a regular file or directory".into(),
        });
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) => {
            skipped.push(Skip {
                path: path.display().to_string(),
                reason: format!("cannot list directory: {e}"),
            });
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        let is_dir_link = std::fs::symlink_metadata(&child)
            .map(|m| m.file_type().is_symlink() && child.is_dir())
            .unwrap_or(false);
        if is_dir_link {
            skipped.push(Skip {
                path: child.display().to_string(),
                reason: "symbolic link to a directory (not followed)".into(),
            });
        } else {
            walk(&child, files, skipped);
        }
    }
}

/// Validates one JSON record and files it under `records` or `refused`.
fn take_record(source: String, value: Value, inputs: &mut Inputs) {
    match Record::from_json_now(&value) {
        Ok(_) => inputs.records.push(SourcedRecord {
            source,
            record: value,
        }),
        Err(errors) => inputs
            .refused
            .extend(errors.errors.into_iter().map(|e| Refusal {
                source: source.clone(),
                pointer: Some(e.pointer),
                reason: e.reason,
            })),
    }
}

fn read_json(path: &Path, inputs: &mut Inputs) {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            inputs.skipped.push(Skip {
                path: name,
                reason: format!("cannot read: {e}"),
            });
            return;
        }
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(items)) if items.is_empty() => inputs.skipped.push(Skip {
            path: name,
            reason: "an empty array holds no record".into(),
        }),
        Ok(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                take_record(format!("{name}#/{i}"), item, inputs);
            }
        }
        Ok(value @ Value::Object(_)) => take_record(name, value, inputs),
        Ok(_) => inputs.skipped.push(Skip {
            path: name,
            reason: "a JSON input holds one record (an object) or an array of records".into(),
        }),
        Err(e) => inputs.skipped.push(Skip {
            path: name,
            reason: json_error(&e),
        }),
    }
}

fn read_ndjson(path: &Path, inputs: &mut Inputs) {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            inputs.skipped.push(Skip {
                path: name,
                reason: format!("cannot read as UTF-8 text: {e}"),
            });
            return;
        }
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let source = format!("{name}:{}", i + 1);
        match serde_json::from_str::<Value>(line) {
            Ok(value) => take_record(source, value, inputs),
            Err(e) => inputs.refused.push(Refusal {
                source,
                pointer: None,
                reason: json_error(&e),
            }),
        }
    }
}

/// Reads every PATH: files directly, directories recursively. Never fails:
/// what cannot be used is reported in [`Inputs::skipped`] or
/// [`Inputs::refused`].
pub fn collect_inputs(paths: &[PathBuf]) -> Inputs {
    let mut inputs = Inputs::default();
    let mut files = Vec::new();
    for path in paths {
        walk(path, &mut files, &mut inputs.skipped);
    }
    let mut collector = SeriesCollector::new();
    for file in files {
        let name = file.display().to_string();
        match kind_of(&file) {
            Ok(Some(Kind::Dicom)) => match read_header_file(&file) {
                Ok(header) => {
                    collector.add(name, &header);
                }
                Err(e) => inputs.skipped.push(Skip {
                    path: name,
                    reason: e.to_string(),
                }),
            },
            Ok(Some(Kind::Json)) => read_json(&file, &mut inputs),
            Ok(Some(Kind::NdJson)) => read_ndjson(&file, &mut inputs),
            Ok(None) => inputs.skipped.push(Skip {
                path: name,
                reason:
                    "neither DICOM (no DICM marker at byte 128) nor JSON (.json, .ndjson, .jsonl)"
                        .into(),
            }),
            Err(e) => inputs.skipped.push(Skip {
                path: name,
                reason: format!("cannot read: {e}"),
            }),
        }
    }
    for series in collector.finish() {
        match series.result {
            Ok(record) => inputs.records.push(SourcedRecord {
                source: series.source,
                record,
            }),
            Err(SeriesProblem::Invalid(errors)) => {
                inputs
                    .refused
                    .extend(errors.errors.into_iter().map(|e| Refusal {
                        source: series.source.clone(),
                        pointer: Some(e.pointer),
                        reason: e.reason,
                    }))
            }
            Err(SeriesProblem::Conflict(fields)) => {
                inputs.refused.extend(fields.into_iter().map(|f| Refusal {
                    source: series.source.clone(),
                    pointer: Some(format!("/{}", f.keyword())),
                    reason: SeriesProblem::Conflict(vec![f]).to_string(),
                }))
            }
        }
    }
    inputs
}
