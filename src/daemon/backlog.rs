//! Resuming a pane's log after the daemon restarts: which of the rows tmux still holds are
//! already in the log, so the new daemon logs (and acts on) only the rest — no gap, no repeat.
//!
//! The daemon writes down, as the pane option `@ctmux-logged` = `ROW:OFFSET:INODE`, that the
//! log file (inode `INODE`, `OFFSET` bytes long) held every line above pane row `ROW` (absolute:
//! history rows plus the cursor row). Lines logged after that mark each took one row, so the new
//! daemon resumes at `ROW + lines after OFFSET`, checked against the last logged line. When tmux
//! dropped history rows since (its history was full), rows shifted: the overlap between the
//! log's last lines and the rows is found by content instead.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A parsed `@ctmux-logged` mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Absolute pane row whose line was not yet complete at the mark.
    pub row: usize,
    /// Log size in bytes at the mark.
    pub offset: u64,
    /// The log file's inode at the mark (rotation makes a new file).
    pub inode: u64,
}

impl Mark {
    /// Parses `ROW:OFFSET:INODE`.
    pub fn parse(text: &str) -> Option<Mark> {
        let mut it = text.trim().split(':').map(|x| x.parse::<u64>().ok());
        Some(Mark { row: it.next()?? as usize, offset: it.next()??, inode: it.next()?? })
    }

    /// The option value.
    pub fn render(&self) -> String {
        format!("{}:{}:{}", self.row, self.offset, self.inode)
    }

    /// A mark for `log` as it is now, at pane row `row`.
    pub fn now(log: &Path, row: usize) -> Mark {
        let meta = std::fs::metadata(log).ok();
        Mark { row, offset: meta.as_ref().map_or(0, |m| m.len()), inode: meta.map_or(0, |m| m.ino()) }
    }
}

/// The text of a log line as comparable with a pane row: timestamp dropped, escapes stripped,
/// whitespace removed (tmux turns tabs into cursor moves and drops trailing blanks).
pub fn visible(log_line: &[u8]) -> String {
    let raw = log_line.splitn(2, |b| *b == b'\t').nth(1).unwrap_or(log_line);
    crate::ansi::strip(&String::from_utf8_lossy(raw)).split_whitespace().collect()
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(visible).collect()
}

/// Lines the log got after `mark` (following a rotation), or `None` when the mark's file is gone.
pub fn after_mark(log: &Path, mark: Mark) -> Option<Vec<String>> {
    let rotated = log.with_extension("log.1");
    let ino = |p: &Path| std::fs::metadata(p).ok().map(|m| m.ino());
    let read_from = |p: &Path, offset: u64| -> Option<Vec<u8>> {
        let mut f = std::fs::File::open(p).ok()?;
        f.seek(SeekFrom::Start(offset)).ok()?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).ok()?;
        Some(buf)
    };
    if ino(log) == Some(mark.inode) {
        return Some(lines_of(&read_from(log, mark.offset)?));
    }
    if mark.inode == 0 {
        // The log did not exist at the mark: all of it came after.
        return Some(lines_of(&read_from(log, 0).unwrap_or_default()));
    }
    if ino(&rotated) == Some(mark.inode) {
        let mut lines = lines_of(&read_from(&rotated, mark.offset)?);
        lines.extend(lines_of(&read_from(log, 0).unwrap_or_default()));
        return Some(lines);
    }
    None
}

/// The last `n` lines of the log (following a rotation).
pub fn tail(log: &Path, n: usize) -> Vec<String> {
    let read_end = |p: &Path| -> Vec<u8> {
        let Ok(mut f) = std::fs::File::open(p) else { return Vec::new() };
        let len = f.metadata().map_or(0, |m| m.len());
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(1 << 20)));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        buf
    };
    let mut lines = lines_of(&read_end(log));
    if lines.len() < n {
        let mut older = lines_of(&read_end(&log.with_extension("log.1")));
        older.extend(lines);
        lines = older;
    }
    lines.split_off(lines.len().saturating_sub(n))
}

/// The first row of `rows` (the pane's rows above its cursor) not yet in the log.
/// `after` is what [`after_mark`] found, `tail` the log's last lines, `full` whether tmux's
/// history is at its limit (so rows may have shifted since the mark).
pub fn resume_row(rows: &[String], mark: Option<Mark>, after: Option<&[String]>, tail: &[String], full: bool) -> usize {
    let Some(mark) = mark else {
        // Never logged by any daemon: every row is new (an old log of the same address belongs
        // to an earlier pane, whose lines may look alike).
        return 0;
    };
    let trimmed = |i: usize| rows.get(i).map(|r| norm(r));
    if let Some(after) = after
        && !full
    {
        let row = (mark.row + after.len()).min(rows.len());
        // Trust the count only when the last logged line is where it says.
        let last_ok = match tail.last() {
            Some(last) if row > 0 => trimmed(row - 1).as_deref() == Some(last.as_str()),
            _ => true,
        };
        if last_ok {
            return row;
        }
    }
    overlap(rows, tail)
}

/// A pane row in the form [`visible`] gives log lines.
fn norm(row: &str) -> String {
    row.split_whitespace().collect()
}

/// The end of the longest run of `rows` equal to the log's last lines (0 when none matches).
pub fn overlap(rows: &[String], tail: &[String]) -> usize {
    let Some(last) = tail.last() else { return 0 };
    for j in (1..=rows.len()).rev() {
        if norm(&rows[j - 1]) != *last {
            continue;
        }
        let n = j.min(tail.len());
        if (1..=n).all(|k| norm(&rows[j - k]) == tail[tail.len() - k]) {
            return j;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn marks_round_trip() {
        let m = Mark { row: 12, offset: 3400, inode: 99 };
        assert_eq!(Mark::parse(&m.render()), Some(m));
        assert_eq!(Mark::parse("12"), None);
        assert_eq!(Mark::parse(""), None);
    }

    #[test]
    fn resumes_by_count_then_by_content() {
        let rows = s(&["1", "2", "3", "4", "5"]);
        let mark = Some(Mark { row: 2, offset: 0, inode: 0 });
        // Lines 1-2 logged before the mark, 3 after it: resume at row 3 (line "4").
        assert_eq!(resume_row(&rows, mark, Some(&s(&["3"])), &s(&["2", "3"]), false), 3);
        // Never marked: log everything.
        assert_eq!(resume_row(&rows, None, None, &s(&["5"]), false), 0);
        // History full: rows shifted, found by content.
        let rows = s(&["7", "8", "9", "10"]);
        assert_eq!(resume_row(&rows, mark, Some(&s(&["3"])), &s(&["7", "8"]), true), 2);
        // Wrong count (history cleared): content decides.
        assert_eq!(resume_row(&rows, mark, Some(&s(&[])), &s(&["8", "9"]), false), 3);
        // The log's last line scrolled away: everything tmux holds is new.
        assert_eq!(resume_row(&rows, mark, None, &s(&["1", "2"]), true), 0);
    }

    #[test]
    fn visible_text_drops_time_and_escapes() {
        assert_eq!(visible(b"1700000000000\t\x1b[31mred\x1b[0m  "), "red");
        assert_eq!(visible(b"1700000000000\ta\tb c"), "abc");
    }
}
