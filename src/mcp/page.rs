//! Results that never break: a document over the byte limit is cut by whole list items (with a
//! `cursor` for the next page) or by whole lines of its longest text, never in the middle of its
//! JSON, so every result stays a valid document with `structuredContent`.

use serde_json::{Value, json};

/// Bytes of a result kept for the fields added around a page (cursor, total, note).
const SLACK: usize = 512;

/// The JSON size of `v`.
fn size(v: &Value) -> usize {
    v.to_string().len()
}

/// A page cursor: the index of the next item, as text (`"40"`).
pub fn parse_cursor(cursor: Option<&str>, tool: &str) -> Result<usize, String> {
    match cursor {
        None => Ok(0),
        Some(c) => c.trim().parse().map_err(|_| format!("`cursor`: `{c}` is not a cursor from a {tool} result")),
    }
}

/// Keeps the items of `doc[key]` from index `from` that fit in `max` bytes (whole items, at
/// least one), and sets `total`, `cursor` (the next index, null at the end) and, when items are
/// left, a `truncated` note naming the tool and the cursor.
pub fn page(doc: &mut Value, key: &str, from: usize, max: usize, tool: &str) {
    let Some(items) = doc.get_mut(key).and_then(Value::as_array_mut).map(std::mem::take) else { return };
    let total = items.len();
    let base = size(doc) + SLACK;
    let budget = max.saturating_sub(base);
    let mut used = 0;
    let mut kept = Vec::new();
    for item in items.into_iter().skip(from) {
        let add = size(&item) + 1;
        if !kept.is_empty() && used + add > budget {
            break;
        }
        used += add;
        kept.push(item);
    }
    let next = from + kept.len();
    doc[key] = Value::Array(kept);
    doc["total"] = json!(total);
    if next < total {
        doc["cursor"] = json!(next.to_string());
        doc["truncated"] = json!(format!(
            "{} of {total} {key} from index {from}; call {tool} again with cursor=\"{next}\" for the rest",
            next - from
        ));
    } else {
        doc["cursor"] = Value::Null;
    }
}

/// The columns of `status {compact: true}` when no `fields` are named.
pub const COMPACT_COLUMNS: &[&str] = &["address", "state", "health", "exit_status"];

/// `status` panes cut down to `fields`, or (compact) a table: `columns` and one row per pane.
pub fn shape_panes(doc: &mut Value, fields: &[String], compact: bool) -> Result<(), String> {
    let Some(panes) = doc.get_mut("panes").and_then(Value::as_array_mut) else { return Ok(()) };
    let columns: Vec<String> = if fields.is_empty() {
        if !compact {
            return Ok(());
        }
        COMPACT_COLUMNS.iter().map(|c| c.to_string()).collect()
    } else {
        fields.to_vec()
    };
    if let Some(known) = panes.first().and_then(Value::as_object)
        && let Some(bad) = columns.iter().find(|c| !known.contains_key(c.as_str()))
    {
        let names: Vec<&str> = known.keys().map(String::as_str).collect();
        return Err(format!("`fields`: a pane has no field `{bad}`; its fields are {}", names.join(", ")));
    }
    if compact {
        let rows: Vec<Value> = panes
            .iter()
            .map(|p| Value::Array(columns.iter().map(|c| p.get(c).cloned().unwrap_or(Value::Null)).collect()))
            .collect();
        if let Some(o) = doc.as_object_mut() {
            o.remove("panes");
            o.insert("columns".into(), json!(columns));
            o.insert("rows".into(), Value::Array(rows));
        }
    } else {
        for p in panes.iter_mut() {
            if let Some(o) = p.as_object_mut() {
                o.retain(|k, _| columns.iter().any(|c| c == k));
            }
        }
    }
    Ok(())
}

/// Where in a document its largest list or text is.
enum Big {
    Array(Vec<String>, usize),
    Text(Vec<String>, usize),
}

