//! `ctmux import`: other tools' workspace files translated to a ctmux manifest.
//!
//! Each format is one file that reads the source into a JSON value and builds the manifest
//! document; every key without a ctmux meaning becomes a warning, never a silent drop. Commands
//! are written with `$` escaped as `$$`, so variables are expanded by the pane's shell when it
//! runs them, as the source tool would (ctmux itself would expand them once, at load time).

pub mod options;
pub mod process_compose;
pub mod procfile;
pub mod tmuxinator;
pub mod tmuxp;

use serde_json::{Map, Value};

/// The formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// tmuxp workspace (YAML or JSON).
    Tmuxp,
    /// tmuxinator project (YAML).
    Tmuxinator,
    /// Procfile (foreman, overmind, honcho).
    Procfile,
    /// process-compose.yaml.
    ProcessCompose,
}

/// A translated manifest and what did not translate.
#[derive(Debug, Default)]
pub struct Imported {
    /// The manifest document.
    pub document: Value,
    /// One line per key without a ctmux meaning (or translated approximately).
    pub warnings: Vec<String>,
}

/// Translates `text` in `format`; `stem` names the project when the source does not.
pub fn translate(format: Format, text: &str, stem: &str) -> Result<Imported, String> {
    match format {
        Format::Procfile => Ok(procfile::translate(text, stem)),
        _ => {
            let value: Value = serde_saphyr::from_str(text).map_err(|e| format!("cannot read the file: {e}"))?;
            if !value.is_object() {
                return Err("expected a map at the top of the file".into());
            }
            match format {
                Format::Tmuxp => tmuxp::translate(&value, stem),
                Format::Tmuxinator => tmuxinator::translate(&value, stem).map(|mut imported| {
                    imported.warnings.extend(tmuxinator::erb_warnings(text));
                    imported
                }),
                Format::ProcessCompose => process_compose::translate(&value, stem),
                Format::Procfile => unreachable!("handled above"),
            }
        }
    }
}

/// A shell text escaped for ctmux interpolation: the pane's shell sees it unchanged.
pub fn shell_text(text: &str) -> Value {
    Value::String(crate::manifest::interpolate::escape(text))
}

/// A scalar as text (`8080` → `"8080"`), `None` for maps, lists and null.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Commands given as a string or a list of strings, as lines.
pub fn lines(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        Value::Null => Vec::new(),
        other => scalar(other).into_iter().collect(),
    }
}

/// An environment given as a map or a `K=V` list, as a ctmux `env` map.
pub fn env(v: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone(), shell_text(&scalar(v).unwrap_or_default()));
            }
        }
        Value::Array(items) => {
            for item in items.iter().filter_map(scalar) {
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                out.insert(k.to_string(), shell_text(v));
            }
        }
        _ => {}
    }
    out
}

/// Unique, valid pane names within one session.
#[derive(Default)]
pub struct Names(Vec<String>);

impl Names {
    /// A name from `hint` (a process name, a command's first word), made valid and unique.
    pub fn take(&mut self, hint: &str) -> String {
        let word = hint.split_whitespace().next().unwrap_or("pane");
        let word = word.rsplit('/').next().unwrap_or(word);
        let mut base = crate::manifest::lower::sanitize_name(word);
        if base.chars().all(|c| c == '_') {
            base = "pane".into();
        }
        let name = if self.0.contains(&base) {
            (2..).map(|i| format!("{base}-{i}")).find(|n| !self.0.contains(n)).unwrap_or_default()
        } else {
            base
        };
        self.0.push(name.clone());
        name
    }
}

/// A session or window name the manifest accepts, from any text.
pub fn tmux_name(text: &str) -> String {
    if crate::manifest::lower::valid_session_name(text) {
        text.to_string()
    } else {
        crate::manifest::lower::sanitize_name(text)
    }
}

/// Warns for every key of `map` not in `known`, as `where.key`.
pub fn warn_unknown(map: &Map<String, Value>, known: &[&str], place: &str, warnings: &mut Vec<String>) {
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        warnings.push(format!("{place}{key}: no ctmux meaning; ignored"));
    }
}
