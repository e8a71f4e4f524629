//! `pane exec`'s traces in a pane's output, found and removed: the OSC 133 shell-integration
//! marks a hooked shell emits (where a command's output starts and ends, and its status), and
//! the typed wrapper exec falls back to in shells without the hook.
//!
//! Pure functions over text and bytes, shared by exec (reading a command's output), every
//! reading of a pane (capture, tail, stream, find, has, wait, MCP, logs) and the daemon's rule
//! path, so ctmux's own text is recognised by one definition: a line that is only a wrapper
//! marker ([`strip_exec_wrapper`] returns `None`) is dropped, a typed wrapper line reads as the
//! command the user asked for.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// One OSC 133 mark: `A` prompt start, `B` input start, `C` output start, `D` finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// `A`, `B`, `C` or `D`.
    pub kind: char,
    /// `D`'s exit status; `None` for a bare `D` (which says nothing about the status).
    pub status: Option<i32>,
    /// The `aid=` that tells nested shells apart (ctmux's hook puts the shell's pid there).
    pub aid: Option<String>,
    /// Where the sequence starts in the searched bytes.
    pub start: usize,
    /// Just past its terminator (BEL or ST).
    pub end: usize,
}

/// The complete OSC 133 marks in `bytes`, in order. An unfinished sequence at the end is not
/// returned (more bytes will complete it).
pub fn marks(bytes: &[u8]) -> Vec<Mark> {
    const INTRO: &[u8] = b"\x1b]133;";
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = find(&bytes[at..], INTRO) {
        let start = at + i;
        let body_from = start + INTRO.len();
        let Some((body_len, term_len)) = terminator(&bytes[body_from..]) else { break };
        let body = String::from_utf8_lossy(&bytes[body_from..body_from + body_len]);
        let end = body_from + body_len + term_len;
        at = end;
        let mut fields = body.split(';');
        let Some(kind) = fields.next().and_then(|k| k.chars().next()).filter(|k| matches!(k, 'A' | 'B' | 'C' | 'D'))
        else {
            continue;
        };
        let mut mark = Mark { kind, status: None, aid: None, start, end };
        for (n, f) in fields.enumerate() {
            if let Some(aid) = f.strip_prefix("aid=") {
                mark.aid = Some(aid.to_string());
            } else if kind == 'D' && n == 0 {
                mark.status = f.parse().ok();
            }
        }
        out.push(mark);
    }
    out
}

/// Length of the OSC body and of its terminator (BEL, or ST = ESC `\`).
fn terminator(bytes: &[u8]) -> Option<(usize, usize)> {
    for (i, b) in bytes.iter().enumerate() {
        match b {
            0x07 => return Some((i, 1)),
            0x1b if bytes.get(i + 1) == Some(&b'\\') => return Some((i, 2)),
            0x1b if i + 1 == bytes.len() => return None,
            _ => {}
        }
    }
    None
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The typed wrapper line: ` printf '\103TMUX-BEGIN-ID\n'; eval SRC; printf '\103TMUX-END-ID %s\n' "$?"`.
static TYPED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#" ?printf '\\103TMUX-BEGIN-[0-9]+-[0-9]+\\n'; eval (.*?); printf '\\103TMUX-END-[0-9]+-[0-9]+ %s\\n' "\$\?""#,
    )
    .expect("valid regex")
});

/// What the wrapper prints around the command's output.
static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"CTMUX-(?:BEGIN-[0-9]+-[0-9]+$|END-[0-9]+-[0-9]+ [0-9]+$)").expect("valid regex"));

/// `line` without `pane exec`'s wrapper: `None` when the line is only a marker the wrapper
/// printed (drop it), the line with the typed wrapper replaced by the command it ran when the
/// shell echoed it, and the line itself (borrowed, no cost) otherwise. A marker that ends a
/// line of command output without a newline (`outputCTMUX-END-…`) is cut off.
pub fn strip_exec_wrapper(line: &str) -> Option<Cow<'_, str>> {
    if !line.contains("TMUX-") {
        return Some(Cow::Borrowed(line));
    }
    let mut out = Cow::Borrowed(line);
    if let Some(m) = MARKER.find(&out) {
        let kept = out[..m.start()].to_string();
        if kept.trim().is_empty() {
            return None;
        }
        out = Cow::Owned(kept);
    }
    if TYPED.is_match(&out) {
        let replaced = TYPED.replace(&out, |c: &regex::Captures<'_>| unquote(&c[1]).unwrap_or_default());
        out = Cow::Owned(replaced.trim_end().to_string());
    }
    Some(out)
}

/// Whether `line` carries any of the wrapper's text (a rule must not act on it).
pub fn is_exec_wrapper(line: &str) -> bool {
    !matches!(strip_exec_wrapper(line), Some(Cow::Borrowed(_)))
}

