//! Rendering: human output (miette diagnostics, tables) and `--json` documents, in one place.

use std::fmt::Write as _;

use miette::{GraphicalReportHandler, GraphicalTheme};
use serde::Serialize;
use serde_json::json;

use super::args::Global;
use crate::error::Error;
use crate::manifest::ManifestError;

/// What every verb needs to know about how to talk to the user.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Global flags.
    pub global: Global,
    /// Colour allowed on stderr.
    pub color: bool,
    /// When ctmux was called (Unix ms, from the process start time, 10 ms granular): "output
    /// after the call" starts here.
    pub called_ms: u64,
}

impl Ctx {
    /// `--json` given.
    pub fn json(&self) -> bool {
        self.global.json
    }

    /// Prints a JSON document with `schema_version` on stdout.
    pub fn print_json<T: Serialize>(&self, value: &T) {
        let mut doc = serde_json::to_value(value).unwrap_or_else(|e| json!({ "error": e.to_string() }));
        if let Some(map) = doc.as_object_mut() {
            map.shift_insert(0, "schema_version".into(), json!(1));
        }
        println!("{}", serde_json::to_string(&doc).unwrap_or_default());
    }

    /// Prints a note on stderr unless `-q` (never on stdout, which `--json` keeps clean).
    pub fn warn(&self, text: impl AsRef<str>) {
        if !self.global.quiet {
            eprintln!("ctmux: {}", text.as_ref());
        }
    }

    /// [`Ctx::warn`] as a value another thread can call (e.g. to say what a lock wait is for).
    pub fn notice(&self) -> impl Fn(&str) + Send + 'static {
        let quiet = self.global.quiet;
        move |text: &str| {
            if !quiet {
                eprintln!("ctmux: {text}");
            }
        }
    }

    /// Prints a human line on stdout unless `-q`.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.global.quiet {
            println!("{}", text.as_ref());
        }
    }
}

/// Makes a closed stdout (`ctmux logs | head -1`) end ctmux quietly with exit 0, as a reader
/// that has seen enough is no failure. Rust ignores SIGPIPE, so `print!` panics on EPIPE instead;
/// this hook turns exactly that panic (and no other) into a quiet exit, for every verb at once.
pub fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && is_broken_pipe_text(message) {
            std::process::exit(0);
        }
        default(info)
    }));
}

/// An I/O error's text says EPIPE (std prints it as "Broken pipe (os error 32)").
fn is_broken_pipe_text(message: &str) -> bool {
    message.contains(&format!("(os error {})", libc::EPIPE))
}

/// Writes `bytes` to stdout; a closed pipe is not an error (see [`quiet_on_broken_pipe`]).
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Renders manifest problems the way miette draws them, without colour when `color` is false.
pub fn render_manifest(err: &ManifestError, color: bool, width: usize) -> String {
    let summary = format!("{} problems in {}; nothing was applied", err.total, err.file.display());
    render_with(err, color, width, &summary)
}

/// [`render_manifest`] with `summary` as the closing line when there is more than one.
fn render_with(err: &ManifestError, color: bool, width: usize, summary: &str) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width);
    let mut out = String::new();
    for report in err.reports() {
        let _ = handler.render_report(&mut out, &report);
    }
    if err.total > 1 {
        let _ = writeln!(out, "{summary}");
    }
    out
}

/// Prints an error on stderr (human) or stdout (`--json`, the shape in docs/cli.md).
pub fn print_error(ctx: &Ctx, err: &Error) {
    if ctx.json() {
        let doc = match err {
            Error::Manifest(m) => {
                let errors = m.json_errors();
                json!({ "error": errors.first(), "errors": errors })
            }
            other => {
                json!({ "error": { "code": other.code(), "message": other.to_string(), "hint": other.hint() } })
            }
        };
        ctx.print_json(&doc);
        return;
    }
    match err {
        Error::Manifest(m) => eprint!("{}", render_manifest(m, ctx.color, 100)),
        other => {
            let red = if ctx.color { "\x1b[31m" } else { "" };
            let reset = if ctx.color { "\x1b[0m" } else { "" };
            eprintln!("{red}error:{reset} {other}");
            if let Some(hint) = other.hint() {
                eprintln!("  hint: {}", hint.replace('\n', "\n  "));
            }
        }
    }
}

/// Prints manifest warnings (unset variables) on stderr unless `-q`.
pub fn print_warnings(ctx: &Ctx, warnings: &ManifestError) {
    if warnings.problems.is_empty() || ctx.global.quiet {
        return;
    }
    // Warnings stop nothing: they are counted as warnings, and nothing is said unapplied.
    let summary = format!("{} warnings in {}", warnings.total, warnings.file.display());
    let mut text = render_with(warnings, ctx.color, 100, &summary);
    text = text.replace("manifest::unset_variable", "warning: unset variable");
    eprint!("{text}");
}
