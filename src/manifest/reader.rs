//! Typed reads from the node tree that record a [`Problem`] instead of stopping.
//!
//! Every accessor returns `Option`: `None` means "a problem was recorded, carry on", so one run
//! reports every mistake in the file. String values are interpolated here, compose-style.

use std::collections::HashMap;
use std::time::Duration;

use regex::Regex;

use super::diagnostic::Problem;
use super::interpolate::interpolate;
use super::model::{Pattern, normalize_signal};
use super::node::{Key, Node, NodeKind, Span};
use crate::suggest;
use crate::units;

/// Collects problems and warnings while lowering one manifest.
pub struct Reader<'s> {
    /// The manifest text, to map value offsets back into spans.
    pub source: &'s str,
    /// Variables for interpolation: the process environment, then `env_file` entries.
    pub vars: HashMap<String, String>,
    /// Names set by the manifest's `env:` (used to warn about `$VAR` that should be `$$VAR`).
    pub env_names: std::collections::HashSet<String>,
    /// Every problem found so far.
    pub problems: Vec<Problem>,
    /// Non-fatal notes (unset variables).
    pub warnings: Vec<Problem>,
    /// Sessions and panes `profiles:` switched off, with the profiles that switch them on (so
    /// a dependency on one says so instead of "unknown").
    pub disabled: HashMap<String, Vec<String>>,
    /// `up --scale PANE=N`: replica counts by pane name or `session/pane`.
    pub scale: HashMap<String, u32>,
    /// The `--scale` entries that named a pane (the others are reported).
    pub scale_used: std::collections::HashSet<String>,
    /// Replicated panes found so far: `session/pane` → replica addresses.
    pub replicas: indexmap::IndexMap<String, Vec<String>>,
    /// Every pane's `ports:` (read before lowering, so interpolation sees them).
    pub ports: Vec<super::model::Port>,
    /// `(value, name)` of every variable interpolated, so errors can show `${NAME}` instead of
    /// its value ([`redact`]): a value may be a secret from the environment or an env file.
    pub interpolated: Vec<(String, String)>,
}

/// Values shorter than this are not redacted from errors (`1` or `on` would mangle messages).
pub const REDACT_MIN: usize = 4;

/// Replaces every interpolated value (of at least [`REDACT_MIN`] bytes) quoted in `problems`
/// with `${NAME}`, longest first — also as messages escape it (`\"`, `\n`) and line by line —
/// so no error or warning shows a variable's value. A problem about a value written with a
/// `${…}` reference says only that the value is not valid: its own words could quote a piece of
/// the value (`unknown unit "SECRET"`), which no replacement can catch.
pub fn redact(problems: &mut [Problem], interpolated: &[(String, String)], source: &str) {
    if interpolated.is_empty() {
        return;
    }
    let mut values: Vec<(String, &str)> = Vec::new();
    for (value, name) in interpolated {
        let mut forms = vec![value.clone(), value.escape_debug().to_string(), value.escape_default().to_string()];
        forms.extend(value.lines().map(str::to_string));
        for form in forms {
            if form.len() >= REDACT_MIN && !values.iter().any(|(v, _)| *v == form) {
                values.push((form, name));
            }
        }
    }
    values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    let scrub = |text: &mut String| {
        for (value, name) in &values {
            if text.contains(value.as_str()) {
                *text = text.replace(value.as_str(), &format!("${{{name}}}"));
            }
        }
    };
    for p in problems {
        let written = p.span.as_ref().and_then(|s| source.get(s.clone())).unwrap_or_default();
        let uses = |name: &str| written.contains(&format!("${{{name}")) || written.contains(&format!("${name}"));
        if let Some((_, name)) = interpolated.iter().find(|(_, name)| uses(name)) {
            // Its help too: a suggestion ("try `x_y`", "did you mean …") is derived from the value.
            p.message = format!("`{}` is not a valid value here (its interpolated value is not shown)", written.trim());
            p.label = "not valid".into();
            p.help = Some(format!("check what `{name}` is set to (in the environment, `.env` or an `env_file:`)"));
        }
        scrub(&mut p.message);
        scrub(&mut p.label);
        if let Some(h) = p.help.as_mut() {
            scrub(h);
        }
        for (_, label) in &mut p.extra {
            scrub(label);
        }
    }
}

