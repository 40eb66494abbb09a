//! The policies in force: the set shipped in the binary, or the set in a
//! `--policy-dir`, which replaces it whole.

use std::path::{Path, PathBuf};

use super::error::{PolicyError, PolicyErrors};
use super::loader::parse_policy;
use super::model::Policy;

/// The shipped policies, `(id, file, text)`, embedded at build time from
/// `compliance/`.
const EMBEDDED: [(&str, &str, &str); 3] = [
    (
        "gdpr",
        "compliance/gdpr.toml",
        include_str!("../../compliance/gdpr.toml"),
    ),
    (
        "hipaa",
        "compliance/hipaa.toml",
        include_str!("../../compliance/hipaa.toml"),
    ),
    (
        "research",
        "compliance/research.toml",
        include_str!("../../compliance/research.toml"),
    ),
];

/// A loaded set of policies, ordered by id.
///
/// Invariant: never empty; ids are unique; every policy passed the loader.
#[derive(Debug, Clone)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// The policies shipped in the binary (`compliance/*.toml`). Fails only
    /// if a shipped file is broken, which the test suite rules out.
    pub fn embedded() -> Result<PolicySet, PolicyError> {
        Self::from_texts(
            EMBEDDED
                .iter()
                .map(|(id, file, text)| ((*file).to_owned(), (*id).to_owned(), (*text).to_owned())),
        )
        .map_err(first)
    }

    /// Loads every `*.toml` file in `dir`; the result replaces the embedded
    /// set. Fails closed on the first error (in file-name order, then
    /// position), naming file, line, column and field.
    pub fn load_dir(dir: &Path) -> Result<PolicySet, PolicyError> {
        Self::check_dir(dir).map_err(first)
    }

    /// Like [`PolicySet::load_dir`], but reports every error in every file,
    /// for `phivault policy check`.
    pub fn check_dir(dir: &Path) -> Result<PolicySet, PolicyErrors> {
        let one = |e| PolicyErrors(vec![e]);
        let entries = std::fs::read_dir(dir).map_err(|source| {
            one(PolicyError::ReadDir {
                dir: dir.to_owned(),
                source,
            })
        })?;
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| {
                    one(PolicyError::ReadDir {
                        dir: dir.to_owned(),
                        source,
                    })
                })?
                .path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(one(PolicyError::NoPolicies {
                dir: dir.to_owned(),
            }));
        }
        files.sort();
        let mut texts = Vec::new();
        let mut errors = Vec::new();
        for file in files {
            match std::fs::read(&file) {
                Err(source) => errors.push(PolicyError::ReadFile { file, source }),
                Ok(bytes) => match String::from_utf8(bytes) {
                    Err(_) => errors.push(PolicyError::NotUtf8 { file }),
                    Ok(text) => {
                        let stem = file
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        texts.push((file.display().to_string(), stem, text));
                    }
                },
            }
        }
        match Self::from_texts(texts) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(PolicyErrors(errors)),
            Err(PolicyErrors(more)) => {
                errors.extend(more);
                Err(PolicyErrors(errors))
            }
        }
    }

    /// Loads policies from `(file, stem, text)` triples: `file` names the
    /// source in messages, `stem` is the id it must declare.
    pub fn from_texts(
        texts: impl IntoIterator<Item = (String, String, String)>,
    ) -> Result<PolicySet, PolicyErrors> {
        let mut policies: Vec<Policy> = Vec::new();
        let mut errors = Vec::new();
        for (file, stem, text) in texts {
            match parse_policy(&file, &stem, &text) {
                Ok(p) => policies.push(p),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(PolicyErrors(errors));
        }
        policies.sort_by(|a, b| a.id().cmp(b.id()));
        // Ids equal file stems, so two files cannot share one; an empty
        // input is the only other way to break the invariant.
        if policies.is_empty() {
            return Err(PolicyErrors(vec![PolicyError::NoPolicies {
                dir: PathBuf::from("(no files)"),
            }]));
        }
        Ok(PolicySet { policies })
    }

    /// The policy with this id.
    pub fn get(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.id() == id)
    }

    /// Every policy, ordered by id.
    pub fn iter(&self) -> std::slice::Iter<'_, Policy> {
        self.policies.iter()
    }

    /// The ids, ordered.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(Policy::id)
    }

    /// How many policies the set holds (at least one).
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Always false: a set holds at least one policy.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

impl<'a> IntoIterator for &'a PolicySet {
    type Item = &'a Policy;
    type IntoIter = std::slice::Iter<'a, Policy>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The first of a non-empty list of errors.
fn first(errors: PolicyErrors) -> PolicyError {
    errors
        .0
        .into_iter()
        .next()
        .unwrap_or_else(|| PolicyError::NoPolicies {
            dir: PathBuf::from("(no files)"),
        })
}
