//! Reads YAML into a [`Node`] tree with byte spans, using granit-parser's event stream.
//!
//! We read events rather than deserializing with serde so that every key and value keeps its
//! location, lowering can report every problem in one run, and shorthands (a string where a map
//! is allowed) need no untagged-enum guessing. Anchors, aliases and `<<` merge keys are resolved
//! here; duplicate keys are reported by lowering, which sees the whole map.

use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Parser, ScalarStyle};

use super::node::{Key, Node, NodeKind, Span};

/// A YAML syntax error at a byte offset.
#[derive(Debug)]
pub struct SyntaxError {
    /// What the parser reported.
    pub message: String,
    /// Byte offset of the problem.
    pub offset: usize,
}

/// Aliases may add at most this many nodes to a document, or [`ALIAS_FACTOR`] times its own
/// node count if that is more: enough for any real use of anchors, while a 400-byte "billion
/// laughs" (each level aliasing the one before nine times) would otherwise need gigabytes.
pub const ALIAS_NODES_MIN: usize = 10_000;
/// See [`ALIAS_NODES_MIN`].
pub const ALIAS_FACTOR: usize = 10;
/// How the error for too many alias nodes starts (loading reports it as `too_large`).
pub const ALIAS_LIMIT: &str = "aliases expand";

/// Parses YAML text; an empty document becomes a `Null` node.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut reader =
        Reader { events: Vec::new(), pos: 0, anchors: HashMap::new(), text_len: text.len(), expanded: 0, budget: 0 };
    for item in Parser::new_from_str(text) {
        match item {
            Ok((event, span)) => {
                if matches!(event, Event::Comment(..)) {
                    continue;
                }
                let start = span.start.byte_offset().unwrap_or(span.start.index());
                let end = span.end.byte_offset().unwrap_or(span.end.index());
                reader.events.push((event.into_owned_event(), start..end.max(start)));
            }
            Err(err) => {
                let marker = err.marker();
                return Err(SyntaxError {
                    message: err.info(),
                    offset: marker.byte_offset().unwrap_or(marker.index()).min(text.len()),
                });
            }
        }
    }
    reader.budget = ALIAS_NODES_MIN.max(reader.events.len().saturating_mul(ALIAS_FACTOR));
    reader.document()
}

/// An owned copy of the events we care about.
#[derive(Debug, Clone)]
enum Ev {
    DocStart,
    DocEnd,
    Alias(usize),
    Scalar(String, bool, usize),
    SeqStart(usize),
    SeqEnd,
    MapStart(usize),
    MapEnd,
    Other,
}

trait IntoOwnedEvent {
    fn into_owned_event(self) -> Ev;
}

impl IntoOwnedEvent for Event<'_> {
    fn into_owned_event(self) -> Ev {
        match self {
            Event::DocumentStart(..) => Ev::DocStart,
            Event::DocumentEnd => Ev::DocEnd,
            Event::Alias(id) => Ev::Alias(id),
            Event::Scalar(text, style, anchor, _) => Ev::Scalar(text.into_owned(), style != ScalarStyle::Plain, anchor),
            Event::SequenceStart(_, anchor, _) => Ev::SeqStart(anchor),
            Event::SequenceEnd => Ev::SeqEnd,
            Event::MappingStart(_, anchor, _) => Ev::MapStart(anchor),
            Event::MappingEnd => Ev::MapEnd,
            _ => Ev::Other,
        }
    }
}

struct Reader {
    events: Vec<(Ev, Span)>,
    pos: usize,
    /// Anchored nodes with their node counts.
    anchors: HashMap<usize, (Node, usize)>,
    text_len: usize,
    /// Nodes added by aliases so far.
    expanded: usize,
    /// How many nodes aliases may add (see [`ALIAS_NODES_MIN`]).
    budget: usize,
}

