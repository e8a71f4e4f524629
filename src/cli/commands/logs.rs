//! `ctmux logs`: the daemon's pane logs merged by time like `docker compose logs`, read from
//! the files (so it works with the daemon down), and with `-f` followed as they grow.

use std::io::{IsTerminal, Write};

use super::events::parse_since;
use super::stack::Stack;
use crate::cli::args::LogsArgs;
use crate::cli::{Ctx, Result};
use crate::daemon::logfile::{Line, PaneLog, Watch};
use crate::daemon::paths;
use crate::error::Error;
use crate::exit::Exit;
use crate::terminal::Screen;

/// Prefix colours, cycled per pane as compose does.
const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

struct Printer<'a> {
    ctx: &'a Ctx,
    args: &'a LogsArgs,
    grep: Option<regex::Regex>,
    since: Option<u64>,
    width: usize,
    color: bool,
}

impl Printer<'_> {
    /// The text to show and match, `None` for a line that is only `pane exec`'s wrapper:
    /// what a terminal shows for the line ([`crate::terminal::render`]: `\r` and backspace
    /// applied, escapes dropped) with exec's wrapper removed, unless `--ansi` (the raw bytes,
    /// as logged). Lines without escapes or control characters are passed through byte for
    /// byte (invalid UTF-8 included).
    /// A line that only redraws rows already shown (bash's `ESC M` redraw of a multi-line
    /// command line) is `None` too: the pane's [`Screen`] reads the lines as rows on a screen.
    fn text(&self, screen: &mut Screen, raw: &[u8]) -> Option<Vec<u8>> {
        if self.args.ansi {
            return Some(raw.to_vec());
        }
        let plain = screen.at_bottom() && !raw.iter().any(|b| *b == 0x1b || (*b < 0x20 && *b != b'\t'));
        let text = String::from_utf8_lossy(raw);
        if plain {
            screen.plain(&text);
            if !text.contains("TMUX-") && matches!(text, std::borrow::Cow::Borrowed(_)) {
                return Some(raw.to_vec());
            }
            return Self::unwrapped(text.into_owned());
        }
        let shown = screen.line(&text)?.to_string();
        Self::unwrapped(shown)
    }

    /// `text` without exec's wrapper (`None`: it was only the wrapper).
    fn unwrapped(text: String) -> Option<Vec<u8>> {
        crate::exec_marks::strip_exec_wrapper(&text).map(|t| t.into_owned().into_bytes())
    }

    fn wanted(&self, line: &Line, text: &[u8]) -> bool {
        self.since.is_none_or(|s| line.ts >= s)
            && self.grep.as_ref().is_none_or(|g| g.is_match(&String::from_utf8_lossy(text)))
    }

    fn print(&self, out: &mut impl Write, order: usize, address: &str, line: &Line, text: &[u8]) {
        if self.ctx.json() {
            let doc = serde_json::json!({
                "schema_version": 1,
                "ts": line.ts,
                "address": address,
                "line": String::from_utf8_lossy(text),
            });
            let _ = writeln!(out, "{doc}");
            return;
        }
        if !self.args.no_prefix {
            let width = self.width;
            if self.color {
                let c = COLORS[order % COLORS.len()];
                let _ = write!(out, "\x1b[{c}m{address:<width$} |\x1b[0m ");
            } else {
                let _ = write!(out, "{address:<width$} | ");
            }
        }
        if self.args.timestamps {
            let _ = write!(out, "{} ", super::events::format_ms(line.ts as i64));
        }
        let _ = out.write_all(text);
        let _ = out.write_all(b"\n");
    }
}

