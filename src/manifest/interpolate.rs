//! Docker-compose-style variable interpolation for manifest string values.
//!
//! Manifests are shared between machines and users, so values such as paths,
//! URLs and credentials are parameterised with `$NAME` / `${NAME}` references
//! that follow the compose specification: `$$` is a literal `$`, and the
//! braced form accepts the `:-`, `-`, `:?`, `?`, `:+` and `+` modifiers, whose
//! operands may themselves contain (nested) interpolation such as
//! `${A:-${B:-x}}`. A `$` followed by anything that cannot start a name, a
//! brace or another `$` is kept literally, as compose does.
//!
//! Parsing happens first and collects every syntax error in the string; the
//! resulting tree is then evaluated against a caller-supplied lookup, which
//! collects every "required variable" error as well. Operands are evaluated
//! lazily (as in compose): `${A:-${B:?}}` only consults `B` when `A` is unset
//! or empty, so only variables that were actually looked up appear in
//! [`Interpolated::refs`]. All reported offsets are byte offsets into the
//! original input, so callers can underline the offending text.

use thiserror::Error;

/// The expanded string plus the variables consulted, so callers can warn about unset ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The fully expanded value to use in place of the raw manifest string.
    pub value: String,
    /// Every variable lookup performed, in evaluation order, for diagnostics.
    pub refs: Vec<VarRef>,
}

/// One variable lookup, kept so callers can point at it when warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// Variable name as written, so warnings can name it.
    pub name: String,
    /// Byte offset of the whole `$NAME` / `${...}` expression in the input, for underlining.
    pub offset: usize,
    /// Byte length of the whole expression, so the underline covers all of it.
    pub len: usize,
    /// Whether the lookup found a value (even an empty one), so unset variables can be warned about.
    pub was_set: bool,
    /// Whether the expression carries a modifier (`:-`, `-`, `:?`, `?`, `:+`, `+`), i.e. the
    /// author already handled the unset case, so an "unset variable" warning would be noise.
    pub has_modifier: bool,
}

/// Distinguishes problems the user fixes in the environment from ones fixed in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterpErrorKind {
    /// A `:?` / `?` guard fired: the environment lacks a variable the manifest demands.
    Required,
    /// The manifest text itself is malformed (unterminated `${`, bad or empty name, bad modifier).
    Syntax,
}

/// A user-facing interpolation failure with a byte span so the manifest text can be underlined.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct InterpError {
    /// Byte offset in the input of the text the user should look at.
    pub offset: usize,
    /// Byte length of that text, so diagnostics can underline it.
    pub len: usize,
    /// Human-readable explanation, ready to show as-is.
    pub message: String,
    /// Whether the fix belongs in the environment or in the manifest.
    pub kind: InterpErrorKind,
}

/// Expands compose-style variable references so manifests can be parameterised by the environment.
///
/// Returns every error found in the string (sorted by offset) rather than
/// stopping at the first, so a user can fix them all in one go.
///
/// # Errors
/// Syntax errors (unterminated `${`, empty or invalid names, unknown
/// modifiers) and fired `:?` / `?` guards, each with its byte span.
pub fn interpolate(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Interpolated, Vec<InterpError>> {
    let mut parser = Parser { src: input, pos: 0, errors: Vec::new(), eof_reported: false };
    let nodes = parser.parse_word(false);
    debug_assert_eq!(parser.pos, input.len());
    let mut errors = parser.errors;

    let mut eval = Evaluator { src: input, lookup, refs: Vec::new(), errors: Vec::new() };
    let mut value = String::with_capacity(input.len());
    eval.eval(&nodes, &mut value);
    errors.append(&mut eval.errors);

    if errors.is_empty() {
        Ok(Interpolated { value, refs: eval.refs })
    } else {
        errors.sort_by_key(|e| (e.offset, e.len));
        Err(errors)
    }
}

/// Makes arbitrary text safe to embed in a manifest value, so `interpolate(&escape(s))` yields `s`.
#[must_use]
pub fn escape(literal: &str) -> String {
    literal.replace('$', "$$")
}

/// The modifiers allowed inside `${NAME<op>word}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `:-` — use word if unset or empty.
    DefaultIfEmpty,
    /// `-` — use word if unset.
    DefaultIfUnset,
    /// `:?` — error if unset or empty.
    RequireNonEmpty,
    /// `?` — error if unset.
    RequireSet,
    /// `:+` — word if set and non-empty, else empty.
    AltIfNonEmpty,
    /// `+` — word if set, else empty.
    AltIfSet,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Var(VarExpr),
}

