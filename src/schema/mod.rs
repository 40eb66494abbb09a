//! The published JSON Schemas (draft 2020-12) of every document phivault
//! reads or writes. `schemas/` in the repository is this module's output,
//! and a test keeps the two identical.

use std::path::Path;

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};

use crate::domain::{Record, RecordBatch};
use crate::http::ProblemDocument;
use crate::report::ComplianceReport;
use crate::vault;

/// One exported schema: its file stem (`record` → `record.schema.json`) and
/// the schema itself.
pub struct NamedSchema {
    /// The name used in file names and in `GET /v1/schemas/{name}`.
    pub name: &'static str,
    /// The schema document.
    pub schema: Schema,
}

/// The draft 2020-12 schema of `T`, with an `$id` naming it.
fn schema_of<T: JsonSchema>(name: &str) -> Schema {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12());
    let mut schema = generator.root_schema_for::<T>();
    schema.insert(
        "$id".into(),
        format!("https://phivault.invalid/schemas/{name}.schema.json").into(),
    );
    schema
}

/// Every published schema, in a stable order.
pub fn all() -> Vec<NamedSchema> {
    vec![
        NamedSchema {
            name: "record",
            schema: schema_of::<Record>("record"),
        },
        NamedSchema {
            name: "record-batch",
            schema: schema_of::<RecordBatch>("record-batch"),
        },
        NamedSchema {
            name: "problem",
            schema: schema_of::<ProblemDocument>("problem"),
        },
        NamedSchema {
            name: "compliance-report",
            schema: schema_of::<ComplianceReport>("compliance-report"),
        },
        NamedSchema {
            name: "ingest-receipt",
            schema: schema_of::<vault::IngestReceipt>("ingest-receipt"),
        },
        NamedSchema {
            name: "record-view",
            schema: schema_of::<vault::RecordView>("record-view"),
        },
        NamedSchema {
            name: "erasure-receipt",
            schema: schema_of::<vault::SignedReceipt>("erasure-receipt"),
        },
        NamedSchema {
            name: "hold",
            schema: schema_of::<vault::HoldView>("hold"),
        },
        NamedSchema {
            name: "purge-summary",
            schema: schema_of::<vault::PurgeSummary>("purge-summary"),
        },
        NamedSchema {
            name: "audit-verification",
            schema: schema_of::<vault::AuditVerification>("audit-verification"),
        },
        NamedSchema {
            name: "key-status",
            schema: schema_of::<vault::KeyStatus>("key-status"),
        },
        NamedSchema {
            name: "rotation-summary",
            schema: schema_of::<vault::RotationSummary>("rotation-summary"),
        },
    ]
}

/// The exact bytes written for a schema: pretty JSON and a final newline.
pub fn to_file_bytes(schema: &Schema) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec_pretty(schema)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A failure to write the schemas.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The directory or a file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A schema could not be serialised.
    #[error("cannot serialise schema {name}: {source}")]
    Json {
        /// The schema's name.
        name: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Writes every schema as `<dir>/<name>.schema.json`, creating `dir`;
/// returns the paths written.
pub fn export(dir: &Path) -> Result<Vec<String>, ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut written = Vec::new();
    for NamedSchema { name, schema } in all() {
        let path = dir.join(format!("{name}.schema.json"));
        let bytes = to_file_bytes(&schema).map_err(|source| ExportError::Json { name, source })?;
        std::fs::write(&path, bytes).map_err(|source| ExportError::Io {
            path: path.display().to_string(),
            source,
        })?;
        written.push(path.display().to_string());
    }
    Ok(written)
}
