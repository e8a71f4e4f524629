//! Manifest problems as data: a code, a message, a span and a hint, rendered once at the edge.
//!
//! Lowering collects every [`Problem`] it finds; [`ManifestError`] carries them with the source
//! text so miette can draw each one under its line, and so `--json` can give line and column.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
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

/// One file of a composed manifest: its text and where it starts in the spans' offsets.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user (or an `include:`) named it.
    pub path: PathBuf,
    /// Offset of the file's first byte in the spans of a composed manifest.
    pub base: usize,
    /// The file's text.
    pub text: Arc<String>,
}

/// Every problem found in a manifest (one file, or several composed); nothing is applied when
/// this is returned.
#[derive(Debug, Clone)]
pub struct ManifestError {
    /// The manifest path as the user named it (the first, when several are composed).
    pub file: PathBuf,
    source: Arc<String>,
    /// Every file the spans may point into, by base offset.
    sources: Vec<SourceFile>,
    /// The problems, in source order.
    pub problems: Vec<Problem>,
    /// How many problems were found (more than `problems` holds past [`MAX_PROBLEMS`]).
    pub total: usize,
}

impl ManifestError {
    /// Wraps problems found in `source` read from `file`; past [`MAX_PROBLEMS`], the rest are
    /// counted in one last problem (100,000 bad keys took minutes to render, each one read from
    /// the top of the file).
    pub fn new(file: &Path, source: Arc<String>, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| p.span.as_ref().map_or(0, |s| s.start));
        let total = problems.len();
        if problems.len() > MAX_PROBLEMS {
            let more = problems.len() - MAX_PROBLEMS;
            problems.truncate(MAX_PROBLEMS);
            problems.push(Problem {
                code: "too_many_problems",
                message: format!("and {more} more problems, not shown (the first {MAX_PROBLEMS} are)"),
                span: None,
                label: String::new(),
                help: Some("fix these and run `ctmux validate` again".into()),
                extra: Vec::new(),
            });
        }
        let sources = vec![SourceFile { path: file.to_path_buf(), base: 0, text: source.clone() }];
        ManifestError { file: file.to_path_buf(), source, sources, problems, total }
    }

    /// Like [`ManifestError::new`] for a composed manifest: each problem is shown in the file
    /// its span falls in.
    pub fn with_sources(files: Vec<SourceFile>, problems: Vec<Problem>) -> Self {
        let first = files.first().map(|f| (f.path.clone(), f.text.clone()));
        let (file, text) = first.unwrap_or_else(|| (PathBuf::from("ctmux.yaml"), Arc::new(String::new())));
        let mut err = ManifestError::new(&file, text, problems);
        if !files.is_empty() {
            err.sources = files;
        }
        err
    }

    /// The file an offset falls in, and the offset within it.
    fn locate(&self, offset: usize) -> (&SourceFile, usize) {
        let file = self.sources.iter().rev().find(|f| f.base <= offset).unwrap_or(&self.sources[0]);
        (file, offset.saturating_sub(file.base))
    }

    /// The file a problem is in (the first file for problems without a place).
    pub fn file_of(&self, problem: &Problem) -> &Path {
        match &problem.span {
            Some(s) => &self.locate(s.start).0.path,
            None => &self.file,
        }
    }

    /// A problem with the file itself (unreadable, not found).
    pub fn file_problem(file: &Path, code: &'static str, message: String, help: Option<String>) -> Self {
        let problem = Problem { code, message, span: None, label: String::new(), help, extra: Vec::new() };
        let source = Arc::new(String::new());
        let sources = vec![SourceFile { path: file.to_path_buf(), base: 0, text: source.clone() }];
        ManifestError { file: file.to_path_buf(), source, sources, problems: vec![problem], total: 1 }
    }

    /// 1-based line and column (in characters) of a byte offset, in the file it falls in.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let (file, at) = self.locate(offset);
        line_col(&file.text, at)
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
                    JsonLocation { file: self.locate(s.start).0.path.display().to_string(), line, column }
                }),
            })
            .collect()
    }
}

/// At most this many problems of one manifest are reported (see [`ManifestError::new`]).
pub const MAX_PROBLEMS: usize = 100;

/// Lines longer than this many bytes are shown as a window around the problem: miette pads
/// with `{:width$}` and panics once a column passes 65,535 (a one-line 70 kB manifest).
pub const CLIP_LINE: usize = 400;
/// Bytes of a clipped line shown on each side of the problem.
const CLIP_CONTEXT: usize = 60;

