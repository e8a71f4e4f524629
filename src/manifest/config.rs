//! `ctmux config`: the resolved project written back as a long-form manifest.
//!
//! Everything is explicit (absolute cwd, merged env, pane-level dependencies, expanded groups)
//! and every literal `$` is escaped as `$$`, so loading the output gives the same [`Project`].

use serde_json::{Map, Value, json};

use super::diagnostic::{SourceFile, line_col};
use super::interpolate::escape;
use super::model::{Action, Check, Command, GcOverride, Health, Pane, Project, Restart};
use super::node::{Node, NodeKind, Span};
use crate::units::{format_cpu, format_duration, format_size};

/// The manifest document for `project`.
pub fn render(project: &Project) -> Value {
    let mut top = Map::new();
    top.insert("version".into(), json!(1));
    top.insert("name".into(), s(&project.name));
    if let Some(socket) = &project.socket {
        top.insert("socket".into(), s(socket));
    }
    let mut gc = Map::new();
    gc.insert("event_retention".into(), json!(format_duration(project.gc.event_retention)));
    if let Some(d) = project.gc.exited {
        gc.insert("exited".into(), json!(format_duration(d)));
    }
    if let Some(d) = project.gc.idle {
        gc.insert("idle".into(), json!(format_duration(d)));
    }
    gc.insert("orphans".into(), json!(project.gc.orphans.as_str()));
    let mut logs = Map::new();
    if let Some(d) = project.gc.logs_max_age {
        logs.insert("max_age".into(), json!(format_duration(d)));
    }
    if let Some(n) = project.gc.logs_max_size {
        logs.insert("max_size".into(), json!(format_size(n)));
    }
    if !logs.is_empty() {
        gc.insert("logs".into(), Value::Object(logs));
    }
    top.insert("gc".into(), Value::Object(gc));
    top.insert("history_limit".into(), json!(project.history_limit));
    if let Some(a) = &project.snapshots {
        top.insert("snapshots".into(), json!({ "interval": format_duration(a.interval), "keep": a.keep }));
    }
    if !project.groups.is_empty() {
        top.insert("groups".into(), json!(project.groups));
    }
    hooks(project, &mut top);
    options(&mut top, &project.options);
    let mut sessions = Map::new();
    for session in project.sessions.values() {
        let mut windows = Map::new();
        for window in session.windows.values() {
            let mut w = Map::new();
            if let Some(layout) = &window.layout {
                w.insert("layout".into(), s(layout));
            }
            if window.focus {
                w.insert("focus".into(), json!(true));
            }
            if let Some(index) = window.index {
                w.insert("index".into(), json!(index));
            }
            options(&mut w, &window.options);
            let panes = window_panes(project, window);
            w.insert("panes".into(), Value::Object(panes));
            windows.insert(window.name.clone(), Value::Object(w));
        }
        let mut sm = Map::new();
        if let Some((x, y)) = session.size {
            sm.insert("size".into(), json!(format!("{x}x{y}")));
        }
        options(&mut sm, &session.options);
        sm.insert("windows".into(), Value::Object(windows));
        gc_override(&mut sm, &session.gc);
        sessions.insert(session.name.clone(), Value::Object(sm));
    }
    top.insert("sessions".into(), Value::Object(sessions));
    Value::Object(top)
}

/// A window's panes in long form, with `replicas:` and `ports:` written back as such (so loading
/// the output gives the same project): a replicated pane once, under its own name, with
/// `replicas: N` and without the `CTMUX_REPLICA` ctmux sets; a pane's ports as `ports:`, without
/// the `PORT_<NAME>` they put in its environment.
fn window_panes(project: &Project, window: &super::model::Window) -> Map<String, Value> {
    let mut out = Map::new();
    for p in window.panes.values() {
        let address = p.address();
        let mut v = pane(p);
        let mut drop_env: Vec<String> = Vec::new();
        let mut name = p.name.clone();
        if let Some((base, members)) = project.replicas.iter().find(|(_, m)| m.contains(&address)) {
            if members.first() != Some(&address) {
                continue;
            }
            name = base.rsplit('/').next().unwrap_or(base).to_string();
            drop_env.push("CTMUX_REPLICA".into());
            v["replicas"] = json!(members.len());
        }
        let ports: Map<String, Value> = project
            .ports
            .iter()
            .filter(|port| port.pane == address)
            .map(|port| {
                drop_env.push(port.var());
                // An `auto` port shows the number it was given (`auto` until the first `up`).
                (port.name.clone(), if port.auto && port.port == 0 { json!("auto") } else { json!(port.port) })
            })
            .collect();
        if !ports.is_empty() {
            v["ports"] = Value::Object(ports);
        }
        if let Some(Value::Object(env)) = v.get_mut("env") {
            env.retain(|k, _| !drop_env.contains(k));
            if env.is_empty() {
                v.as_object_mut().map(|m| m.remove("env"));
            }
        }
        out.insert(name, v);
    }
    out
}

