//! Bounded results: output handed to an agent is cut at a byte limit, with a note that says how
//! many bytes were left and which cursor continues; cursors let a later call get only new output.

use serde_json::{Value, json};

/// Bytes of a result kept for the fields around the output (cursor, note, schema_version).
const SLACK: usize = 512;

/// A 64-bit FNV-1a hash of a line, as 16 hex digits: stable across runs and versions, so a
/// cursor stays valid when the MCP server restarts.
fn line_hash(line: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in line.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// How many bytes `c` takes inside a JSON string (serde_json's escapes).
fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// How many bytes `s` takes inside a JSON string: limits are on what the agent receives.
fn json_len(s: &str) -> usize {
    s.chars().map(json_char_len).sum()
}

/// The cursor after the first `end` lines: their count and the hash of the last one.
fn capture_cursor(lines: &[&str], end: usize) -> String {
    match end.checked_sub(1).and_then(|i| lines.get(i)) {
        Some(last) => format!("{end}:{}", line_hash(last)),
        None => "0:".into(),
    }
}

/// Where output after `cursor` starts in `lines`, and whether the cursor's line was lost.
/// When the scrollback is full tmux drops its oldest lines, so the line the cursor names may
/// have moved up: it is looked for at its index, then above it.
fn resolve_capture_cursor(lines: &[&str], cursor: &str) -> Result<(usize, bool), String> {
    let bad = || format!("`since`: `{cursor}` is not a cursor from pane_capture");
    let (index, hash) = cursor.split_once(':').ok_or_else(bad)?;
    let index: usize = index.parse().map_err(|_| bad())?;
    if index == 0 {
        return Ok((0, false));
    }
    let from = (index - 1).min(lines.len().saturating_sub(1));
    for j in (0..=from).rev() {
        if lines.get(j).is_some_and(|l| line_hash(l) == hash) {
            return Ok((j + 1, false));
        }
    }
    Ok((0, true))
}

/// The part of a pane's captured text (`--all`) an agent asked for: the last `last` lines, or
/// the lines after `since`; at most `max` bytes. The returned cursor stops before the last
/// line, which may still be growing (a prompt, a progress bar), so it is sent again next time.
pub fn capture(text: &str, last: usize, since: Option<&str>, max: usize) -> Result<Value, String> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let (start, lost) = match since {
        Some(c) => resolve_capture_cursor(&lines, c)?,
        None => (lines.len().saturating_sub(last), false),
    };
    let budget = max.saturating_sub(SLACK).max(1);
    let mut used = 0;
    let mut end = start;
    while end < lines.len() {
        let add = json_len(lines[end]) + 2;
        if end > start && used + add > budget {
            break;
        }
        used += add;
        end += 1;
    }
    let mut out = lines[start..end].join("\n");
    let mut doc = json!({});
    if end < lines.len() {
        let rest: usize = lines[end..].iter().map(|l| json_len(l) + 2).sum();
        let cursor = capture_cursor(&lines, end);
        doc["truncated"] = json!(format!("truncated, {rest} more bytes, call again with since={cursor}"));
        doc["cursor"] = json!(cursor);
    } else {
        doc["cursor"] = json!(capture_cursor(&lines, end.saturating_sub(1).max(start)));
    }
    if json_len(&out) > budget {
        // One line longer than the budget: keep its start.
        let mut used = 0;
        let cut = out.char_indices().find(|&(_, c)| {
            used += json_char_len(c);
            used > budget
        });
        if let Some((cut, _)) = cut {
            let rest = json_len(&out[cut..]);
            out.truncate(cut);
            doc["truncated"] = json!(format!("truncated, {rest} more bytes of a long line"));
        }
    }
    if lost {
        doc["cursor_lost"] = json!(true);
    }
    doc["output"] = json!(out);
    Ok(doc)
}

/// A logs cursor: the time (Unix ms) of the last line returned, and how many lines of that
/// millisecond were returned (lines of one millisecond are told apart by their order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsCursor {
    /// Unix ms.
    pub ts: i64,
    /// Lines at `ts` already returned.
    pub seen: usize,
}