/// A map's entries after key checking, looked up by name.
pub struct Fields<'n> {
    entries: Vec<(&'n Key, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| *v)
    }

    /// The key node of `key`, for errors about the key itself.
    pub fn key(&self, key: &str) -> Option<&'n Key> {
        self.entries.iter().find(|(k, _)| k.name == key).map(|(k, _)| *k)
    }
}

impl<'s> Reader<'s> {
    /// Records a problem.
    pub fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn type_error(&mut self, node: &Node, expected: &str, what: &str) {
        self.problem(Problem::new(
            "invalid_type",
            node.span.clone(),
            format!("{what} must be {expected}, found {}", node.kind_name()),
            format!("expected {expected}"),
        ));
    }

    /// Entries of a map, reporting duplicate keys; `None` (and a problem) if not a map.
    pub fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Option<Vec<(&'n Key, &'n Node)>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.type_error(node, "a map", what);
            return None;
        };
        // A map, not a list: a 100k-key `env:` was quadratic here (13 s).
        let mut seen: std::collections::HashMap<&str, &Key> = std::collections::HashMap::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            if let Some(first) = seen.get(key.name.as_str()) {
                self.problem(
                    Problem::new(
                        "duplicate_name",
                        key.span.clone(),
                        format!("`{}` is defined twice in {what}", key.name),
                        "defined again here",
                    )
                    .also(first.span.clone(), "first defined here")
                    .help("names in a map must be unique; rename or remove one"),
                );
                continue;
            }
            seen.insert(&key.name, key);
            out.push((key, value));
        }
        Some(out)
    }

    /// A map whose keys must come from `allowed`; unknown keys get a "did you mean".
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let entries = self.entries(node, what)?;
        let mut kept = Vec::new();
        for (key, value) in entries {
            if allowed.contains(&key.name.as_str()) {
                kept.push((key, value));
            } else if what == "the manifest" && key.name.starts_with("x-") {
                // Compose-style extension fields: a place for YAML anchors.
            } else if super::spellings::not_yet(&key.name, allowed) {
                self.problem(
                    Problem::new(
                        "not_supported",
                        key.span.clone(),
                        format!("`{}` in {what} is not supported yet", key.name),
                        "not supported yet",
                    )
                    .help("this key is planned (docs/manifest.md lists what works today); remove it"),
                );
            } else {
                let help = super::spellings::hint(&key.name, allowed)
                    .or_else(|| suggest::hint(&key.name, allowed.iter().copied()))
                    .unwrap_or_else(|| format!("{what} accepts: {}", allowed.join(", ")));
                self.problem(
                    Problem::new(
                        "unknown_key",
                        key.span.clone(),
                        format!("unknown key `{}` in {what}", key.name),
                        "unknown key",
                    )
                    .help(help),
                );
            }
        }
        Some(Fields { entries: kept })
    }

    /// A scalar's interpolated text (numbers and booleans as written).
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        let NodeKind::Scalar { text, .. } = &node.kind else {
            self.type_error(node, "a string", what);
            return None;
        };
        self.interpolate(text, &node.span)
    }

    /// Interpolates `text`, which was read from the scalar at `span`.
    pub fn interpolate(&mut self, text: &str, span: &Span) -> Option<String> {
        if !text.contains('$') {
            return Some(text.to_string());
        }
        let base = span.start + usize::from(matches!(self.source.as_bytes().get(span.start), Some(b'"' | b'\'')));
        let at = |offset: usize, len: usize| {
            let start = (base + offset).min(span.end.max(span.start));
            start..(start + len).min(span.end.max(start))
        };
        let vars = &self.vars;
        match interpolate(text, &|name: &str| vars.get(name).cloned()) {
            Ok(done) => {
                for r in done.refs.iter().filter(|r| r.was_set) {
                    if let Some(v) = vars.get(&r.name) {
                        self.interpolated.push((v.clone(), r.name.clone()));
                    }
                }
                for r in done.refs.iter().filter(|r| !r.was_set && !r.has_modifier) {
                    let runtime = r.name.starts_with("CTMUX_") || self.env_names.contains(&r.name);
                    let message = format!("variable `{}` is not set; it becomes an empty string", r.name);
                    let mut warning =
                        Problem::new("unset_variable", at(r.offset, r.len), message, "not set at load time");
                    if runtime {
                        warning = warning.help(format!(
                            "`{}` is set when the pane runs, not when the manifest loads: write `$${}` to pass it through",
                            r.name,
                            if text[r.offset..].starts_with("${") { format!("{{{}}}", r.name) } else { r.name.clone() }
                        ));
                    }
                    self.warnings.push(warning);
                }
                Some(done.value)
            }
            Err(errors) => {
                for e in errors {
                    let code = match e.kind {
                        super::interpolate::InterpErrorKind::Required => "required_variable",
                        _ => "invalid_interpolation",
                    };
                    self.problem(Problem::new(code, at(e.offset, e.len), e.message, "here").help(
                        "set the variable in the environment or in an env_file, or write `$$` for a literal `$`",
                    ));
                }
                None
            }
        }
    }

    /// A boolean (`true`/`false`).
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_scalar() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(word @ ("yes" | "no" | "on" | "off" | "y" | "n" | "Yes" | "No" | "True" | "False")) => {
                let meant = matches!(word, "yes" | "on" | "y" | "Yes" | "True");
                self.problem(
                    Problem::new(
                        "invalid_type",
                        node.span.clone(),
                        format!("{what} must be true or false, found `{word}`"),
                        "not a boolean",
                    )
                    .help(format!("YAML 1.2 reads `{word}` as a string: write `{meant}`")),
                );
                None
            }
            _ => {
                self.type_error(node, "true or false", what);
                None
            }
        }
    }

    /// A non-negative integer.
    pub fn u32(&mut self, node: &Node, what: &str) -> Option<u32> {
        let text = self.string(node, what)?;
        match text.trim().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.type_error(node, "a non-negative whole number", what);
                None
            }
        }
    }

    /// A duration such as `500ms`, `2s` or `1h30m`.
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = self.string(node, what)?;
        units::parse_duration(&text)
            .map_err(|e| {
                self.problem(
                    Problem::new("invalid_duration", node.span.clone(), format!("{what}: {e}"), "not a duration")
                        .help("durations look like 500ms, 2s, 5m, 1h30m or 7d"),
                )
            })
            .ok()
    }

    /// A size such as `512MiB` or `1GB`, in bytes.
    pub fn size(&mut self, node: &Node, what: &str) -> Option<u64> {
        let text = self.string(node, what)?;
        units::parse_size(&text)
            .map_err(|e| {
                self.problem(
                    Problem::new("invalid_size", node.span.clone(), format!("{what}: {e}"), "not a size")
                        .help("sizes look like 512MiB, 1GiB or 1GB"),
                )
            })
            .ok()
    }

    /// A CPU amount such as `150%` or `1.5`, in cores.
    pub fn cpu(&mut self, node: &Node, what: &str) -> Option<f64> {
        let text = self.string(node, what)?;
        units::parse_cpu(&text)
            .map_err(|e| {
                self.problem(
                    Problem::new("invalid_cpu", node.span.clone(), format!("{what}: {e}"), "not a CPU amount")
                        .help("CPU looks like 150% or 1.5 (cores)"),
                )
            })
            .ok()
    }

    /// A regex, compiled now so a bad one is a load error rather than a runtime surprise.
    pub fn pattern(&mut self, node: &Node, what: &str) -> Option<Pattern> {
        let source = self.string(node, what)?;
        match bounded_regex(&source) {
            Ok(regex) => Some(Pattern { source, regex }),
            Err(e) => {
                let detail = e;
                let last =
                    detail.lines().last().unwrap_or("invalid regex").trim().trim_start_matches("error: ").to_string();
                self.problem(
                    Problem::new(
                        "invalid_regex",
                        node.span.clone(),
                        format!("{what} is not a valid regex: {last}"),
                        last,
                    )
                    .help("regex syntax: https://docs.rs/regex/#syntax; escape literal characters with `\\`"),
                );
                None
            }
        }
    }

    /// A signal name (`SIGTERM`, `TERM`, `int`), normalized to `SIGTERM` form.
    pub fn signal(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.string(node, what)?;
        let found = normalize_signal(&text);
        if found.is_none() {
            self.problem(
                Problem::new(
                    "invalid_value",
                    node.span.clone(),
                    format!("{what}: unknown signal `{text}`"),
                    "unknown signal",
                )
                .maybe_help(
                    suggest::hint(&text.to_ascii_uppercase(), super::model::SIGNALS)
                        .or_else(|| Some(format!("signals: {}", super::model::SIGNALS.join(", ")))),
                ),
            );
        }
        found
    }

    /// One of a fixed set of words.
    pub fn choice<'c>(&mut self, node: &Node, what: &str, choices: &[&'c str]) -> Option<&'c str> {
        let text = self.string(node, what)?;
        if let Some(found) = choices.iter().find(|c| **c == text) {
            return Some(found);
        }
        let help = suggest::hint(&text, choices.iter().copied())
            .unwrap_or_else(|| format!("use one of: {}", choices.join(", ")));
        self.problem(
            Problem::new(
                "invalid_value",
                node.span.clone(),
                format!("{what}: `{text}` is not one of {}", choices.join(", ")),
                "not allowed here",
            )
            .help(help),
        );
        None
    }

    /// A string or a list of strings (`env_file`, argv commands).
    pub fn string_list(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items {
                    match self.string(item, what) {
                        Some(s) => out.push(s),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            NodeKind::Scalar { .. } => self.string(node, what).map(|s| vec![s]),
            _ => {
                self.type_error(node, "a string or a list of strings", what);
                None
            }
        }
    }

    /// An environment map (`{K: V}`) or compose's list form (`["K=V"]`).
    pub fn env(&mut self, node: &Node, what: &str) -> Option<Vec<(String, String)>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    let text = self.string(item, what)?;
                    match text.split_once('=') {
                        Some((k, v)) if valid_env_name(k) => out.push((k.to_string(), v.to_string())),
                        _ => self.problem(
                            Problem::new(
                                "invalid_value",
                                item.span.clone(),
                                format!("{what}: expected NAME=value, found `{text}`"),
                                "not NAME=value",
                            )
                            .help("write `NAME=value`, or use a map: `NAME: value`"),
                        ),
                    }
                }
                Some(out)
            }
            _ => {
                let entries = self.entries(node, what)?;
                let mut out = Vec::new();
                for (key, value) in entries {
                    if !valid_env_name(&key.name) {
                        self.problem(
                            Problem::new(
                                "invalid_value",
                                key.span.clone(),
                                format!("`{}` is not a valid environment variable name", key.name),
                                "invalid name",
                            )
                            .help("names start with a letter or `_` and hold letters, digits and `_`"),
                        );
                        continue;
                    }
                    let value = if matches!(value.kind, NodeKind::Null) {
                        Some(String::new())
                    } else {
                        self.string(value, &format!("env `{}`", key.name))
                    };
                    if let Some(value) = value {
                        out.push((key.name.clone(), value));
                    }
                }
                Some(out)
            }
        }
    }
}

/// Whether `name` can be an environment variable name.
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Longest regex source accepted, in bytes: patterns are for matching lines of output.
pub const REGEX_MAX_LEN: usize = 16 * 1024;

/// Most memory one compiled regex may take (the regex crate's `size_limit`), and its lazy
/// DFA's cache (`dfa_size_limit`): a 10 MB pattern would otherwise take gigabytes and seconds.
pub const REGEX_MAX_BYTES: usize = 4 << 20;

/// Compiles `source` within [`REGEX_MAX_LEN`] and [`REGEX_MAX_BYTES`] — every regex a user
/// gives ctmux (manifest patterns, `--grep`, `--match`, rules) goes through here.
pub fn bounded_regex(source: &str) -> Result<Regex, String> {
    if source.len() > REGEX_MAX_LEN {
        return Err(format!("the pattern is {} bytes; at most {REGEX_MAX_LEN} are accepted", source.len()));
    }
    regex::RegexBuilder::new(source).size_limit(REGEX_MAX_BYTES).dfa_size_limit(REGEX_MAX_BYTES).build().map_err(|e| {
        match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("the compiled pattern would exceed {} KiB; simplify it", limit / 1024)
            }
            other => other.to_string(),
        }
    })
}