/// Runs `logs`.
pub fn run(ctx: &Ctx, args: &LogsArgs) -> Result {
    let stack = Stack::open(ctx)?;
    let grep = args
        .grep
        .as_deref()
        .map(crate::manifest::reader::bounded_regex)
        .transpose()
        .map_err(|e| Error::Usage { message: format!("--grep: {e}"), hint: None })?;
    let since = args.since.as_deref().map(parse_since).transpose()?.map(|ms| ms.max(0) as u64);
    let addresses = stack.addresses(&args.targets)?;
    let project = stack.project().name.clone();
    let printer = Printer {
        ctx,
        args,
        grep,
        since,
        width: addresses.iter().map(|a| a.len()).max().unwrap_or(0),
        color: ctx.color && std::io::stdout().is_terminal(),
    };
    let mut logs: Vec<(String, PaneLog)> = Vec::new();
    for address in &addresses {
        let path =
            paths::pane_log(&stack.tmux.socket, &project, address).map_err(|e| Error::failed(e.to_string(), None))?;
        logs.push((address.clone(), PaneLog::new(path)));
    }
    // Watch before reading history: a line written in between is announced, not missed.
    let watch = if args.follow {
        let dirs: Vec<std::path::PathBuf> =
            logs.iter().filter_map(|(_, l)| l.path().parent().map(|p| p.to_path_buf())).collect();
        Some(
            Watch::new(dirs.iter().map(|d| d.as_path()))
                .map_err(|e| Error::failed(format!("cannot watch the log directory: {e}"), None))?,
        )
    } else {
        None
    };
    let mut merged: Vec<(u64, usize, Line, Vec<u8>)> = Vec::new();
    let mut carries: Vec<Option<Line>> = vec![None; logs.len()];
    let mut screens: Vec<Screen> = logs.iter().map(|_| Screen::default()).collect();
    for (order, (_, log)) in logs.iter_mut().enumerate() {
        let mut pieces = rejoin(log.history(), &mut carries[order]);
        if let Some(why) = log.refused() {
            eprintln!("ctmux: {why}");
        }
        // History ends here: a last piece whose rest is not logged yet is shown as it is.
        pieces.extend(carries[order].take());
        let screen = &mut screens[order];
        let last = pieces.last().cloned();
        let mut lines: Vec<(u64, usize, Line, Vec<u8>)> = pieces
            .into_iter()
            .filter_map(|l| {
                let text = printer.text(screen, &l.raw)?;
                Some((l.ts, order, l, text))
            })
            .collect();
        // Rows a redraw left above the cursor are on screen now; when following, a later line
        // may still come back to them.
        if let Some(last) = last.filter(|_| !args.follow) {
            for row in screen.finish() {
                if let Some(text) = Printer::unwrapped(row) {
                    lines.push((last.ts, order, last.clone(), text));
                }
            }
        }
        lines.retain(|(_, _, l, text)| printer.wanted(l, text));
        if let Some(n) = args.lines {
            lines = lines.split_off(lines.len().saturating_sub(n));
        }
        merged.extend(lines);
    }
    merged.sort_by_key(|(ts, order, _, _)| (*ts, *order));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (_, order, line, text) in &merged {
        printer.print(&mut out, *order, &logs[*order].0, line, text);
    }
    let _ = out.flush();
    let Some(watch) = watch else { return Ok(Exit::Ok) };
    loop {
        watch.wait(None);
        for (order, (address, log)) in logs.iter_mut().enumerate() {
            for line in rejoin(log.more(), &mut carries[order]) {
                let Some(text) = printer.text(&mut screens[order], &line.raw) else { continue };
                if printer.wanted(&line, &text) {
                    printer.print(&mut out, order, address, &line, &text);
                }
            }
        }
        if out.flush().is_err() {
            // The reader went away (`| head`): done.
            return Ok(Exit::Ok);
        }
    }
}

/// Joins the pieces of lines the daemon logged in 1 MiB pieces (`<ms>+`) back into whole
/// lines, stamped with their first piece's time; a piece whose rest is not read yet waits in
/// `carry` for the next call.
fn rejoin(lines: Vec<Line>, carry: &mut Option<Line>) -> Vec<Line> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let whole = match carry.take() {
            Some(mut head) => {
                head.raw.extend_from_slice(&line.raw);
                head.continued = line.continued;
                head
            }
            None => line,
        };
        if whole.continued {
            *carry = Some(whole);
        } else {
            out.push(whole);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::rejoin;
    use crate::daemon::logfile::parse;

    #[test]
    fn pieces_of_a_long_line_read_as_one_line() {
        let mut carry = None;
        let first = rejoin(vec![parse(b"5\tshort"), parse(b"6+\taaa"), parse(b"7+\tbbb")], &mut carry);
        assert_eq!(first.iter().map(|l| l.raw.as_slice()).collect::<Vec<_>>(), [b"short".as_slice()]);
        let rest = rejoin(vec![parse(b"8\tccc"), parse(b"9\tnext")], &mut carry);
        assert_eq!((rest[0].ts, rest[0].raw.as_slice(), rest[0].continued), (6, b"aaabbbccc".as_slice(), false));
        assert_eq!(rest[1].raw, b"next");
        assert!(carry.is_none());
    }
}