impl LogsCursor {
    /// Parses `TS:SEEN`; anything else is a duration or a time for `--since`.
    pub fn parse(text: &str) -> Option<LogsCursor> {
        let (ts, seen) = text.split_once(':')?;
        Some(LogsCursor { ts: ts.parse().ok()?, seen: seen.parse().ok()? })
    }
}

/// At most `max` bytes of log lines (`{"ts","address","line"}` objects, in time order), those
/// of `cursor`'s millisecond already returned skipped; with the cursor to continue from.
pub fn logs(mut lines: Vec<Value>, cursor: Option<LogsCursor>, max: usize) -> Value {
    let ts_of = |v: &Value| v.get("ts").and_then(Value::as_i64).unwrap_or(0);
    if let Some(c) = cursor {
        lines.retain(|l| ts_of(l) >= c.ts);
        let skip = lines.iter().take(c.seen).take_while(|l| ts_of(l) == c.ts).count();
        lines.drain(..skip);
    }
    let (kept, rest_bytes) = fit(&lines, max);
    let mut doc = json!({ "lines": &lines[..kept] });
    let next = match lines[..kept].last() {
        Some(last) => {
            let ts = ts_of(last);
            let mut seen = lines[..kept].iter().filter(|l| ts_of(l) == ts).count();
            if let Some(c) = cursor.filter(|c| c.ts == ts) {
                seen += c.seen;
            }
            Some(format!("{ts}:{seen}"))
        }
        None => cursor.map(|c| format!("{}:{}", c.ts, c.seen)),
    };
    doc["cursor"] = json!(next);
    if kept < lines.len() {
        doc["truncated"] = json!(format!(
            "truncated, {} more lines ({rest_bytes} more bytes), call again with since={}",
            lines.len() - kept,
            next.as_deref().unwrap_or("")
        ));
    }
    doc
}

/// Events after `since_id` (at most `limit`, at most `max` bytes), with the cursor to continue.
pub fn events(mut events: Vec<Value>, since_id: Option<i64>, limit: usize, max: usize) -> Value {
    let id_of = |v: &Value| v.get("id").and_then(Value::as_i64).unwrap_or(0);
    if let Some(since) = since_id {
        events.retain(|e| id_of(e) > since);
    }
    let total = events.len();
    let (kept, rest_bytes) = fit(&events[..limit.min(total)], max);
    let cursor = events[..kept].last().map(id_of).or(since_id).unwrap_or(0);
    let mut doc = json!({ "events": &events[..kept], "cursor": cursor });
    if kept < total {
        let note = if rest_bytes > 0 {
            format!("truncated, {} more events, call again with since_id={cursor}", total - kept)
        } else {
            format!("{} more events, call again with since_id={cursor}", total - kept)
        };
        doc["truncated"] = json!(note);
    }
    doc
}

/// How many leading items fit in `max` bytes of JSON (at least one when the first alone is
/// small enough to be useful), and how many bytes the rest would take.
fn fit(items: &[Value], max: usize) -> (usize, usize) {
    let budget = max.saturating_sub(SLACK).max(1);
    let sizes: Vec<usize> = items.iter().map(|v| v.to_string().len() + 1).collect();
    let mut used = 0;
    let mut kept = 0;
    for size in &sizes {
        if used + size > budget {
            break;
        }
        used += size;
        kept += 1;
    }
    (kept, sizes[kept..].iter().sum())
}

