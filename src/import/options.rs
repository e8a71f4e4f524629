//! tmux options of imported workspaces (tmuxp `options`, `global_options`, `options_after`),
//! placed at the ctmux level that holds them.
//!
//! tmux decides an option's table from its name, so tmuxp files put options wherever: a server
//! option (`default-terminal`) in a session's `options`, a session option in a window's. Each
//! goes to the level ctmux accepts it at — server options to the project, a session option
//! written on a window to its session — and what ctmux cannot take (a name tmux 3.3a does not
//! know, an array option, a value tmux would refuse, the options ctmux sets itself) is a warning.

use serde_json::{Map, Value, json};

use crate::tmux::options::{self as table, SERVER, SESSION, WINDOW};

/// A ctmux level an imported option lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The manifest's top-level `options:` (global and server).
    Project,
    /// The session's `options:`.
    Session,
    /// The window's `options:`.
    Window,
}

/// Options read from one place of the source, sorted into ctmux levels.
#[derive(Debug, Default)]
pub struct Placed {
    /// For the top-level `options:`.
    pub project: Map<String, Value>,
    /// For the session's `options:`.
    pub session: Map<String, Value>,
    /// For the window's `options:` (when read from a window).
    pub window: Map<String, Value>,
}

impl Placed {
    /// Reads the options map `v` written at `asked` (`place` names it in warnings).
    pub fn add(&mut self, v: &Value, asked: Level, place: &str, warnings: &mut Vec<String>) {
        let Some(map) = v.as_object() else {
            warnings.push(format!("{place}: not a map of options; ignored"));
            return;
        };
        for (name, value) in map {
            let text = match value {
                Value::Bool(b) => if *b { "on" } else { "off" }.to_string(),
                other => match super::scalar(other) {
                    Some(t) => t,
                    None => {
                        warnings.push(format!("{place}.{name}: not a single value; ignored"));
                        continue;
                    }
                },
            };
            if name.starts_with('@') {
                if table::valid_user_option(name) {
                    self.at(asked).insert(name.clone(), json!(escape(&text)));
                } else {
                    warnings.push(format!("{place}.{name}: not a user option ctmux can set; ignored"));
                }
                continue;
            }
            if let Some(why) = table::reserved(name) {
                warnings.push(format!("{place}.{name}: set by ctmux ({why}); ignored"));
                continue;
            }
            let Some(def) = table::lookup(name) else {
                warnings.push(format!("{place}.{name}: tmux 3.3a has no such option; ignored"));
                continue;
            };
            let value = match table::normalize(def.kind, &text) {
                Ok(v) => v,
                Err(e) => {
                    warnings.push(format!("{place}.{name}: {e}; ignored"));
                    continue;
                }
            };
            let level = if def.scope & SERVER != 0 {
                Level::Project
            } else if def.scope & SESSION != 0 && asked == Level::Window {
                Level::Session
            } else if def.scope & (WINDOW | SESSION) == 0 && asked == Level::Project {
                Level::Project
            } else {
                asked
            };
            if level != asked {
                let to = if level == Level::Project { "the project's" } else { "the session's" };
                warnings.push(format!("{place}.{name}: a {} option; moved to {to} `options:`", scope_word(def.scope)));
            }
            self.at(level).insert(name.clone(), json!(escape(&value)));
        }
    }

    fn at(&mut self, level: Level) -> &mut Map<String, Value> {
        match level {
            Level::Project => &mut self.project,
            Level::Session => &mut self.session,
            Level::Window => &mut self.window,
        }
    }
}

fn scope_word(scope: u8) -> &'static str {
    if scope & SERVER != 0 {
        "server"
    } else if scope & SESSION != 0 {
        "session"
    } else {
        "window"
    }
}

/// A value escaped for ctmux interpolation: tmux gets it as written (`$` stays `$`).
fn escape(text: &str) -> String {
    crate::manifest::interpolate::escape(text)
}

/// Merges `extra` into the `options` of the object `into` (a later key wins).
pub fn merge_into(into: &mut Map<String, Value>, extra: Map<String, Value>) {
    if extra.is_empty() {
        return;
    }
    let entry = into.entry("options").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = entry {
        m.extend(extra);
    }
}

/// The `set-option` lines of a tmux configuration file (tmuxinator's `tmux_options: -f FILE`),
/// as project options; every other command is counted in one warning (`bind-key`, `if-shell`:
/// ctmux sets options, not key bindings).
pub fn from_conf(text: &str, place: &str, warnings: &mut Vec<String>) -> Map<String, Value> {
    let mut placed = Placed::default();
    let mut skipped: Vec<String> = Vec::new();
    let mut found = Map::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = words(line);
        let Some(cmd) = words.first() else { continue };
        if !matches!(cmd.as_str(), "set" | "set-option" | "setw" | "set-window-option") {
            skipped.push(format!("{}:{}", n + 1, cmd));
            continue;
        }
        let mut rest = words[1..].iter();
        let mut unsupported = false;
        let mut name = None;
        let mut value = None;
        while let Some(w) = rest.next() {
            if name.is_none() && w.starts_with('-') && w.len() > 1 {
                if w.contains('t') {
                    rest.next();
                }
                unsupported |= w.contains('a') || w.contains('u') || w.contains('F') || w.contains('o');
            } else if name.is_none() {
                name = Some(w.clone());
            } else if value.is_none() {
                value = Some(w.clone());
            }
        }
        match (name, value) {
            (Some(name), Some(value)) if !unsupported => {
                found.insert(name, Value::String(value));
            }
            _ => skipped.push(format!("{}:{}", n + 1, cmd)),
        }
    }
    placed.add(&Value::Object(found), Level::Project, place, warnings);
    if !skipped.is_empty() {
        warnings.push(format!(
            "{place}: {} line(s) other than plain `set-option NAME VALUE` not imported (line:command {})",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    placed.project
}

/// The words of one tmux configuration line: `'…'` and `"…"` quoting, `\\` escapes, a `#`
/// outside quotes ends it.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut started = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                started = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    cur.push(q);
                }
            }
            '\\' => {
                started = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '#' if !started => break,
            c if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                started = true;
                cur.push(c);
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_set_lines_become_project_options_and_the_rest_one_warning() {
        let conf = "# mine\nset -g base-index 1\nsetw -g mode-keys vi\nset -s escape-time 0\nset -g status-left '[#S] '  # comment\nbind r source-file ~/.tmux.conf\nset -ga terminal-overrides ',xterm*:Tc'\nset -g nonsense 1\n";
        let mut warnings = Vec::new();
        let got = from_conf(conf, "tmux_options -f x.conf", &mut warnings);
        assert_eq!(
            Value::Object(got),
            json!({"base-index": "1", "mode-keys": "vi", "escape-time": "0", "status-left": "[#S] "})
        );
        assert!(warnings.iter().any(|w| w.contains("nonsense: tmux 3.3a has no such option")), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("2 line(s)") && w.contains("6:bind")), "{warnings:?}");
    }
}