/// The manifest text as miette reads it: as is, except that an over-long line is cut to a
/// window around the span (with no context lines), its line and column still the real ones.
#[derive(Debug, Clone)]
pub struct ClippedSource {
    name: String,
    text: Arc<String>,
}

impl SourceCode for ClippedSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let text = self.text.as_str();
        let start = floor_char_boundary(text, span.offset().min(text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let end = floor_char_boundary(text, (start + span.len()).min(text.len()));
        let inner = text.read_span(span, before, after)?;
        let data = std::str::from_utf8(inner.data()).unwrap_or_default();
        if line_end - line_start <= CLIP_LINE && data.split('\n').all(|l| l.len() <= CLIP_LINE) {
            return Ok(Box::new(MietteSpanContents::new_named(
                self.name.clone(),
                inner.data(),
                *inner.span(),
                inner.line(),
                inner.column(),
                inner.line_count(),
            )));
        }
        // The header asks with no context and wants the span's own column.
        let from = if before == 0 && after == 0 { start } else { start.saturating_sub(CLIP_CONTEXT).max(line_start) };
        let from = floor_char_boundary(text, from);
        let to = ceil_char_boundary(text, (end.max(start + 1) + CLIP_CONTEXT).min(line_end).min(from + CLIP_LINE));
        let (line, column) = line_col(text, from);
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            &text.as_bytes()[from..to],
            SourceSpan::from(from..to),
            line - 1,
            column - 1,
            1,
        )))
    }
}

fn ceil_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset < text.len() && !text.is_char_boundary(offset) {
        offset += 1;
    }
    offset.min(text.len())
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

/// The `--json` `error` object for one manifest problem (docs/cli.md).
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
            _ => write!(f, "{} problems in {}", self.total, self.file.display()),
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
    source: ClippedSource,
    has_source: bool,
}

impl ManifestError {
    /// One renderable diagnostic per problem, each drawn under its own source line.
    pub fn reports(&self) -> Vec<ProblemReport> {
        self.problems
            .iter()
            .map(|p| {
                let Some(span) = &p.span else {
                    let source = ClippedSource { name: self.file.display().to_string(), text: self.source.clone() };
                    return ProblemReport { problem: p.clone(), source, has_source: false };
                };
                let (file, _) = self.locate(span.start);
                let rebase = |s: &Span| s.start - file.base..s.end.saturating_sub(file.base).max(s.start - file.base);
                let mut problem = p.clone();
                problem.span = Some(rebase(span));
                problem.extra = Vec::new();
                for (s, label) in &p.extra {
                    let (other, at) = self.locate(s.start);
                    if std::ptr::eq(other, file) {
                        problem.extra.push((rebase(s), label.clone()));
                    } else {
                        // A label in another file becomes a line of help naming that place.
                        let (line, column) = line_col(&other.text, at);
                        let note = format!("{label}: {}:{line}:{column}", other.path.display());
                        problem.help = Some(match problem.help.take() {
                            Some(h) => format!("{h}\n{note}"),
                            None => note,
                        });
                    }
                }
                let source = ClippedSource { name: file.path.display().to_string(), text: file.text.clone() };
                ProblemReport { problem, source, has_source: !file.text.is_empty() }
            })
            .collect()
    }
}

impl ProblemReport {
    /// A span as (offset, length); when it touches a line longer than [`CLIP_LINE`], cut to a
    /// few bytes of its first line, so its label stays inside what [`ClippedSource`] shows.
    fn clip(&self, s: &Span) -> (usize, usize) {
        let text = self.source.text.as_str();
        let start = floor_char_boundary(text, s.start.min(text.len()));
        let end = floor_char_boundary(text, s.end.clamp(start, text.len()));
        let first = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let last = text[end..].find('\n').map_or(text.len(), |i| end + i);
        if text[first..last].split('\n').all(|l| l.len() <= CLIP_LINE) {
            return (start, end - start);
        }
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let cut = floor_char_boundary(text, (start + CLIP_CONTEXT).min(end).min(line_end));
        (start, cut - start)
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
        let main = self
            .problem
            .span
            .clone()
            .map(|s| LabeledSpan::new_primary_with_span(Some(self.problem.label.clone()), self.clip(&s)));
        let extra = self.problem.extra.iter().map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), self.clip(s)));
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