/// A string value, escaped so interpolation gives it back unchanged.
/// `hooks:`, with the project-level `cwd`, `env` and `shell` they run with (every pane lists
/// its own in full, so writing them at the top changes no pane).
fn hooks(project: &Project, top: &mut Map<String, Value>) {
    let h = &project.hooks;
    if h.is_empty() {
        return;
    }
    top.insert("cwd".into(), s(&h.cwd.to_string_lossy()));
    top.insert("shell".into(), s(&h.shell));
    if !h.env.is_empty() {
        top.insert("env".into(), Value::Object(h.env.iter().map(|(k, v)| (k.clone(), s(v))).collect()));
    }
    let mut m = Map::new();
    for (key, list) in [
        ("before_up", &h.before_up),
        ("first_up", &h.first_up),
        ("after_up", &h.after_up),
        ("before_down", &h.before_down),
        ("after_down", &h.after_down),
    ] {
        match list.as_slice() {
            [] => {}
            [one] => {
                m.insert(key.into(), s(one));
            }
            many => {
                m.insert(key.into(), Value::Array(many.iter().map(|c| s(c)).collect()));
            }
        }
    }
    top.insert("hooks".into(), Value::Object(m));
}

/// `options:` of one level, when it has any.
fn options(m: &mut Map<String, Value>, options: &indexmap::IndexMap<String, String>) {
    if !options.is_empty() {
        m.insert("options".into(), Value::Object(options.iter().map(|(k, v)| (k.clone(), s(v))).collect()));
    }
}

fn s(text: &str) -> Value {
    Value::String(escape(text))
}

/// One pane in long form (also what `ctmux snapshot` writes for each pane).
pub fn pane(p: &Pane) -> Value {
    let mut m = Map::new();
    match &p.command {
        Some(Command::Shell(c)) => {
            m.insert("command".into(), s(c));
        }
        Some(Command::Argv(v)) => {
            m.insert("command".into(), Value::Array(v.iter().map(|a| s(a)).collect()));
        }
        None => {}
    }
    m.insert("cwd".into(), s(&p.cwd.to_string_lossy()));
    m.insert("shell".into(), s(&p.shell));
    if !p.env.is_empty() {
        m.insert("env".into(), Value::Object(p.env.iter().map(|(k, v)| (k.clone(), s(v))).collect()));
    }
    if !p.depends_on.is_empty() {
        let deps: Map<String, Value> =
            p.depends_on.iter().map(|d| (d.target.clone(), json!(d.condition.as_str()))).collect();
        m.insert("depends_on".into(), Value::Object(deps));
    }
    if let Some(r) = &p.ready_when {
        m.insert("ready_when".into(), s(&r.source));
    }
    if let Some(h) = &p.health {
        m.insert("health".into(), health(h));
    }
    if p.restart != Restart::No {
        m.insert("restart".into(), json!(p.restart.as_str()));
    }
    if let Some(n) = p.max_restarts {
        m.insert("max_restarts".into(), json!(n));
    }
    let mut stop = Map::new();
    stop.insert("signal".into(), json!(p.stop.signal));
    stop.insert("timeout".into(), json!(format_duration(p.stop.timeout)));
    if let Some(c) = &p.stop.command {
        stop.insert("command".into(), s(c));
    }
    m.insert("stop".into(), Value::Object(stop));
    if let Some(l) = &p.limits {
        let mut lm = Map::new();
        if let Some(mem) = l.memory {
            lm.insert("memory".into(), json!(format_size(mem)));
        }
        if let Some(cpu) = l.cpu {
            lm.insert("cpu".into(), json!(format_cpu(cpu)));
        }
        lm.insert("action".into(), json!(l.action.as_str()));
        m.insert("limits".into(), Value::Object(lm));
    }
    if !p.on.is_empty() {
        let rules: Vec<Value> =
            p.on.iter()
                .map(|r| {
                    let mut rm = Map::new();
                    rm.insert("match".into(), s(&r.pattern.source));
                    rm.insert(
                        "do".into(),
                        match &r.action {
                            Action::Restart => json!("restart"),
                            Action::Stop => json!("stop"),
                            Action::Kill => json!("kill"),
                            Action::Event => json!("event"),
                            Action::Signal(sig) => json!({ "signal": sig }),
                            Action::SendKeys(k) => json!({ "send_keys": escape(k) }),
                            Action::Run(c) => json!({ "run": escape(c) }),
                        },
                    );
                    if let Some(c) = r.cooldown {
                        rm.insert("cooldown".into(), json!(format_duration(c)));
                    }
                    if r.once {
                        rm.insert("once".into(), json!(true));
                    }
                    Value::Object(rm)
                })
                .collect();
        m.insert("on".into(), Value::Array(rules));
    }
    if !p.metadata.is_empty() {
        m.insert("metadata".into(), Value::Object(p.metadata.iter().map(|(k, v)| (k.clone(), s(v))).collect()));
    }
    if let Some(t) = &p.title {
        m.insert("title".into(), s(t));
    }
    if !p.options.is_empty() {
        m.insert("options".into(), Value::Object(p.options.iter().map(|(k, v)| (k.clone(), s(v))).collect()));
    }
    if p.focus {
        m.insert("focus".into(), json!(true));
    }
    if p.keep_shell {
        m.insert("keep_shell".into(), json!(true));
    }
    if p.job {
        m.insert("job".into(), json!(true));
    }
    gc_override(&mut m, &p.gc);
    watch(&mut m, p);
    Value::Object(m)
}