/// `text` without ANSI escapes, line by line (so newlines stay).
pub fn strip_ansi(text: &str) -> String {
    text.split('\n').map(crate::ansi::strip).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_cursor_returns_only_new_lines_and_repeats_the_unfinished_last_one() {
        let first = capture("a\nb\n$ ", 200, None, 4096).expect("capture");
        assert_eq!(first["output"], "a\nb\n$ ");
        let cursor = first["cursor"].as_str().expect("cursor").to_string();
        let next = capture("a\nb\n$ make\nbuilt\n$ ", 200, Some(&cursor), 4096).expect("capture");
        assert_eq!(next["output"], "$ make\nbuilt\n$ ");
        assert!(next.get("cursor_lost").is_none());
    }

    #[test]
    fn capture_cursor_survives_the_scrollback_dropping_old_lines() {
        let first = capture("1\n2\n3\n4\n", 200, None, 4096).expect("capture");
        let cursor = first["cursor"].as_str().expect("cursor").to_string();
        // tmux dropped lines 1 and 2; 5 and 6 are new.
        let next = capture("3\n4\n5\n6\n", 200, Some(&cursor), 4096).expect("capture");
        assert_eq!(next["output"], "4\n5\n6");
        // A cursor whose line is gone altogether: everything, flagged.
        let gone = capture("x\ny\n", 200, Some(&cursor), 4096).expect("capture");
        assert_eq!(gone["output"], "x\ny");
        assert_eq!(gone["cursor_lost"], true);
        assert!(capture("x", 1, Some("nonsense"), 4096).is_err());
    }

    #[test]
    fn capture_over_the_limit_says_how_much_is_left_and_continues_there() {
        let text: String = (0..1000).map(|i| format!("line {i:04}\n")).collect();
        let first = capture(&text, 1000, None, 2048).expect("capture");
        let out = first["output"].as_str().expect("output");
        assert!(first.to_string().len() <= 2048 && out.starts_with("line 0000"), "{out}");
        let note = first["truncated"].as_str().expect("truncated note");
        let cursor = first["cursor"].as_str().expect("cursor");
        assert!(note.contains("more bytes") && note.contains(&format!("since={cursor}")), "{note}");
        let next = capture(&text, 1000, Some(cursor), 2048).expect("capture");
        let last_line = out.lines().last().expect("a line");
        let n: usize = last_line[5..].parse().expect("number");
        assert!(next["output"].as_str().expect("output").starts_with(&format!("line {:04}", n + 1)));
    }

    #[test]
    fn logs_cursor_tells_lines_of_one_millisecond_apart() {
        let lines: Vec<Value> =
            (0..6).map(|i| json!({"ts": 100 + i / 3, "address": "a/b", "line": format!("l{i}")})).collect();
        // Room for about four lines.
        let one = json!({"ts": 100, "address": "a/b", "line": "l0"}).to_string().len() + 1;
        let first = logs(lines.clone(), None, SLACK + one * 4);
        assert_eq!(first["lines"].as_array().expect("lines").len(), 4);
        let cursor = LogsCursor::parse(first["cursor"].as_str().expect("cursor")).expect("cursor");
        assert_eq!(cursor, LogsCursor { ts: 101, seen: 1 });
        assert!(first["truncated"].as_str().expect("note").contains("since=101:1"));
        // The CLI's `--since 101` gives every line of ms 101 again; the cursor skips the one seen.
        let again: Vec<Value> = lines.into_iter().filter(|l| l["ts"].as_i64() >= Some(101)).collect();
        let next = logs(again, Some(cursor), 4096);
        let texts: Vec<&str> =
            next["lines"].as_array().expect("lines").iter().filter_map(|l| l["line"].as_str()).collect();
        assert_eq!(texts, ["l4", "l5"]);
        assert_eq!(next["cursor"], "101:3");
    }

    #[test]
    fn events_after_an_id_are_bounded_by_count_and_bytes() {
        let evs: Vec<Value> = (1..=10).map(|id| json!({"id": id, "kind": "pane.started"})).collect();
        let doc = events(evs.clone(), Some(4), 3, 4096);
        let ids: Vec<i64> = doc["events"].as_array().expect("events").iter().filter_map(|e| e["id"].as_i64()).collect();
        assert_eq!(ids, [5, 6, 7]);
        assert_eq!(doc["cursor"], 7);
        assert!(doc["truncated"].as_str().expect("note").contains("since_id=7"));
        let none = events(evs, Some(10), 100, 4096);
        assert_eq!(none["events"].as_array().map(Vec::len), Some(0));
        assert_eq!(none["cursor"], 10);
        assert!(none.get("truncated").is_none());
    }
}
