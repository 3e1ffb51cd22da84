//! JUnit XML, the one writer behind `check --junit` and `vmtest --junit`:
//! a test suite of cases that pass, are skipped, or fail.

use std::fmt::Write as _;

/// How one test case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Passed, with optional text for `<system-out>`.
    Passed {
        output: Option<String>,
    },
    Skipped {
        message: String,
    },
    /// Failed, with a short message and optional detail as the element's text.
    Failed {
        message: String,
        detail: Option<String>,
    },
}

/// One test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub class: String,
    pub name: String,
    pub verdict: Verdict,
}

/// Escapes text for XML attributes and content.
#[must_use]
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A whole JUnit document: one `<testsuite>` named `suite`.
#[must_use]
pub fn suite(suite: &str, cases: &[Case]) -> String {
    let failures = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Failed { .. }))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
        xml_escape(suite),
        cases.len()
    );
    for c in cases {
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(&c.class),
            xml_escape(&c.name)
        );
        out.push_str(&closing(&c.verdict));
        out.push('\n');
    }
    out.push_str("</testsuite>\n");
    out
}

fn closing(v: &Verdict) -> String {
    match v {
        Verdict::Passed { output: None } => "/>".to_string(),
        Verdict::Passed { output: Some(o) } => {
            format!("><system-out>{}</system-out></testcase>", xml_escape(o))
        }
        Verdict::Skipped { message } => {
            format!("><skipped message=\"{}\"/></testcase>", xml_escape(message))
        }
        Verdict::Failed {
            message,
            detail: None,
        } => format!("><failure message=\"{}\"/></testcase>", xml_escape(message)),
        Verdict::Failed {
            message,
            detail: Some(d),
        } => format!(
            "><failure message=\"{}\">{}</failure></testcase>",
            xml_escape(message),
            xml_escape(d)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_and_escapes() {
        let cases = [
            Case {
                class: "p".into(),
                name: "a on 6.16".into(),
                verdict: Verdict::Passed { output: None },
            },
            Case {
                class: "p".into(),
                name: "b <&> c".into(),
                verdict: Verdict::Failed {
                    message: "no \"variant\"".into(),
                    detail: Some("x < y".into()),
                },
            },
            Case {
                class: "p".into(),
                name: "c".into(),
                verdict: Verdict::Skipped {
                    message: "kernel without sched_ext".into(),
                },
            },
        ];
        let xml = suite("scxpack check", &cases);
        assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"a on 6.16\"/>"), "{xml}");
        assert!(xml.contains("name=\"b &lt;&amp;&gt; c\""), "{xml}");
        assert!(
            xml.contains("<failure message=\"no &quot;variant&quot;\">x &lt; y</failure>"),
            "{xml}"
        );
        assert!(xml.contains("<skipped message=\"kernel without sched_ext\"/>"));
    }
}
