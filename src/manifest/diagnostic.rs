//! Manifest problems as data: a code, a message, a span and a hint, rendered once at the edge.
//!
//! Lowering collects every [`Problem`] it finds; [`ManifestError`] carries them with the source
//! text so miette can draw each one under its line, and so `--json` can give line and column.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;

use super::node::Span;

/// One thing wrong with a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Stable machine-readable code, e.g. `unknown_key`.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where; `None` for problems about the file as a whole.
    pub span: Option<Span>,
    /// Text drawn under the span.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
    /// More places involved (each edge of a cycle, the first of two duplicates).
    pub extra: Vec<(Span, String)>,
}

impl Problem {
    /// A problem at `span`, labelled with `label`.
    pub fn new(code: &'static str, span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        Problem { code, message: message.into(), span: Some(span), label: label.into(), help: None, extra: Vec::new() }
    }

    /// Adds a hint.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a hint when there is one.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Adds another labelled place.
    pub fn also(mut self, span: Span, label: impl Into<String>) -> Self {
        self.extra.push((span, label.into()));
        self
    }
}

/// Every problem found in one manifest file; nothing is applied when this is returned.
#[derive(Debug, Clone)]
pub struct ManifestError {
    /// The manifest path as the user named it.
    pub file: PathBuf,
    source: Arc<String>,
    /// The problems, in source order.
    pub problems: Vec<Problem>,
}

impl ManifestError {
    /// Wraps problems found in `source` read from `file`.
    pub fn new(file: &Path, source: Arc<String>, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| p.span.as_ref().map_or(0, |s| s.start));
        ManifestError { file: file.to_path_buf(), source, problems }
    }

    /// A problem with the file itself (unreadable, not found).
    pub fn file_problem(file: &Path, code: &'static str, message: String, help: Option<String>) -> Self {
        let problem = Problem { code, message, span: None, label: String::new(), help, extra: Vec::new() };
        ManifestError { file: file.to_path_buf(), source: Arc::new(String::new()), problems: vec![problem] }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.source, offset)
    }

    /// The JSON documents for `--json` output, one per problem.
    pub fn json_errors(&self) -> Vec<JsonError> {
        self.problems
            .iter()
            .map(|p| JsonError {
                code: p.code,
                message: p.message.clone(),
                hint: p.help.clone(),
                location: p.span.as_ref().map(|s| {
                    let (line, column) = self.line_col(s.start);
                    JsonLocation { file: self.file.display().to_string(), line, column }
                }),
            })
            .collect()
    }

    fn named_source(&self) -> NamedSource<String> {
        NamedSource::new(self.file.display().to_string(), self.source.as_ref().clone()).with_language("yaml")
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The `error` object of SPEC §6 for one manifest problem.
#[derive(Debug, Clone, Serialize)]
pub struct JsonError {
    /// Stable code.
    pub code: &'static str,
    /// Human message.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
    /// Where, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<JsonLocation>,
}

/// File, line and column of a problem.
#[derive(Debug, Clone, Serialize)]
pub struct JsonLocation {
    /// Manifest path.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "{}", one.message),
            many => write!(f, "{} problems in {}", many.len(), self.file.display()),
        }
    }
}

impl std::error::Error for ManifestError {}

impl Diagnostic for ManifestError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.problems.as_slice() {
            [one] => Some(Box::new(format!("manifest::{}", one.code))),
            _ => Some(Box::new("manifest::invalid")),
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.problems.as_slice() {
            [one] => one.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>),
            _ => Some(Box::new("nothing was applied; fix these and run `ctmux validate`")),
        }
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        None
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        None
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        None
    }
}

/// One problem paired with its source, as miette renders it.
#[derive(Debug)]
pub struct ProblemReport {
    problem: Problem,
    source: NamedSource<String>,
    has_source: bool,
}

impl ManifestError {
    /// One renderable diagnostic per problem, each drawn under its own source line.
    pub fn reports(&self) -> Vec<ProblemReport> {
        let source = self.named_source();
        self.problems
            .iter()
            .map(|p| ProblemReport {
                problem: p.clone(),
                source: source.clone(),
                has_source: p.span.is_some() && !self.source.is_empty(),
            })
            .collect()
    }
}

impl fmt::Display for ProblemReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for ProblemReport {}

impl Diagnostic for ProblemReport {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("manifest::{}", self.problem.code)))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.problem.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.has_source.then_some(&self.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if !self.has_source {
            return None;
        }
        let main =
            self.problem.span.clone().map(|s| {
                LabeledSpan::new_primary_with_span(Some(self.problem.label.clone()), (s.start, s.end - s.start))
            });
        let extra = self
            .problem
            .extra
            .iter()
            .map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), (s.start, s.end - s.start)));
        Some(Box::new(main.into_iter().chain(extra)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_chars() {
        let text = "a: 1\nbé: x\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 5), (2, 1));
        let x = text.find('x').unwrap();
        assert_eq!(line_col(text, x), (2, 5));
    }
}
