//! HTML escaping: every value the page prints goes through here.
//!
//! The five characters that can end a text node or a quoted attribute value
//! are replaced by character references (HTML Living Standard §13.1.4,
//! §13.1.2.3), so one function is safe in both places. Values are escaped
//! whatever they look like, numbers included: the page never trusts that a
//! value is harmless.

use std::fmt;

/// Appends `text` to `out` with `& < > " '` replaced by character references.
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}

/// `value`'s `Display` text, escaped for a text node or a quoted attribute.
pub(crate) fn escape(value: impl fmt::Display) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, &text);
    out
}

/// Formats as the escaped `Display` text of the value it wraps, for use in
/// `format!` and `write!`: `format!("<td>{}</td>", Esc(&reason))`.
pub(crate) struct Esc<T>(pub T);

impl<T: fmt::Display> fmt::Display for Esc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_five_special_characters() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn escapes_an_existing_reference_again() {
        // A value that already looks escaped is still text: `&lt;` must show
        // as the four characters, not as `<`.
        assert_eq!(escape("&lt;"), "&amp;lt;");
    }

    #[test]
    fn leaves_other_text_alone() {
        assert_eq!(
            escape("Ünïcödé (0010,0020) P10Y 42"),
            "Ünïcödé (0010,0020) P10Y 42"
        );
        assert_eq!(format!("{}", Esc(42u64)), "42");
    }

    #[test]
    fn wraps_display_values() {
        assert_eq!(format!("[{}]", Esc("a\"b")), "[a&quot;b]");
    }
}
