//! The server's answers to `POST /v1/records/batch`, read leniently, and
//! turned into summary entries.

use serde::Deserialize;

use super::summary::Refusal;

/// One element of the server's batch answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ItemAnswer {
    pub(crate) status: u16,
    #[serde(default)]
    pub(crate) problem: Option<ProblemAnswer>,
}

/// The parts of an RFC 9457 problem document the summary reports; lenient,
/// so that an answer missing a member is still understood.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProblemAnswer {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<FieldAnswer>,
}

#[derive(Debug, Deserialize)]
struct FieldAnswer {
    pointer: String,
    reason: String,
}

/// A problem's title and detail in one line.
pub(crate) fn describe(status: u16, problem: Option<&ProblemAnswer>) -> String {
    let mut s = format!("server answered {status}");
    if let Some(p) = problem {
        for part in [&p.title, &p.detail].into_iter().flatten() {
            s.push_str(": ");
            s.push_str(part);
        }
    }
    s
}

/// The refusals for one record the server refused.
pub(crate) fn refusals(source: &str, status: u16, problem: Option<ProblemAnswer>) -> Vec<Refusal> {
    match problem {
        Some(p) if !p.errors.is_empty() => p
            .errors
            .into_iter()
            .map(|e| Refusal {
                source: source.to_owned(),
                pointer: Some(e.pointer),
                reason: e.reason,
            })
            .collect(),
        p => vec![Refusal {
            source: source.to_owned(),
            pointer: None,
            reason: describe(status, p.as_ref()),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_pointers_or_the_problem_title() {
        let p = ProblemAnswer {
            title: Some("Validation failed".into()),
            detail: None,
            errors: vec![FieldAnswer {
                pointer: "/StudyDate".into(),
                reason: "a date (DA) is YYYYMMDD".into(),
            }],
        };
        let r = refusals("a.json", 422, Some(p));
        assert_eq!(r[0].pointer.as_deref(), Some("/StudyDate"));
        let r = refusals("a.json", 409, None);
        assert_eq!(r[0].reason, "server answered 409");
    }
}
