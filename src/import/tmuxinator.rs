//! tmuxinator projects: `name`, `root`, `windows` (a list of one-key maps: a command, a list of
//! commands, or `{ layout, panes, root }`), `pre_window` before every pane's commands,
//! `on_project_start` as a job every session waits for, `socket_name`, `startup_window` /
//! `startup_pane` as focus. Commands are typed into a shell by tmuxinator, so each pane keeps
//! its shell (`keep_shell: true`).

use serde_json::{Map, Value, json};

use super::{Imported, Names, lines, scalar, shell_text, tmux_name, warn_unknown};

const TOP: &[&str] = &[
    "name",
    "project_name",
    "root",
    "project_root",
    "windows",
    "tabs",
    "pre_window",
    "pre_tab",
    "on_project_start",
    "socket_name",
    "startup_window",
    "startup_pane",
];
const WINDOW: &[&str] = &["layout", "panes", "root", "pre"];

/// Translates a tmuxinator project.
pub fn translate(v: &Value, stem: &str) -> Result<Imported, String> {
    let top = v.as_object().ok_or("expected a map")?;
    let mut warnings = Vec::new();
    warn_unknown(top, TOP, "", &mut warnings);
    let get = |a: &str, b: &str| top.get(a).or_else(|| top.get(b));
    let session = tmux_name(&get("name", "project_name").and_then(scalar).unwrap_or_else(|| stem.to_string()));
    let before = get("pre_window", "pre_tab").map(lines).unwrap_or_default();
    let startup_window = top.get("startup_window").and_then(scalar);
    let startup_pane = top.get("startup_pane").and_then(scalar);
    let list = get("windows", "tabs").and_then(Value::as_array).ok_or("tmuxinator: `windows` must be a list")?;
    let mut names = Names::default();
    let mut windows = Map::new();
    for (i, entry) in list.iter().enumerate() {
        let (raw_name, body) = match entry.as_object().and_then(|m| m.iter().next()) {
            Some((k, v)) if entry.as_object().is_some_and(|m| m.len() == 1) => (k.clone(), v.clone()),
            _ => return Err(format!("tmuxinator: window {} is not a one-key map (`- name: command`)", i + 1)),
        };
        let wname = tmux_name(&raw_name);
        let place = format!("windows[{wname}].");
        let mut out = Map::new();
        let focused = startup_window.as_deref().is_some_and(|s| s == raw_name || s == i.to_string());
        if focused {
            out.insert("focus".into(), json!(true));
        }
        let panes_src: Vec<(Option<String>, Vec<String>)> = match &body {
            Value::Object(m) => {
                warn_unknown(m, WINDOW, &place, &mut warnings);
                if let Some(layout) = m.get("layout").and_then(scalar) {
                    out.insert("layout".into(), json!(layout));
                }
                if let Some(root) = m.get("root").and_then(scalar) {
                    out.insert("cwd".into(), json!(root));
                }
                let pre = m.get("pre").map(lines).unwrap_or_default();
                let items = m.get("panes").and_then(Value::as_array).cloned().unwrap_or_else(|| vec![Value::Null]);
                items
                    .iter()
                    .map(|p| {
                        let (name, cmds) = match p {
                            // Named panes: `- logs: [tail -f x]`.
                            Value::Object(pm) if pm.len() == 1 => {
                                let (k, v) = pm.iter().next().expect("one key");
                                (Some(k.clone()), lines(v))
                            }
                            other => (None, lines(other)),
                        };
                        (name, [pre.clone(), cmds].concat())
                    })
                    .collect()
            }
            other => vec![(None, lines(other))],
        };
        let mut panes = Map::new();
        for (j, (name, cmds)) in panes_src.into_iter().enumerate() {
            let pname = names.take(name.as_deref().or(cmds.first().map(String::as_str)).unwrap_or("shell"));
            let mut all = before.clone();
            all.extend(cmds);
            let mut po = Map::new();
            if !all.is_empty() {
                po.insert("command".into(), shell_text(&all.join("\n")));
                po.insert("keep_shell".into(), json!(true));
            }
            if focused && startup_pane.as_deref().is_some_and(|s| s == j.to_string()) {
                po.insert("focus".into(), json!(true));
            }
            panes.insert(pname, Value::Object(po));
        }
        out.insert("panes".into(), Value::Object(panes));
        windows.insert(wname, Value::Object(out));
    }
    let mut sessions = Map::new();
    let mut main = Map::new();
    if let Some(start) = top.get("on_project_start").map(lines).filter(|l| !l.is_empty()) {
        sessions.insert(
            "on_project_start".into(),
            json!({ "panes": { "run": { "command": shell_text(&start.join("\n")), "job": true } } }),
        );
        main.insert("depends_on".into(), json!({ "on_project_start/run": "completed_successfully" }));
        warnings.push(
            "on_project_start: runs as the job `on_project_start/run`, which the session waits for (exit 0)".into(),
        );
    }
    main.insert("windows".into(), Value::Object(windows));
    sessions.insert(session.clone(), Value::Object(main));
    let mut doc = Map::new();
    doc.insert("version".into(), json!(1));
    doc.insert("name".into(), json!(crate::manifest::lower::sanitize_name(&session)));
    if let Some(socket) = top.get("socket_name").and_then(scalar) {
        // A -L name, never a path (`../../tmp/x` would place the server's socket elsewhere).
        let safe: String = socket.chars().map(|c| if c == '/' { '_' } else { c }).collect();
        let safe = if safe.trim_matches('.').is_empty() { "tmuxinator".to_string() } else { safe };
        if safe != socket {
            warnings.push(format!("socket_name `{socket}` is not a plain name; using `{safe}`"));
        }
        doc.insert("socket".into(), json!(safe));
    }
    if let Some(root) = get("root", "project_root").and_then(scalar) {
        doc.insert("cwd".into(), json!(root));
    }
    doc.insert("sessions".into(), Value::Object(sessions));
    Ok(Imported { document: Value::Object(doc), warnings })
}