#[derive(Debug)]
struct VarExpr {
    name: String,
    offset: usize,
    len: usize,
    op: Option<(Op, Vec<Node>)>,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    errors: Vec<InterpError>,
    /// Set once an unterminated `${` has been reported, so enclosing
    /// expressions that also run out of input do not repeat the error.
    eof_reported: bool,
}

impl Parser<'_> {
    fn syntax_error(&mut self, offset: usize, len: usize, message: String) {
        self.errors.push(InterpError { offset, len, message, kind: InterpErrorKind::Syntax });
    }

    fn unterminated(&mut self, start: usize) {
        if !self.eof_reported {
            self.eof_reported = true;
            self.syntax_error(start, 2, r#"unterminated "${" (missing "}")"#.to_string());
        }
    }

    /// Parses text up to the end of input or, when `in_braces`, up to an
    /// unmatched `}` (which is left unconsumed for the caller).
    fn parse_word(&mut self, in_braces: bool) -> Vec<Node> {
        let bytes = self.src.as_bytes();
        let mut nodes = Vec::new();
        let mut text = String::new();
        let mut lit_start = self.pos;
        while self.pos < bytes.len() {
            match bytes[self.pos] {
                b'}' if in_braces => break,
                b'$' => {
                    text.push_str(&self.src[lit_start..self.pos]);
                    match bytes.get(self.pos + 1).copied() {
                        Some(b'$') => {
                            text.push('$');
                            self.pos += 2;
                        }
                        Some(b'{') => {
                            if !text.is_empty() {
                                nodes.push(Node::Text(std::mem::take(&mut text)));
                            }
                            if let Some(var) = self.parse_braced() {
                                nodes.push(Node::Var(var));
                            }
                        }
                        Some(c) if is_name_start(c) => {
                            if !text.is_empty() {
                                nodes.push(Node::Text(std::mem::take(&mut text)));
                            }
                            let start = self.pos;
                            self.pos += 1;
                            while self.pos < bytes.len() && is_name_char(bytes[self.pos]) {
                                self.pos += 1;
                            }
                            nodes.push(Node::Var(VarExpr {
                                name: self.src[start + 1..self.pos].to_string(),
                                offset: start,
                                len: self.pos - start,
                                op: None,
                            }));
                        }
                        _ => {
                            text.push('$');
                            self.pos += 1;
                        }
                    }
                    lit_start = self.pos;
                }
                _ => self.pos += 1,
            }
        }
        text.push_str(&self.src[lit_start..self.pos]);
        if !text.is_empty() {
            nodes.push(Node::Text(text));
        }
        nodes
    }

    /// Parses `${...}` starting at `self.pos` (which points at the `$`).
    /// Returns `None` after recording a syntax error; the position is then
    /// past the matching `}` (or at end of input) so parsing can resume.
    fn parse_braced(&mut self) -> Option<VarExpr> {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        self.pos += 2;
        let name_start = self.pos;
        while self.pos < bytes.len() && is_name_char(bytes[self.pos]) {
            self.pos += 1;
        }
        let at_delim = |p: usize| p >= bytes.len() || matches!(bytes[p], b'}' | b':' | b'-' | b'?' | b'+');
        let mut name_ok = true;
        if !at_delim(self.pos) {
            // Something that cannot be part of a name: take everything up to
            // the next delimiter as the (invalid) name so the message shows it.
            while !at_delim(self.pos) {
                self.pos += self.src[self.pos..].chars().next().map_or(1, char::len_utf8);
            }
        }
        let name = &self.src[name_start..self.pos];
        if self.pos >= bytes.len() {
            self.unterminated(start);
            return None;
        }
        if name.is_empty() {
            name_ok = false;
        } else if !is_name_start(name.as_bytes()[0]) || !name.bytes().all(is_name_char) {
            name_ok = false;
            self.syntax_error(
                name_start,
                name.len(),
                format!("invalid variable name {name:?} (names must match [A-Za-z_][A-Za-z0-9_]*)"),
            );
        }

        let mut op_ok = true;
        let op = match bytes[self.pos] {
            b'}' => None,
            b':' => {
                let op = match bytes.get(self.pos + 1).copied() {
                    Some(b'-') => Some(Op::DefaultIfEmpty),
                    Some(b'?') => Some(Op::RequireNonEmpty),
                    Some(b'+') => Some(Op::AltIfNonEmpty),
                    _ => None,
                };
                if op.is_some() {
                    self.pos += 2;
                } else {
                    op_ok = false;
                    let shown: String = self.src[self.pos..].chars().take(2).collect();
                    self.syntax_error(
                        self.pos,
                        shown.len(),
                        format!(
                            "unsupported modifier {shown:?} in \"${{...}}\" \
                             (expected one of \":-\", \"-\", \":?\", \"?\", \":+\", \"+\")"
                        ),
                    );
                    self.pos += 1;
                }
                op
            }
            b'-' => {
                self.pos += 1;
                Some(Op::DefaultIfUnset)
            }
            b'?' => {
                self.pos += 1;
                Some(Op::RequireSet)
            }
            b'+' => {
                self.pos += 1;
                Some(Op::AltIfSet)
            }
            _ => unreachable!("at_delim guarantees a delimiter"),
        };
        // Always parse the operand (even after an error) so nested braces are
        // matched correctly and errors inside it are still reported.
        let word = if op.is_some() || !op_ok { Some(self.parse_word(true)) } else { None };
        if self.pos >= bytes.len() {
            self.unterminated(start);
            return None;
        }
        debug_assert_eq!(bytes[self.pos], b'}');
        self.pos += 1;
        let len = self.pos - start;
        if name.is_empty() {
            self.syntax_error(
                start,
                len,
                format!("empty variable name in {:?}; write \"$$\" for a literal \"$\"", &self.src[start..self.pos]),
            );
        }
        if !name_ok || !op_ok {
            return None;
        }
        Some(VarExpr { name: name.to_string(), offset: start, len, op: op.zip(word) })
    }
}

