//! Lowering of `options:` — tmux options at the project (global and server), session, window
//! and pane level.
//!
//! Every name is checked against tmux 3.3a's table ([`crate::tmux::options`]) and every flag,
//! number and choice value against what tmux accepts, so a mistake is a manifest error at its
//! YAML location, not a tmux failure half-way through `up`. Values are kept as tmux shows them
//! back (`true` → `on`), which lets `up` compare them with the live ones to find drift.
//! User options (`@name`) are accepted at every level; the options ctmux sets itself
//! (`remain-on-exit`, `history-limit`, `default-size`) are refused with the key to use instead.

use indexmap::IndexMap;

use super::diagnostic::Problem;
use super::node::Node;
use super::reader::Reader;
use crate::tmux::options::{self as table, PANE, SERVER, SESSION, WINDOW};

/// The level an `options:` map is written at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The top of the manifest: tmux's global (and server) options.
    Project,
    /// A session: session options, and window or pane options for each of its windows.
    Session,
    /// A window: window options, and pane options for each of its panes.
    Window,
    /// A pane: pane options only.
    Pane,
}

impl Level {
    fn accepts(self, scope: u8) -> bool {
        match self {
            Level::Project => true,
            Level::Session => scope & (SESSION | WINDOW | PANE) != 0,
            Level::Window => scope & (WINDOW | PANE) != 0,
            Level::Pane => scope & PANE != 0,
        }
    }
}

/// Where an option of `scope` can be written instead, for the error's help.
fn where_instead(scope: u8) -> &'static str {
    if scope & SERVER != 0 {
        "it is a server option: set it in the project's top-level `options:`"
    } else if scope & SESSION != 0 {
        "it is a session option: set it in the session's (or the project's) `options:`"
    } else {
        "it is a window option: set it in the window's (or the session's) `options:`"
    }
}

/// Reads the `options:` map at `node`, written at `level`; `what` names its owner in errors.
pub fn lower_options(reader: &mut Reader<'_>, node: &Node, what: &str, level: Level) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    for (key, value) in reader.entries(node, &format!("{what}.options")).unwrap_or_default() {
        let name = key.name.as_str();
        let bad = |message: String, label: &str, help: String| {
            Problem::new("invalid_value", key.span.clone(), message, label.to_string()).help(help)
        };
        if name.starts_with('@') {
            if !table::valid_user_option(name) {
                reader.problem(bad(
                    format!("{what}: `{name}` is not a valid user option"),
                    "not `@name`",
                    "user options are `@name` (letters, digits, `-`, `_`; not `@ctmux-…`, which are ctmux's)".into(),
                ));
                continue;
            }
            if let Some(v) = reader.string(value, &format!("{what}.options.{name}")) {
                out.insert(name.to_string(), v);
            }
            continue;
        }
        if let Some(why) = table::reserved(name) {
            reader.problem(bad(format!("{what}: option `{name}` is set by ctmux"), "reserved", why.into()));
            continue;
        }
        let Some(def) = table::lookup(name) else {
            let help = crate::suggest::hint(name, table::names()).unwrap_or_else(|| {
                "write a tmux 3.3a option name (`tmux show-options -g`, `-gw`, `-s` list them), or `@name` for a user option"
                    .into()
            });
            reader.problem(bad(format!("{what}: tmux has no option `{name}`"), "unknown option", help));
            continue;
        };
        if def.kind == table::Kind::Array {
            // Said before the level: moving it elsewhere in the manifest would not help.
            reader.problem(bad(
                format!("{what}: `{name}` is an array option, not supported in manifests yet"),
                "not supported yet",
                format!("set it in your tmux configuration for now (`set -as {name} …` in ~/.tmux.conf)"),
            ));
            continue;
        }
        if !level.accepts(def.scope) {
            reader.problem(bad(
                format!("{what}: `{name}` cannot be set at this level"),
                "wrong level",
                where_instead(def.scope).into(),
            ));
            continue;
        }
        let Some(text) = reader.string(value, &format!("{what}.options.{name}")) else { continue };
        match table::normalize(def.kind, &text) {
            Ok(v) => {
                out.insert(name.to_string(), v);
            }
            Err(message) => reader.problem(
                Problem::new(
                    "invalid_value",
                    value.span.clone(),
                    format!("{what}: option `{name}`: {message}"),
                    "this value",
                )
                .help(format!("tmux would refuse it; `tmux set-option {name} …` takes {}", describe(def.kind))),
            ),
        }
    }
    out
}

fn describe(kind: table::Kind) -> String {
    match kind {
        table::Kind::Flag => "on or off".into(),
        table::Kind::Number(min, max) => format!("a whole number from {min} to {max}"),
        table::Kind::Choice(words) => format!("one of {}", words.join(", ")),
        table::Kind::Array => "a list (not supported in manifests yet)".into(),
        _ => "text".into(),
    }
}

/// Splits a session's options into its own (session scope and user options) and those it sets
/// for each of its windows (window and pane scope), which lowering merges into every window.
pub fn split_session(options: IndexMap<String, String>) -> (IndexMap<String, String>, IndexMap<String, String>) {
    let mut own = IndexMap::new();
    let mut windows = IndexMap::new();
    for (k, v) in options {
        match table::lookup(&k) {
            Some(def) if def.scope & SESSION == 0 => windows.insert(k, v),
            _ => own.insert(k, v),
        };
    }
    (own, windows)
}
