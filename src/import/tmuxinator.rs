//! tmuxinator projects: `name`, `root`, `windows` (a list of one-key maps: a command, a list of
//! commands, or `{ layout, panes, root }`), `pre_window` before every pane's commands,
//! the `on_project_*` hooks as `hooks:` ([`hooks`]), `socket_name`, `startup_window` /
//! `startup_pane` as focus. Commands are typed into a shell by tmuxinator, so each pane keeps
//! its shell (`keep_shell: true`). ERB (`<%= … %>`), which tmuxinator evaluates and ctmux does
//! not, is a warning naming its line ([`erb_warnings`]).

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
    "on_project_first_start",
    "on_project_restart",
    "on_project_stop",
    "on_project_exit",
    "socket_name",
    "startup_window",
    "startup_pane",
    "tmux_options",
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
    if let Some(h) = hooks(top, &mut warnings) {
        doc.insert("hooks".into(), h);
    }
    if let Some(flags) = top.get("tmux_options").and_then(scalar) {
        tmux_options(&flags, &mut doc, &mut warnings);
    }
    doc.insert("sessions".into(), Value::Object(sessions));
    Ok(Imported { document: Value::Object(doc), warnings })
}

/// tmuxinator's project hooks as ctmux `hooks:`. Each hook's commands stay one shell text (as
/// tmuxinator writes them into its script, where a failing line does not stop the next).
/// `on_project_start` → `before_up`; `on_project_first_start` → `first_up`;
/// `on_project_restart` → `before_up`, run only when something was running
/// (`CTMUX_FIRST_UP=0`); `on_project_stop` → `before_down`; `on_project_exit` (run by tmuxinator
/// when a client detaches; ctmux has no such moment) → `after_down`, with a warning.
pub fn hooks(top: &Map<String, Value>, warnings: &mut Vec<String>) -> Option<Value> {
    let text = |key: &str| top.get(key).map(lines).filter(|l| !l.is_empty()).map(|l| l.join("\n"));
    let mut out = Map::new();
    let mut before_up = Vec::new();
    if let Some(start) = text("on_project_start") {
        before_up.push(shell_text(&start));
    }
    if let Some(restart) = text("on_project_restart") {
        before_up.push(shell_text(&format!("if [ \"$CTMUX_FIRST_UP\" = 0 ]; then\n{restart}\nfi")));
    }
    match before_up.len() {
        0 => {}
        1 => {
            out.insert("before_up".into(), before_up.remove(0));
        }
        _ => {
            out.insert("before_up".into(), Value::Array(before_up));
        }
    }
    if let Some(first) = text("on_project_first_start") {
        out.insert("first_up".into(), shell_text(&first));
    }
    if let Some(stop) = text("on_project_stop") {
        out.insert("before_down".into(), shell_text(&stop));
    }
    if let Some(exit) = text("on_project_exit") {
        out.insert("after_down".into(), shell_text(&exit));
        warnings.push(
            "on_project_exit: tmuxinator runs it when a client detaches; ctmux has no detach hook, so it is \
             `hooks.after_down` (run when `ctmux down` ends the project)"
                .into(),
        );
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// One warning per ERB tag (`<% … %>`, `<%= … %>`) in a tmuxinator file, naming its line:
/// tmuxinator evaluates them; ctmux copies them as they are, so a pane would run the tag's
/// text. `ENV["NAME"]`, `ENV.fetch("NAME")` and `@settings["name"]` get `${NAME}` suggested.
pub fn erb_warnings(text: &str) -> Vec<String> {
    let tag = regex::Regex::new(r"<%=?-?\s*(.*?)\s*-?%>").expect("valid regex");
    let simple = regex::Regex::new(r#"^(?:ENV(?:\[|\.fetch\(\s*)|@settings\[)\s*["']([A-Za-z_][A-Za-z0-9_]*)["']"#)
        .expect("valid regex");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if !line.contains("<%") {
            continue;
        }
        let mut found = false;
        for caps in tag.captures_iter(line) {
            found = true;
            let (whole, inner) = (&caps[0], &caps[1]);
            let hint = match simple.captures(inner) {
                Some(name) => format!(
                    "write `${{{}}}` (ctmux fills it in from the environment or .env when it loads the manifest)",
                    name[1].to_ascii_uppercase()
                ),
                None => "rewrite it as shell, or as `${VAR}` for a variable".to_string(),
            };
            out.push(format!("line {}: ERB `{whole}` is not evaluated by ctmux (copied as is); {hint}", i + 1));
        }
        if !found {
            out.push(format!(
                "line {}: ERB (`<%`) is not evaluated by ctmux (copied as is); rewrite it as shell, or as `${{VAR}}` for a variable",
                i + 1
            ));
        }
    }
    out
}

/// tmuxinator's `tmux_options`, flags for every `tmux` it runs: `-L NAME` is the project's
/// `socket:`; `-f FILE` is a configuration whose `set-option` lines become the project's
/// `options:` (ctmux starts servers with the user's own configuration, so the rest of the file,
/// key bindings and all, is left to it, with a warning); other flags have no ctmux meaning.
fn tmux_options(flags: &str, doc: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    let mut words = flags.split_whitespace();
    while let Some(flag) = words.next() {
        match (flag, flag.len() > 2) {
            ("-L", _) | ("-f", _) => {
                let Some(value) = words.next() else { break };
                apply(flag, value, doc, warnings);
            }
            (f, true) if f.starts_with("-L") || f.starts_with("-f") => apply(&f[..2], &f[2..], doc, warnings),
            _ => warnings.push(format!("tmux_options: `{flag}` has no ctmux meaning; ignored")),
        }
    }
}

fn apply(flag: &str, value: &str, doc: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    if flag == "-L" {
        if doc.contains_key("socket") {
            warnings.push(format!("tmux_options: `-L {value}`: socket_name wins; ignored"));
        } else {
            doc.insert("socket".into(), json!(tmux_name(value)));
        }
        return;
    }
    let path = match value.strip_prefix("~/") {
        Some(rest) => std::env::var("HOME").map(|h| format!("{h}/{rest}")).unwrap_or_else(|_| value.to_string()),
        None => value.to_string(),
    };
    let place = format!("tmux_options -f {value}");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let options = super::options::from_conf(&text, &place, warnings);
            super::options::merge_into(doc, options);
        }
        Err(e) => warnings.push(format!("{place}: cannot read it ({e}); its options are not imported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmux_options_give_the_socket_and_the_conf_files_options() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mac.conf");
        std::fs::write(&conf, "set -g base-index 1\nset -g mouse on\nbind r source-file x\n").unwrap();
        let v = json!({"name": "p", "tmux_options": format!("-L side -f {} -2", conf.display()), "windows": [{"w": "echo"}]});
        let got = translate(&v, "p").unwrap();
        assert_eq!(got.document["socket"], "side");
        assert_eq!(got.document["options"], json!({"base-index": "1", "mouse": "on"}));
        assert!(got.warnings.iter().any(|w| w.contains("`-2` has no ctmux meaning")), "{:?}", got.warnings);
        assert!(got.warnings.iter().any(|w| w.contains("1 line(s)")), "{:?}", got.warnings);
    }
}