/// The largest array or string under `v` (by JSON size), with its path.
fn largest(v: &Value, path: &mut Vec<String>, best: &mut Option<Big>) {
    let Some(o) = v.as_object() else { return };
    for (k, child) in o {
        path.push(k.clone());
        let n = size(child);
        let bigger = |best: &Option<Big>| match best {
            None => true,
            Some(Big::Array(_, m) | Big::Text(_, m)) => n > *m,
        };
        match child {
            Value::Array(a) if a.len() > 1 && bigger(best) => *best = Some(Big::Array(path.clone(), n)),
            Value::String(s) if s.len() > 64 && bigger(best) => *best = Some(Big::Text(path.clone(), n)),
            Value::Object(_) => largest(child, path, best),
            _ => {}
        }
        path.pop();
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(k))
}

/// Any document bounded to `max` bytes by cutting its largest lists (whole items, from the end)
/// and texts (whole lines, keeping the start), with a `truncated` note naming what was cut.
pub fn fit(mut doc: Value, max: usize) -> Value {
    let mut notes = Vec::new();
    for _ in 0..16 {
        let over = size(&doc) + SLACK * usize::from(!notes.is_empty());
        if over <= max {
            break;
        }
        let excess = over - max + 64;
        let mut best = None;
        largest(&doc, &mut Vec::new(), &mut best);
        match best {
            Some(Big::Array(path, _)) => {
                let Some(Value::Array(items)) = at(&mut doc, &path) else { break };
                let before = items.len();
                let mut freed = 0;
                while items.len() > 1 && freed < excess {
                    freed += items.pop().map_or(0, |i| size(&i) + 1);
                }
                notes.push(format!("`{}` keeps {} of {before} items", path.join("."), items.len()));
            }
            Some(Big::Text(path, _)) => {
                let Some(Value::String(s)) = at(&mut doc, &path) else { break };
                let keep = json_len(s).saturating_sub(excess);
                let (kept, _) = head(s, 0, keep);
                notes.push(format!("`{}` keeps its first {} of {} bytes", path.join("."), kept.len(), s.len()));
                *s = kept;
            }
            None => break,
        }
    }
    if !notes.is_empty() {
        let note = format!("cut to the {max}-byte limit: {}; narrow the call to see the rest", notes.join(", "));
        doc["truncated"] = json!(note);
        if size(&doc) > max {
            // Nothing left to cut by items or lines: say so in a document that fits.
            return json!({ "schema_version": 1, "truncated": note, "output_bytes": size(&doc) });
        }
    }
    doc
}

/// How many bytes `c` takes inside a JSON string (serde_json's escapes).
fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// How many bytes `s` takes inside a JSON string.
pub fn json_len(s: &str) -> usize {
    s.chars().map(json_char_len).sum()
}

/// The part of `text` from byte `from` that fits in `budget` bytes of JSON, cut after its last
/// whole line (a single line longer than the budget is cut at a character), and the byte offset
/// where the rest starts (`None` when nothing is left).
pub fn head(text: &str, from: usize, budget: usize) -> (String, Option<usize>) {
    let mut from = from.min(text.len());
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let rest = &text[from..];
    let mut used = 0;
    let mut end = rest.len();
    let mut last_newline = None;
    for (i, c) in rest.char_indices() {
        used += json_char_len(c);
        if used > budget.max(1) {
            end = i;
            break;
        }
        if c == '\n' {
            last_newline = Some(i + 1);
        }
    }
    if end == rest.len() {
        return (rest.to_string(), None);
    }
    let cut = last_newline.unwrap_or(end).max(rest.chars().next().map_or(0, char::len_utf8));
    (rest[..cut].to_string(), Some(from + cut))
}

