//! tmuxp workspaces: one session (`session_name`), `windows` with `panes`; commands are typed
//! into a shell by tmuxp, so each becomes a shell command with `keep_shell: true` (the pane
//! ends in an interactive shell, as it does under tmuxp).

use serde_json::{Map, Value, json};

use super::{Imported, Names, env, lines, scalar, shell_text, tmux_name, warn_unknown};

const TOP: &[&str] = &[
    "session_name",
    "start_directory",
    "windows",
    "shell_command_before",
    "environment",
    "options",
    "global_options",
    "before_script",
];
const WINDOW: &[&str] = &[
    "window_name",
    "layout",
    "panes",
    "start_directory",
    "shell_command_before",
    "focus",
    "environment",
    "options",
    "options_after",
    "window_index",
];
const PANE: &[&str] = &["shell_command", "start_directory", "focus", "environment"];

/// The size tmuxp creates sessions at (tmux ≥ 2.6).
const TMUXP_SIZE: &str = "800x600";

/// Translates a tmuxp workspace.
pub fn translate(v: &Value, stem: &str) -> Result<Imported, String> {
    let top = v.as_object().ok_or("expected a map")?;
    let mut warnings = Vec::new();
    warn_unknown(top, TOP, "", &mut warnings);
    // tmux options: `global_options` are global, `options` the session's, a window's
    // `options` and `options_after` the window's (ctmux sets them all where it creates the level).
    let mut placed = super::options::Placed::default();
    if let Some(o) = top.get("global_options") {
        placed.add(o, super::options::Level::Project, "global_options", &mut warnings);
    }
    if let Some(o) = top.get("options") {
        placed.add(o, super::options::Level::Session, "options", &mut warnings);
    }
    let session = tmux_name(&top.get("session_name").and_then(scalar).unwrap_or_else(|| stem.to_string()));
    let before = top.get("shell_command_before").map(lines).unwrap_or_default();
    let mut names = Names::default();
    let mut windows = Map::new();
    let list = top.get("windows").and_then(Value::as_array).ok_or("tmuxp: `windows` must be a list")?;
    for (i, w) in list.iter().enumerate() {
        let w = w.as_object().ok_or(format!("tmuxp: window {} is not a map", i + 1))?;
        let wname = tmux_name(&w.get("window_name").and_then(scalar).unwrap_or_else(|| format!("window-{}", i + 1)));
        let place = format!("windows[{wname}].");
        warn_unknown(w, WINDOW, &place, &mut warnings);
        let mut before = before.clone();
        before.extend(w.get("shell_command_before").map(lines).unwrap_or_default());
        let mut out = Map::new();
        if let Some(layout) = w.get("layout").and_then(scalar) {
            out.insert("layout".into(), json!(layout));
        }
        if let Some(dir) = w.get("start_directory").and_then(scalar) {
            out.insert("cwd".into(), json!(dir));
        }
        if let Some(e) = w.get("environment") {
            out.insert("env".into(), Value::Object(env(e)));
        }
        if w.get("focus").is_some_and(truthy) {
            out.insert("focus".into(), json!(true));
        }
        window_options(w, &place, &mut out, &mut placed, &mut warnings);
        let mut panes = Map::new();
        let empty = vec![Value::Null];
        let items = w.get("panes").and_then(Value::as_array).unwrap_or(&empty);
        for (j, p) in items.iter().enumerate() {
            let (cmds, pane) = match p {
                Value::Object(m) => {
                    warn_unknown(m, PANE, &format!("{place}panes[{}].", j + 1), &mut warnings);
                    (m.get("shell_command").map(lines).unwrap_or_default(), Some(m))
                }
                Value::String(s) if s == "blank" || s == "pane" || s.is_empty() => (Vec::new(), None),
                other => (lines(other), None),
            };
            let mut all = before.clone();
            all.extend(cmds.iter().cloned());
            let name = names.take(cmds.first().map_or("shell", String::as_str));
            let mut po = Map::new();
            if !all.is_empty() {
                po.insert("command".into(), shell_text(&all.join("\n")));
                po.insert("keep_shell".into(), json!(true));
            }
            if let Some(m) = pane {
                if let Some(dir) = m.get("start_directory").and_then(scalar) {
                    po.insert("cwd".into(), json!(dir));
                }
                if let Some(e) = m.get("environment") {
                    po.insert("env".into(), Value::Object(env(e)));
                }
                if m.get("focus").is_some_and(truthy) {
                    po.insert("focus".into(), json!(true));
                }
            }
            panes.insert(name, Value::Object(po));
        }
        out.insert("panes".into(), Value::Object(panes));
        windows.insert(wname, Value::Object(out));
    }
    let mut doc = Map::new();
    doc.insert("version".into(), json!(1));
    doc.insert("name".into(), json!(crate::manifest::lower::sanitize_name(&session)));
    if let Some(dir) = top.get("start_directory").and_then(scalar) {
        doc.insert("cwd".into(), json!(dir));
    }
    if let Some(e) = top.get("environment") {
        doc.insert("env".into(), Value::Object(env(e)));
    }
    if let Some(h) = hooks(top, &mut warnings) {
        doc.insert("hooks".into(), h);
    }
    super::options::merge_into(&mut doc, std::mem::take(&mut placed.project));
    let mut s = Map::new();
    // tmuxp 1.27 creates its session at 800x600 (`new-session -x 800 -y 600`): the same size
    // gives the same layouts.
    s.insert("size".into(), json!(TMUXP_SIZE));
    super::options::merge_into(&mut s, std::mem::take(&mut placed.session));
    s.insert("windows".into(), Value::Object(windows));
    doc.insert("sessions".into(), json!({ session: s }));
    Ok(Imported { document: Value::Object(doc), warnings })
}

/// A window's `window_index`, `options` and `options_after` (set after its panes by tmuxp; ctmux
/// does not type commands, so the order makes no difference).
fn window_options(
    w: &Map<String, Value>,
    place: &str,
    out: &mut Map<String, Value>,
    placed: &mut super::options::Placed,
    warnings: &mut Vec<String>,
) {
    if let Some(index) = w.get("window_index") {
        match scalar(index).and_then(|t| t.parse::<u32>().ok()) {
            Some(i) => {
                out.insert("index".into(), json!(i));
            }
            None => warnings.push(format!("{place}window_index: not a window index; ignored")),
        }
    }
    for key in ["options", "options_after"] {
        if let Some(o) = w.get(key) {
            placed.add(o, super::options::Level::Window, &format!("{place}{key}"), warnings);
        }
    }
    super::options::merge_into(out, std::mem::take(&mut placed.window));
}

/// tmuxp's booleans: `true`, `"true"`.
pub fn truthy(v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| scalar(v).is_some_and(|s| s == "true"))
}

/// tmuxp's `before_script` as `hooks.first_up`: tmuxp runs it before it builds the session (not
/// when the session exists and it only attaches), in the session's `start_directory`, and stops
/// loading when it fails — as `first_up` runs before `up` builds anything, in the project's cwd.
pub fn hooks(top: &Map<String, Value>, warnings: &mut Vec<String>) -> Option<Value> {
    let script = top.get("before_script").and_then(scalar).filter(|s| !s.trim().is_empty())?;
    let path = script.split_whitespace().next().unwrap_or_default();
    // tmuxp resolves a path that starts with `.` against the workspace file's directory.
    if path.starts_with('.') {
        warnings.push(format!(
            "before_script: `{path}` is relative: tmuxp resolved it against the workspace file's directory, \
             ctmux runs it in the project's cwd (make it absolute if they differ)"
        ));
    }
    Some(json!({ "first_up": shell_text(&script) }))
}