/// A pane's `watch:` in its long form.
fn watch(m: &mut Map<String, Value>, p: &Pane) {
    let Some(w) = &p.watch else { return };
    let mut doc = Map::new();
    doc.insert("paths".into(), Value::Array(w.paths.iter().map(|g| s(g)).collect()));
    if !w.ignore.is_empty() {
        doc.insert("ignore".into(), Value::Array(w.ignore.iter().map(|g| s(g)).collect()));
    }
    doc.insert("debounce".into(), json!(format_duration(w.debounce)));
    if w.cascade {
        doc.insert("cascade".into(), json!(true));
    }
    m.insert("watch".into(), Value::Object(doc));
}

/// A session's or pane's `gc:` and `keep:`, when set.
fn gc_override(m: &mut Map<String, Value>, o: &GcOverride) {
    let mut gc = Map::new();
    if let Some(d) = o.exited {
        gc.insert("exited".into(), json!(format_duration(d)));
    }
    if let Some(d) = o.idle {
        gc.insert("idle".into(), json!(format_duration(d)));
    }
    if !gc.is_empty() {
        m.insert("gc".into(), Value::Object(gc));
    }
    if o.keep {
        m.insert("keep".into(), json!(true));
    }
}

fn health(h: &Health) -> Value {
    let mut m = Map::new();
    let (key, value) = match &h.check {
        Check::Exec(c) => ("exec", s(c)),
        Check::Http(u) => ("http", s(u)),
        Check::Tcp(a) => ("tcp", s(a)),
        Check::Log(p) => ("log", s(&p.source)),
    };
    m.insert(key.into(), value);
    m.insert("interval".into(), json!(format_duration(h.interval)));
    m.insert("start_interval".into(), json!(format_duration(h.start_interval)));
    m.insert("timeout".into(), json!(format_duration(h.timeout)));
    m.insert("retries".into(), json!(h.retries));
    m.insert("start_period".into(), json!(format_duration(h.start_period)));
    Value::Object(m)
}

/// The manifest document as YAML text.
pub fn to_yaml(project: &Project) -> String {
    serde_saphyr::to_string(&render(project)).unwrap_or_else(|e| format!("# cannot render YAML: {e}\n"))
}