/// The end of `text` that fits in `budget` bytes of JSON, starting at a whole line when one
/// fits, and how many bytes before it were left out.
pub fn tail_lines(text: &str, budget: usize) -> (String, usize) {
    if json_len(text) <= budget {
        return (text.to_string(), 0);
    }
    let mut used = 0;
    let mut cut = text.len();
    for (i, c) in text.char_indices().rev() {
        used += json_char_len(c);
        if used > budget {
            break;
        }
        cut = i;
    }
    // Start at the next whole line, if there is one in what fits.
    if let Some(nl) = text[cut..].find('\n')
        && cut + nl + 1 < text.len()
        && cut > 0
        && !text[..cut].ends_with('\n')
    {
        cut += nl + 1;
    }
    (text[cut..].to_string(), cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(n: usize) -> Value {
        let panes: Vec<Value> = (0..n)
            .map(|i| {
                json!({"address": format!("s{i}/p"), "tmux_id": format!("%{i}"), "state": "running",
                       "health": "none", "exit_status": null, "cwd": "/tmp/a\nb", "command": "sleep 1000"})
            })
            .collect();
        json!({"schema_version": 1, "panes": panes})
    }

    #[test]
    fn a_hundred_panes_page_by_whole_panes_and_reassemble() {
        let full = status_of(100);
        let mut seen = Vec::new();
        let mut cursor = None::<String>;
        let mut pages = 0;
        loop {
            let from = parse_cursor(cursor.as_deref(), "status").expect("cursor");
            let mut doc = full.clone();
            page(&mut doc, "panes", from, 4096, "status");
            let text = doc.to_string();
            assert!(text.len() <= 4096, "{}", text.len());
            let back: Value = serde_json::from_str(&text).expect("valid JSON");
            seen.extend(back["panes"].as_array().expect("panes").iter().cloned());
            assert_eq!(back["total"], 100);
            pages += 1;
            match back["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert!(pages > 2);
        assert_eq!(Value::Array(seen), full["panes"]);
        assert!(parse_cursor(Some("x"), "status").is_err());
    }

    #[test]
    fn compact_status_is_a_small_table() {
        let mut doc = status_of(100);
        shape_panes(&mut doc, &[], true).expect("compact");
        assert_eq!(doc["columns"], json!(COMPACT_COLUMNS));
        assert_eq!(doc["rows"][12], json!(["s12/p", "running", "none", null]));
        assert!(doc.to_string().len() <= 4096, "{}", doc.to_string().len());
        let mut doc = status_of(2);
        shape_panes(&mut doc, &["address".into(), "state".into()], false).expect("fields");
        assert_eq!(doc["panes"][1], json!({"address": "s1/p", "state": "running"}));
        assert!(shape_panes(&mut status_of(2), &["bogus".into()], false).unwrap_err().contains("bogus"));
    }

    #[test]
    fn any_document_is_cut_by_items_or_lines_never_mid_json() {
        let doc = status_of(300);
        assert!(doc.to_string().len() > 32 * 1024);
        let cut = fit(doc, 16 * 1024);
        let text = cut.to_string();
        assert!(text.len() <= 16 * 1024);
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        assert!(back["truncated"].as_str().expect("note").contains("`panes` keeps"));
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        let cut = fit(json!({"schema_version": 1, "output": text}), 2048);
        let out = cut["output"].as_str().expect("output");
        assert!(cut.to_string().len() <= 2048 && out.starts_with("line 0\n") && out.ends_with('\n'));
        let small = json!({"a": 1});
        assert_eq!(fit(small.clone(), 100), small);
    }

    #[test]
    fn head_keeps_whole_lines_from_the_start_and_says_where_the_rest_is() {
        let text: String = (0..1000).map(|i| format!("row {i}\n")).collect();
        let (first, next) = head(&text, 0, 100);
        assert!(first.starts_with("row 0\n") && first.ends_with('\n') && json_len(&first) <= 100);
        let next = next.expect("more");
        let (second, _) = head(&text, next, 100);
        let n = first.lines().count();
        assert!(second.starts_with(&format!("row {n}\n")), "{second}");
        let mut all = String::new();
        let mut at = Some(0);
        while let Some(from) = at {
            let (part, more) = head(&text, from, 300);
            all.push_str(&part);
            at = more;
        }
        assert_eq!(all, text);
        // One line over the budget still moves forward.
        let (part, more) = head(&"x".repeat(500), 0, 100);
        assert_eq!((part.len(), more), (100, Some(100)));
        let (end, skipped) = tail_lines(&text, 50);
        assert!(end.starts_with("row ") && end.ends_with("row 999\n") && skipped > 0, "{end}");
    }
}