/// A looked-up value that begins with this character asks for the reference itself: the
/// expression's text as written (`${A:-x}`, `$A`) is put out between `REFERENCE_OPEN` and
/// [`REFERENCE_CLOSE`], whatever its modifier (snapshots write the manifest's text back).
pub const REFERENCE_OPEN: char = '\u{E000}';
/// Ends a reference put out for a [`REFERENCE_OPEN`] value.
pub const REFERENCE_CLOSE: char = '\u{E001}';

struct Evaluator<'a> {
    src: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    refs: Vec<VarRef>,
    errors: Vec<InterpError>,
}

impl Evaluator<'_> {
    fn eval(&mut self, nodes: &[Node], out: &mut String) {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Var(v) => self.eval_var(v, out),
            }
        }
    }

    fn eval_string(&mut self, nodes: &[Node]) -> String {
        let mut s = String::new();
        self.eval(nodes, &mut s);
        s
    }

    fn eval_var(&mut self, v: &VarExpr, out: &mut String) {
        let value = (self.lookup)(&v.name);
        self.refs.push(VarRef {
            name: v.name.clone(),
            offset: v.offset,
            len: v.len,
            was_set: value.is_some(),
            has_modifier: v.op.is_some(),
        });
        if value.as_deref().is_some_and(|s| s.starts_with(REFERENCE_OPEN)) {
            out.push(REFERENCE_OPEN);
            out.push_str(&self.src[v.offset..v.offset + v.len]);
            out.push(REFERENCE_CLOSE);
            return;
        }
        let Some((op, word)) = &v.op else {
            out.push_str(value.as_deref().unwrap_or(""));
            return;
        };
        let non_empty = value.as_deref().filter(|s| !s.is_empty());
        match op {
            Op::DefaultIfEmpty => match non_empty {
                Some(s) => out.push_str(s),
                None => self.eval(word, out),
            },
            Op::DefaultIfUnset => match &value {
                Some(s) => out.push_str(s),
                None => self.eval(word, out),
            },
            Op::RequireNonEmpty => match non_empty {
                Some(s) => out.push_str(s),
                None => {
                    let state = if value.is_some() { "is empty" } else { "is not set" };
                    self.required(v, state, word);
                }
            },
            Op::RequireSet => match &value {
                Some(s) => out.push_str(s),
                None => self.required(v, "is not set", word),
            },
            Op::AltIfNonEmpty => {
                if non_empty.is_some() {
                    self.eval(word, out);
                }
            }
            Op::AltIfSet => {
                if value.is_some() {
                    self.eval(word, out);
                }
            }
        }
    }

    fn required(&mut self, v: &VarExpr, state: &str, word: &[Node]) {
        let msg = self.eval_string(word);
        let message = if msg.is_empty() {
            format!("required variable {} {state}", v.name)
        } else {
            format!("required variable {} {state}: {msg}", v.name)
        };
        self.errors.push(InterpError { offset: v.offset, len: v.len, message, kind: InterpErrorKind::Required });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Environment used by most tests: SET=val, EMPTY="", UNSET missing.
    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("val".into()),
            "EMPTY" => Some(String::new()),
            "B" => Some("bee".into()),
            "DB_URL" => None,
            "UNI" => Some("ü".into()),
            _ => None,
        }
    }

    fn ok(input: &str) -> String {
        match interpolate(input, &env) {
            Ok(i) => i.value,
            Err(e) => panic!("unexpected errors for {input:?}: {e:?}"),
        }
    }

    fn errs(input: &str) -> Vec<InterpError> {
        match interpolate(input, &env) {
            Ok(i) => panic!("expected errors for {input:?}, got {:?}", i.value),
            Err(e) => e,
        }
    }

    #[test]
    fn plain_text_unchanged() {
        assert_eq!(ok(""), "");
        assert_eq!(ok("hello world"), "hello world");
        assert_eq!(ok("{}{ } }"), "{}{ } }");
        assert_eq!(ok("ünïcödé"), "ünïcödé");
    }

    #[test]
    fn simple_forms() {
        assert_eq!(ok("$SET"), "val");
        assert_eq!(ok("${SET}"), "val");
        assert_eq!(ok("a${SET}b"), "avalb");
        assert_eq!(ok("$SET.txt"), "val.txt");
        assert_eq!(ok("$SET_x"), ""); // greedy name: SET_x is unset
        assert_eq!(ok("${EMPTY}|$EMPTY"), "|");
        assert_eq!(ok("${UNSET}|$UNSET"), "|");
    }

    #[test]
    fn unset_plain_var_reports_ref() {
        let r = interpolate("x ${UNSET} $SET", &env).unwrap();
        assert_eq!(r.value, "x  val");
        assert_eq!(
            r.refs,
            vec![
                VarRef { name: "UNSET".into(), offset: 2, len: 8, was_set: false, has_modifier: false },
                VarRef { name: "SET".into(), offset: 11, len: 4, was_set: true, has_modifier: false },
            ]
        );
        let r = interpolate("${EMPTY}", &env).unwrap();
        assert!(r.refs[0].was_set);
    }

    #[test]
    fn default_if_empty() {
        assert_eq!(ok("${SET:-d}"), "val");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${UNSET:-d}"), "d");
        assert_eq!(ok("${UNSET:-}"), "");
        assert_eq!(ok("${UNSET:-a b  c}"), "a b  c");
    }

    #[test]
    fn default_if_unset() {
        assert_eq!(ok("${SET-d}"), "val");
        assert_eq!(ok("${EMPTY-d}"), "");
        assert_eq!(ok("${UNSET-d}"), "d");
    }

    #[test]
    fn required_non_empty() {
        assert_eq!(ok("${SET:?boom}"), "val");
        let e = errs("${EMPTY:?boom}");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, InterpErrorKind::Required);
        assert_eq!(e[0].message, "required variable EMPTY is empty: boom");
        let e = errs("${UNSET:?boom}");
        assert_eq!(e[0].message, "required variable UNSET is not set: boom");
    }

    #[test]
    fn required_set() {
        assert_eq!(ok("${SET?boom}"), "val");
        assert_eq!(ok("${EMPTY?boom}"), "");
        let e = errs("url=${DB_URL?}");
        assert_eq!(
            e,
            vec![InterpError {
                offset: 4,
                len: 10,
                message: "required variable DB_URL is not set".into(),
                kind: InterpErrorKind::Required,
            }]
        );
        let e = errs("${DB_URL:?set it in .env}");
        assert_eq!(e[0].message, "required variable DB_URL is not set: set it in .env");
    }

    #[test]
    fn alternatives() {
        assert_eq!(ok("${SET:+alt}"), "alt");
        assert_eq!(ok("${EMPTY:+alt}"), "");
        assert_eq!(ok("${UNSET:+alt}"), "");
        assert_eq!(ok("${SET+alt}"), "alt");
        assert_eq!(ok("${EMPTY+alt}"), "alt");
        assert_eq!(ok("${UNSET+alt}"), "");
    }

    #[test]
    fn modifier_refs_flagged() {
        let r = interpolate("${UNSET:-x}", &env).unwrap();
        assert!(!r.refs[0].was_set);
        assert!(r.refs[0].has_modifier);
    }

    #[test]
    fn nesting() {
        assert_eq!(ok("${UNSET:-${B:-x}}"), "bee");
        assert_eq!(ok("${UNSET:-${UNSET2:-x}}"), "x");
        assert_eq!(ok("${UNSET:-a${B}c}"), "abeec");
        assert_eq!(ok("${UNSET:-$B}"), "bee");
        assert_eq!(ok("${UNSET:-$B}}"), "bee}");
        assert_eq!(ok("${SET:+[${B}]}"), "[bee]");
        assert_eq!(ok("${UNSET:-${U1:-${U2:-deep}}}!"), "deep!");
        // Literal "{" does not open a brace level (compose behaviour).
        assert_eq!(ok("${UNSET:-{x}}"), "{x}");
        // Escapes inside operands.
        assert_eq!(ok("${UNSET:-$$HOME}"), "$HOME");
        assert_eq!(ok("${UNSET:-$${B}}"), "${B}");
    }

    #[test]
    fn nested_is_lazy() {
        // B's guard is not evaluated because SET is non-empty.
        let r = interpolate("${SET:-${UNSET:?never}}", &env).unwrap();
        assert_eq!(r.value, "val");
        assert_eq!(r.refs.len(), 1);
        // ...but it is when the default is needed.
        let e = errs("${UNSET:-${DB_URL:?needed}}");
        assert_eq!(e[0].message, "required variable DB_URL is not set: needed");
        assert_eq!((e[0].offset, e[0].len), (9, 17));
    }

    #[test]
    fn nested_refs_offsets() {
        let r = interpolate("${UNSET:-${B}}", &env).unwrap();
        let spans: Vec<_> = r.refs.iter().map(|r| (r.name.as_str(), r.offset, r.len)).collect();
        assert_eq!(spans, vec![("UNSET", 0, 14), ("B", 9, 4)]);
    }

    #[test]
    fn required_message_interpolated() {
        let e = errs("${UNSET:?need $B here}");
        assert_eq!(e[0].message, "required variable UNSET is not set: need bee here");
    }

    #[test]
    fn dollar_escapes() {
        assert_eq!(ok("$$"), "$");
        assert_eq!(ok("$$$$"), "$$");
        assert_eq!(ok("$$SET"), "$SET");
        assert_eq!(ok("$${SET}"), "${SET}");
        assert_eq!(ok("$$$SET"), "$val");
        assert_eq!(ok("cost: 5$$"), "cost: 5$");
        assert!(interpolate("$${SET}", &env).unwrap().refs.is_empty());
    }

    #[test]
    fn lone_dollar_is_literal() {
        assert_eq!(ok("$"), "$");
        assert_eq!(ok("a $ b"), "a $ b");
        assert_eq!(ok("$1"), "$1");
        assert_eq!(ok("$-x"), "$-x");
        assert_eq!(ok("$é"), "$é");
        assert_eq!(ok("x$"), "x$");
    }

    #[test]
    fn offsets_are_bytes_after_unicode() {
        let input = "ü€ ${SET} $B";
        let r = interpolate(input, &env).unwrap();
        assert_eq!(r.value, "ü€ val bee");
        for vr in &r.refs {
            let text = &input[vr.offset..vr.offset + vr.len];
            match vr.name.as_str() {
                "SET" => assert_eq!(text, "${SET}"),
                "B" => assert_eq!(text, "$B"),
                other => panic!("unexpected ref {other}"),
            }
        }
        assert_eq!(r.refs[0].offset, "ü€ ".len());

        let input = "日本 ${DB_URL:?x}";
        let e = errs(input);
        assert_eq!(&input[e[0].offset..e[0].offset + e[0].len], "${DB_URL:?x}");
    }

    #[test]
    fn unicode_values_pass_through() {
        assert_eq!(ok("${UNI}-${UNSET:-ö}"), "ü-ö");
    }

    #[test]
    fn unterminated() {
        let e = errs("abc ${SET");
        assert_eq!(
            e,
            vec![InterpError {
                offset: 4,
                len: 2,
                message: r#"unterminated "${" (missing "}")"#.into(),
                kind: InterpErrorKind::Syntax,
            }]
        );
        assert_eq!(errs("${").len(), 1);
        assert_eq!(errs("${SET:-abc").len(), 1);
        // Nested: only reported once, at the innermost opening.
        let e = errs("${A:-${B:-x");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].offset, 5);
    }

    #[test]
    fn invalid_names() {
        let e = errs("${1X}");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, InterpErrorKind::Syntax);
        assert!(e[0].message.starts_with(r#"invalid variable name "1X""#));
        assert_eq!((e[0].offset, e[0].len), (2, 2));

        let e = errs("${A B:-x}");
        assert!(e[0].message.starts_with(r#"invalid variable name "A B""#));
        let e = errs("${é}");
        assert!(e[0].message.starts_with(r#"invalid variable name "é""#));
        assert_eq!((e[0].offset, e[0].len), (2, 2));
    }

    #[test]
    fn empty_name() {
        let e = errs("x${}");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].kind, InterpErrorKind::Syntax);
        assert_eq!((e[0].offset, e[0].len), (1, 3));
        assert!(e[0].message.starts_with("empty variable name"));
        let e = errs("${:-x}");
        assert_eq!((e[0].offset, e[0].len), (0, 6));
    }

    #[test]
    fn bad_modifier() {
        let e = errs("${A:x} ${B}");
        assert_eq!(e.len(), 1);
        assert!(e[0].message.starts_with(r#"unsupported modifier ":x""#));
        assert_eq!((e[0].offset, e[0].len), (3, 2));
    }

    #[test]
    fn collects_all_errors() {
        let input = "${DB_URL:?a} ${1X} ${UNSET?b} ${} ${A:-${2}} ${open";
        let e = errs(input);
        let summary: Vec<_> = e.iter().map(|e| (e.kind, &input[e.offset..e.offset + e.len])).collect();
        assert_eq!(
            summary,
            vec![
                (InterpErrorKind::Required, "${DB_URL:?a}"),
                (InterpErrorKind::Syntax, "1X"),
                (InterpErrorKind::Required, "${UNSET?b}"),
                (InterpErrorKind::Syntax, "${}"),
                (InterpErrorKind::Syntax, "2"),
                (InterpErrorKind::Syntax, "${"),
            ]
        );
        assert_eq!(e[5].offset, input.len() - "${open".len());
    }

    #[test]
    fn error_display_is_message() {
        let e = errs("${DB_URL:?}");
        assert_eq!(e[0].to_string(), "required variable DB_URL is not set");
    }

    #[test]
    fn escape_round_trip() {
        let tricky = [
            "",
            "$",
            "$$",
            "$$$",
            "${X}",
            "$X",
            "$${X}",
            "${X:-${Y}}",
            "}{",
            "${",
            "a$b$c$",
            "ü$€${日本}",
            "${1X}",
            "${SET:?boom}",
            "$SET",
            "100% $ sure",
            "\n$\t${}",
        ];
        for s in tricky {
            let escaped = escape(s);
            let r = interpolate(&escaped, &env).unwrap_or_else(|e| panic!("escape({s:?}) = {escaped:?} failed: {e:?}"));
            assert_eq!(r.value, s, "round trip of {s:?} via {escaped:?}");
            assert!(r.refs.is_empty(), "escaped {s:?} still references vars");
        }
        assert_eq!(escape("a$b"), "a$$b");
    }
}
