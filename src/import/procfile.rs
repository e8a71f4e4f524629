//! Procfiles (`name: command` per line, as foreman, honcho and overmind read them): one pane
//! per process, in one session named after the project, tiled.

use serde_json::{Map, Value, json};

use super::{Imported, Names, shell_text};

/// Translates a Procfile.
pub fn translate(text: &str, stem: &str) -> Imported {
    let mut warnings = Vec::new();
    let mut names = Names::default();
    let mut panes = Map::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, command)) = line.split_once(':') else {
            warnings.push(format!("line {}: not `name: command`; ignored", n + 1));
            continue;
        };
        let pane = names.take(name.trim());
        if pane != name.trim() {
            warnings.push(format!(
                "line {}: process `{}` is named `{pane}` (pane names are identifiers)",
                n + 1,
                name.trim()
            ));
        }
        panes.insert(pane, json!({ "command": shell_text(command.trim()) }));
    }
    let session = crate::manifest::lower::sanitize_name(stem);
    let document = json!({
        "version": 1,
        "name": session,
        "sessions": { session.clone(): { "layout": "tiled", "panes": Value::Object(panes) } },
    });
    Imported { document, warnings }
}