impl Reader {
    fn document(mut self) -> Result<Node, SyntaxError> {
        let mut root = None;
        while self.pos < self.events.len() {
            let (ev, span) = self.events[self.pos].clone();
            match ev {
                Ev::DocStart => {
                    self.pos += 1;
                    if root.is_some() {
                        return Err(SyntaxError {
                            message: "a manifest holds one YAML document; found a second `---`".into(),
                            offset: span.start,
                        });
                    }
                    if matches!(self.events.get(self.pos), Some((Ev::DocEnd, _))) {
                        root = Some(Node { span: span.clone(), kind: NodeKind::Null });
                    } else {
                        root = Some(self.node()?);
                    }
                }
                _ => self.pos += 1,
            }
        }
        Ok(root.unwrap_or(Node { span: 0..0, kind: NodeKind::Null }))
    }

    fn node(&mut self) -> Result<Node, SyntaxError> {
        let Some((ev, span)) = self.events.get(self.pos).cloned() else {
            return Err(SyntaxError { message: "unexpected end of document".into(), offset: self.text_len });
        };
        self.pos += 1;
        let (node, anchor) = match ev {
            Ev::Scalar(text, quoted, anchor) => {
                let kind = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar { text, quoted }
                };
                (Node { span, kind }, anchor)
            }
            Ev::Alias(id) => {
                let (anchored, size) = self.anchors.get(&id).ok_or_else(|| SyntaxError {
                    message: "alias refers to an unknown anchor".into(),
                    offset: span.start,
                })?;
                // Counted before the copy is made, so a bomb stops before it costs anything.
                self.expanded = self.expanded.saturating_add(*size);
                if self.expanded > self.budget {
                    return Err(SyntaxError {
                        message: format!(
                            "{ALIAS_LIMIT} this document past {} nodes (at most {} or {}× the document's own)",
                            self.budget, ALIAS_NODES_MIN, ALIAS_FACTOR
                        ),
                        offset: span.start,
                    });
                }
                let mut node = anchored.clone();
                node.span = span;
                return Ok(node);
            }
            Ev::SeqStart(anchor) => {
                let mut items = Vec::new();
                let mut end = span.end;
                loop {
                    match self.events.get(self.pos) {
                        Some((Ev::SeqEnd, _)) => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => {
                            let item = self.node()?;
                            end = end.max(item.span.end);
                            items.push(item);
                        }
                        None => return Err(self.eof()),
                    }
                }
                (Node { span: span.start..end, kind: NodeKind::Seq(items) }, anchor)
            }
            Ev::MapStart(anchor) => {
                let mut entries: Vec<(Key, Node)> = Vec::new();
                let mut merged: Vec<(Key, Node)> = Vec::new();
                let mut end = span.end;
                loop {
                    match self.events.get(self.pos) {
                        Some((Ev::MapEnd, _)) => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => {
                            let key_node = self.node()?;
                            let value = self.node()?;
                            end = end.max(value.span.end);
                            let name = match &key_node.kind {
                                NodeKind::Scalar { text, .. } => text.clone(),
                                NodeKind::Null => String::new(),
                                _ => {
                                    return Err(SyntaxError {
                                        message: "map keys must be plain strings".into(),
                                        offset: key_node.span.start,
                                    });
                                }
                            };
                            if name == "<<" && matches!(&key_node.kind, NodeKind::Scalar { quoted: false, .. }) {
                                merge_into(&mut merged, value, &key_node.span)?;
                            } else {
                                entries.push((Key { name, span: key_node.span }, value));
                            }
                        }
                        None => return Err(self.eof()),
                    }
                }
                // Explicit keys win over merged ones, as YAML's merge-key spec says.
                if !merged.is_empty() {
                    let explicit: HashSet<String> = entries.iter().map(|(k, _)| k.name.clone()).collect();
                    entries.extend(merged.into_iter().filter(|(k, _)| !explicit.contains(&k.name)));
                }
                (Node { span: span.start..end, kind: NodeKind::Map(entries) }, anchor)
            }
            Ev::DocEnd | Ev::SeqEnd | Ev::MapEnd | Ev::DocStart | Ev::Other => {
                return Err(SyntaxError { message: "unexpected YAML structure".into(), offset: span.start });
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), count(&node)));
        }
        Ok(node)
    }

    fn eof(&self) -> SyntaxError {
        SyntaxError { message: "unexpected end of document".into(), offset: self.text_len }
    }
}