/// The manifest document as YAML with each value's origin (`# FILE:LINE`) beside it: the file
/// and line of the composed document (`tree`, whose spans index `sources`) the value was read
/// from, after merging. A value without a comment is a default, or derived (an inherited `cwd`
/// shows the level it was set on).
pub fn to_yaml_with_origins(project: &Project, tree: &Node, sources: &[SourceFile]) -> String {
    let doc = render(project);
    let mut out = String::new();
    let mut path = Vec::new();
    emit(&mut out, &doc, 0, &mut path, &|p: &[String]| {
        origin(tree, p).map(|span| {
            let file = sources.iter().rev().find(|f| f.base <= span.start).unwrap_or(&sources[0]);
            let (line, _) = line_col(&file.text, span.start - file.base);
            format!("{}:{line}", file.path.display())
        })
    });
    out
}

/// Where the value at `path` of the rendered document was written in `tree`, if anywhere.
fn origin(tree: &Node, path: &[String]) -> Option<Span> {
    let get = |node: &Node, key: &str| -> Option<Node> {
        match &node.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v.clone()),
            NodeKind::Seq(items) => key.parse::<usize>().ok().and_then(|i| items.get(i).cloned()),
            _ => None,
        }
    };
    let walk = |from: &Node, rest: &[String]| -> Option<Node> {
        let mut node = from.clone();
        for key in rest {
            node = get(&node, key)?;
        }
        Some(node)
    };
    if path.first().map(String::as_str) != Some("sessions") {
        return walk(tree, path).map(|n| n.span);
    }
    let rest: Vec<String> = path[1..].to_vec();
    let session = walk(tree, &["sessions".into(), rest.first()?.clone()])?;
    let s = rest[0].as_str();
    match rest.get(1).map(String::as_str) {
        Some("windows") if rest.len() > 2 => {}
        _ => return walk(&session, &rest[1..]).map(|n| n.span),
    }
    let w = rest[2].as_str();
    let window = walk(&session, &["windows".into(), w.into()]).or_else(|| (w == s).then(|| session.clone()))?;
    if rest.get(3).map(String::as_str) != Some("panes") || rest.len() < 5 {
        return walk(&window, &rest[3..]).map(|n| n.span);
    }
    let p = rest[4].as_str();
    let field = &rest[5..];
    let pane = match &window.kind {
        NodeKind::Map(_) => walk(&window, &["panes".into(), p.into()]),
        _ if p == w => Some(window.clone()),
        _ => None,
    }?;
    if !matches!(pane.kind, NodeKind::Map(_)) && field.first().map(String::as_str) == Some("command") {
        return Some(pane.span);
    }
    if let Some(found) = walk(&pane, field) {
        return Some(found.span);
    }
    // Inherited settings: the level that set them.
    if matches!(field.first().map(String::as_str), Some("cwd" | "env" | "shell" | "depends_on")) {
        for level in [&pane, &window, &session, tree] {
            // A dependency is written as a name the output resolves to an address: the list.
            let found =
                walk(level, field).or_else(|| (field[0] == "depends_on").then(|| walk(level, &field[..1])).flatten());
            if let Some(found) = found {
                return Some(found.span);
            }
        }
    }
    None
}

/// Writes `value` as block YAML at `indent`, each scalar followed by its origin comment.
fn emit(
    out: &mut String,
    value: &Value,
    indent: usize,
    path: &mut Vec<String>,
    origin: &dyn Fn(&[String]) -> Option<String>,
) {
    let pad = " ".repeat(indent);
    let comment = |path: &[String]| origin(path).map(|o| format!("  # {o}")).unwrap_or_default();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push(k.clone());
                let key = yaml_key(k);
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        // A map is merged from several places: its values say where each came from.
                        out.push_str(&format!("{pad}{key}:\n"));
                        emit(out, v, indent + 2, path, origin);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{key}:{}\n", comment(path)));
                        emit(out, v, indent + 2, path, origin);
                    }
                    _ => out.push_str(&format!("{pad}{key}: {}{}\n", scalar(v), comment(path))),
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}-{}\n", comment(path)));
                        emit(out, item, indent + 4, path, origin);
                    }
                    _ => out.push_str(&format!("{pad}- {}{}\n", scalar(item), comment(path))),
                }
                path.pop();
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", scalar(value))),
    }
}

/// A scalar as YAML: strings double-quoted with JSON's escapes (valid YAML), the rest as is.
fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

/// A key plain when YAML reads it back as the same string, else double-quoted.
fn yaml_key(k: &str) -> String {
    let plain = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !matches!(k, "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n");
    if plain { k.to_string() } else { Value::String(k.to_string()).to_string() }
}