/// Every line of `text` through [`strip_exec_wrapper`], dropped lines gone.
pub fn strip_lines(text: &str) -> String {
    if !text.contains("TMUX-") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive('\n') {
        let (line, nl) = match piece.strip_suffix('\n') {
            Some(l) => (l, true),
            None => (piece, false),
        };
        if let Some(kept) = strip_exec_wrapper(line) {
            out.push_str(&kept);
            if nl {
                out.push('\n');
            }
        }
    }
    out
}

/// `rows` of a screen read without joining wrapped lines, with the rows a typed wrapper was
/// wrapped over joined back into one, so [`strip_exec_wrapper`] sees it whole.
pub fn join_wrapped_wrapper(rows: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(rows.len());
    let mut open = false;
    for row in rows {
        match out.last_mut() {
            Some(last) if open => last.push_str(&row),
            _ => out.push(row),
        }
        let last = out.last().map(String::as_str).unwrap_or_default();
        open = last.contains("printf '\\103TMUX-BEGIN-") && !last.ends_with(" %s\\n' \"$?\"") && last.len() < 64 * 1024;
    }
    out
}

/// The text of one shell word written by `sh_quote` (`'…'` pieces joined by `\'`); `None`
/// for anything else (the buffer form `"$(tmux show-buffer …)"`).
fn unquote(word: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = word;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'')?;
            out.push_str(&r[..end]);
            rest = &r[end + 1..];
        } else {
            let end = rest.find(['\'', '\\']).unwrap_or(rest.len());
            if end == 0 || rest[..end].contains(['"', '$', '`', ' ']) {
                return None;
            }
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmux::command::sh_quote;

    #[test]
    fn marks_are_found_with_status_and_aid_and_a_bare_d_has_no_status() {
        let s = b"\x1b]133;A;aid=7\x1b\\$ \x1b]133;B\x07ls\r\n\x1b]133;C;aid=7\x1b\\out\r\n\x1b]133;D;127;aid=7\x1b\\\x1b]133;D\x07\x1b]133;C";
        let m = marks(s);
        let kinds: Vec<char> = m.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ['A', 'B', 'C', 'D', 'D'], "the unfinished last one waits");
        assert_eq!((m[3].status, m[3].aid.as_deref()), (Some(127), Some("7")));
        assert_eq!(m[4].status, None);
        assert_eq!(&s[m[2].end..m[3].start], b"out\r\n");
        assert!(marks(b"\x1b]133;C;aid=7\x1b").is_empty(), "ESC without its backslash yet");
    }

    #[test]
    fn wrapper_lines_go_and_the_typed_line_shows_the_command() {
        for cmd in ["echo hi", "printf '%s\\n' 'it''s'", "a=$(date); echo \"$a\""] {
            let typed = format!(
                "$  printf '\\103TMUX-BEGIN-12-345\\n'; eval {}; printf '\\103TMUX-END-12-345 %s\\n' \"$?\"",
                sh_quote(cmd)
            );
            assert_eq!(strip_exec_wrapper(&typed).as_deref(), Some(format!("$ {cmd}").as_str()), "{cmd}");
            assert!(is_exec_wrapper(&typed));
        }
        assert_eq!(strip_exec_wrapper("CTMUX-BEGIN-12-345"), None);
        assert_eq!(strip_exec_wrapper("CTMUX-END-12-345 0"), None);
        assert_eq!(strip_exec_wrapper("no newlineCTMUX-END-12-345 3").as_deref(), Some("no newline"));
        assert_eq!(strip_exec_wrapper("a TMUX-BEGIN of a user").as_deref(), Some("a TMUX-BEGIN of a user"));
        assert!(!is_exec_wrapper("plain line"));
        let buffered = "$  printf '\\103TMUX-BEGIN-1-2\\n'; eval \"$('tmux' show-buffer -b B && 'tmux' delete-buffer -b B)\"; printf '\\103TMUX-END-1-2 %s\\n' \"$?\"";
        assert_eq!(strip_exec_wrapper(buffered).as_deref(), Some("$"));
        let text = "$  printf '\\103TMUX-BEGIN-1-2\\n'; eval 'ls'; printf '\\103TMUX-END-1-2 %s\\n' \"$?\"\nCTMUX-BEGIN-1-2\na\nCTMUX-END-1-2 0\n$ ";
        assert_eq!(strip_lines(text), "$ ls\na\n$ ");
        let rows: Vec<String> = [
            "$  printf '\\103TMUX-BEGIN-1-2\\n'; eval 'echo pl",
            "ain'; printf '\\103TMUX-END-1-2 %s\\n' \"$?\"",
            "plain",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let joined = join_wrapped_wrapper(rows);
        assert_eq!(joined.len(), 2);
        assert_eq!(strip_exec_wrapper(&joined[0]).as_deref(), Some("$ echo plain"));
    }
}