/// Nodes in `node`'s tree, itself included.
fn count(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        NodeKind::Map(entries) => 1 + entries.iter().map(|(_, v)| 1 + count(v)).sum::<usize>(),
        NodeKind::Null | NodeKind::Scalar { .. } => 1,
    }
}

/// Applies a `<<: *anchor` (or a list of them) to the keys collected so far.
fn merge_into(merged: &mut Vec<(Key, Node)>, value: Node, at: &Span) -> Result<(), SyntaxError> {
    let maps = match value.kind {
        NodeKind::Map(entries) => vec![entries],
        NodeKind::Seq(items) => items
            .into_iter()
            .map(|item| match item.kind {
                NodeKind::Map(entries) => Ok(entries),
                _ => Err(SyntaxError { message: "`<<` merges maps only".into(), offset: item.span.start }),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(SyntaxError { message: "`<<` merges maps only".into(), offset: at.start });
        }
    };
    let mut seen: HashSet<String> = merged.iter().map(|(k, _)| k.name.clone()).collect();
    for entries in maps {
        for (key, node) in entries {
            if seen.insert(key.name.clone()) {
                merged.push((key, node));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_keys(node: &Node) -> Vec<&str> {
        match &node.kind {
            NodeKind::Map(entries) => entries.iter().map(|(k, _)| k.name.as_str()).collect(),
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn keeps_order_and_spans() {
        let text = "b: 1\na: 'x'\n";
        let node = parse(text).unwrap();
        assert_eq!(map_keys(&node), ["b", "a"]);
        let NodeKind::Map(entries) = &node.kind else { unreachable!() };
        assert_eq!(&text[entries[1].0.span.clone()], "a");
        assert_eq!(entries[1].1.kind, NodeKind::Scalar { text: "x".into(), quoted: true });
    }

    #[test]
    fn resolves_aliases_and_merge_keys() {
        let text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n";
        let node = parse(text).unwrap();
        let NodeKind::Map(entries) = &node.kind else { unreachable!() };
        let other = &entries[1].1;
        let NodeKind::Map(inner) = &other.kind else { unreachable!() };
        let y = inner.iter().find(|(k, _)| k.name == "y").unwrap();
        assert_eq!(y.1.as_scalar(), Some("3"));
        assert!(inner.iter().any(|(k, _)| k.name == "x"));
    }

    #[test]
    fn an_alias_bomb_stops_at_the_alias_that_crosses_the_budget() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (n, prev) in ["b", "c", "d", "e", "f", "g", "h"].iter().zip(["a", "b", "c", "d", "e", "f", "g"]) {
            text.push_str(&format!("{n}: &{n} [{}]\n", vec![format!("*{prev}"); 9].join(", ")));
        }
        let started = std::time::Instant::now();
        let err = parse(&text).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "took {:?}", started.elapsed());
        assert!(err.message.contains("aliases expand"), "{}", err.message);
        assert!(text[err.offset..].starts_with('*'), "the diagnostic points at an alias");
        // Modest reuse is fine.
        let ok = "base: &b {x: 1, y: 2}\nl: [*b, *b, *b, *b]\n";
        assert!(parse(ok).is_ok());
    }

    #[test]
    fn syntax_error_has_offset() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.offset > 0);
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").unwrap().kind, NodeKind::Null);
        assert_eq!(parse("# only a comment\n").unwrap().kind, NodeKind::Null);
    }
}
