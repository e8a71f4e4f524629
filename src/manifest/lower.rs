//! Lowering: node tree → resolved [`Project`], collecting every problem on the way.
//!
//! Settings cascade project → session → window → pane (cwd, env, shell, depends_on). Shorthands
//! are expanded here: `panes:` on a session (one window named after it), a string as a window or
//! pane (its command), a list as an argv command, a list as `depends_on` (condition `started`).

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::deps::{self, DeclaredDep};
use super::diagnostic::Problem;
use super::model::{Gc, GcOverride, Orphans, Pane, Project, Session, Window};
use super::node::{Node, NodeKind, Span};
use super::pane;
use super::reader::Reader;

/// Keys of the top level of a manifest.
pub const PROJECT_KEYS: &[&str] = &[
    "version",
    "name",
    "socket",
    "env_file",
    "env",
    "cwd",
    "shell",
    "gc",
    "history_limit",
    "snapshots",
    "groups",
    "sessions",
    "include",
    "hooks",
    "options",
];
/// Keys of a session.
pub const SESSION_KEYS: &[&str] =
    &["windows", "panes", "layout", "cwd", "env", "shell", "depends_on", "gc", "keep", "size", "profiles", "options"];
/// Keys of a window.
pub const WINDOW_KEYS: &[&str] = &["panes", "layout", "cwd", "env", "shell", "depends_on", "focus", "index", "options"];
/// Keys of `gc`.
pub const GC_KEYS: &[&str] = &["exited", "idle", "orphans", "logs", "event_retention"];
/// Keys of a session's `gc`.
pub const SESSION_GC_KEYS: &[&str] = &["exited", "idle"];
/// Keys of a pane's `gc`.
pub const PANE_GC_KEYS: &[&str] = &["exited"];
/// Keys of `gc.logs`.
pub const GC_LOGS_KEYS: &[&str] = &["max_age", "max_size"];
/// Keys of `snapshots`.
pub const SNAPSHOTS_KEYS: &[&str] = &["interval", "keep"];

/// What a level passes down to the levels inside it.
#[derive(Clone)]
pub struct Inherited {
    /// Working directory (absolute).
    pub cwd: PathBuf,
    /// Environment so far.
    pub env: IndexMap<String, String>,
    /// Shell for string commands.
    pub shell: String,
    /// Dependencies declared on enclosing levels.
    pub deps: Vec<DeclaredDep>,
}

/// The result of lowering: the project, plus where each dependency was declared (for cycle errors).
pub struct Lowered {
    /// The resolved project, present even when problems were found (best effort).
    pub project: Project,
    /// Declared dependencies per pane address.
    pub declared: Vec<(String, DeclaredDep)>,
}

/// Lowers the root node of a manifest at `file`.
pub fn lower(reader: &mut Reader<'_>, root: &Node, file: &Path, env_file_vars: &[(String, String)]) -> Option<Lowered> {
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    if matches!(root.kind, NodeKind::Null) {
        reader.problem(
            Problem::new(
                "missing_key",
                root.span.clone(),
                "the manifest is empty",
                "expected `version: 1` and `sessions:`",
            )
            .help("start with:\nversion: 1\nsessions:\n  app:\n    panes:\n      main: echo hello"),
        );
        return None;
    }
    let fields = reader.fields(root, "the manifest", PROJECT_KEYS)?;

    match fields.get("version") {
        None => reader.problem(
            Problem::new("missing_key", 0..0, "missing `version`", "add `version: 1` here")
                .help("the first line of a manifest is `version: 1`"),
        ),
        Some(v) => {
            if let Some(n) = reader.u32(v, "version")
                && n != 1
            {
                reader.problem(
                    Problem::new(
                        "invalid_value",
                        v.span.clone(),
                        format!("unsupported manifest version {n}"),
                        "only version 1 exists",
                    )
                    .help("set `version: 1`"),
                );
            }
        }
    }

    let default_name = dir.file_name().map(|n| sanitize_name(&n.to_string_lossy())).unwrap_or_else(|| "ctmux".into());
    let name = match fields.get("name") {
        Some(n) => reader.string(n, "name").and_then(|s| checked_name(reader, s, n.span.clone(), "project")),
        None => Some(default_name),
    }
    .unwrap_or_default();
    let socket = fields.get("socket").and_then(|n| {
        let text = reader.string(n, "socket")?;
        // A `-L` name is a file name in tmux's socket directory: `../x` or `a/b` would put the
        // server's socket elsewhere.
        if text.is_empty() || text.contains('/') || text == "." || text == ".." {
            reader.problem(
                Problem::new(
                    "invalid_value",
                    n.span.clone(),
                    format!("invalid socket name `{text}`"),
                    "not a file name",
                )
                .help("`socket:` is a tmux -L name: a plain file name, without `/`"),
            );
            return None;
        }
        Some(text)
    });

    let mut env: IndexMap<String, String> = env_file_vars.iter().cloned().collect();
    if let Some(node) = fields.get("env") {
        env.extend(reader.env(node, "env").unwrap_or_default());
    }
    let cwd = match fields.get("cwd") {
        Some(n) => reader.string(n, "cwd").map(|s| resolve_path(&dir, &s)).unwrap_or_else(|| dir.clone()),
        None => dir.clone(),
    };
    let default_shell = std::env::var("SHELL").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "/bin/sh".into());
    let shell = fields.get("shell").and_then(|n| reader.string(n, "shell")).unwrap_or(default_shell);
    let gc = fields.get("gc").map(|n| lower_gc(reader, n)).unwrap_or_default();
    let snapshots = fields.get("snapshots").and_then(|n| lower_snapshots(reader, n));
    let history_limit = match fields.get("history_limit") {
        Some(n) => match reader.u32(n, "history_limit") {
            // tmux refuses more (INT_MAX), and memory runs out long before.
            Some(limit) if limit > super::model::MAX_HISTORY_LIMIT => {
                reader.problem(
                    Problem::new(
                        "invalid_value",
                        n.span.clone(),
                        format!("history_limit {limit} is too large"),
                        "too many lines of scrollback",
                    )
                    .help(format!("at most {} lines per pane", super::model::MAX_HISTORY_LIMIT)),
                );
                super::model::DEFAULT_HISTORY_LIMIT
            }
            Some(limit) => limit,
            None => super::model::DEFAULT_HISTORY_LIMIT,
        },
        None => super::model::DEFAULT_HISTORY_LIMIT,
    };

    let top = Inherited { cwd, env, shell, deps: Vec::new() };
    let mut sessions = IndexMap::new();
    let mut declared = Vec::new();
    match fields.get("sessions") {
        None => reader.problem(
            Problem::new("missing_key", 0..0, "missing `sessions`", "no sessions defined")
                .help("add a `sessions:` map with at least one session"),
        ),
        Some(node) => {
            for (key, value) in reader.entries(node, "sessions").unwrap_or_default() {
                let Some(sname) = checked_name(reader, key.name.clone(), key.span.clone(), "session") else {
                    continue;
                };
                if let Some(session) = lower_session(reader, &sname, value, &top, &mut declared) {
                    sessions.insert(sname, session);
                }
            }
        }
    }
    check_unique_panes(reader, root, &sessions);

    let mut project = Project {
        name,
        file: file.to_path_buf(),
        socket,
        gc,
        history_limit,
        snapshots,
        groups: IndexMap::new(),
        sessions,
        compose: None,
        replicas: std::mem::take(&mut reader.replicas),
        ports: std::mem::take(&mut reader.ports),
        hooks: super::hooks::lower_hooks(reader, fields.get("hooks"), &top),
        options: fields
            .get("options")
            .map(|n| super::options::lower_options(reader, n, "the project", super::options::Level::Project))
            .unwrap_or_default(),
    };
    if let Some(node) = fields.get("groups") {
        project.groups = deps::lower_groups(reader, node, &project);
    }
    deps::resolve(reader, &mut project, &declared);
    Some(Lowered { project, declared })
}

fn lower_snapshots(reader: &mut Reader<'_>, node: &Node) -> Option<super::model::Autosave> {
    let mut autosave = super::model::Autosave::default();
    let f = reader.fields(node, "snapshots", SNAPSHOTS_KEYS)?;
    if let Some(n) = f.get("interval")
        && let Some(d) = reader.duration(n, "snapshots.interval")
    {
        if d < std::time::Duration::from_secs(1) {
            reader.problem(
                Problem::new("invalid_value", n.span.clone(), "snapshots.interval is under a second", "too short")
                    .help("snapshots are taken every interval and after each change; `1m` or more is usual"),
            );
        }
        autosave.interval = d;
    }
    if let Some(n) = f.get("keep")
        && let Some(k) = reader.u32(n, "snapshots.keep")
    {
        if k == 0 {
            reader.problem(
                Problem::new("invalid_value", n.span.clone(), "snapshots.keep is 0", "keeps nothing")
                    .help("keep at least 1, or remove `snapshots:` to turn autosave off"),
            );
        }
        autosave.keep = k;
    }
    Some(autosave)
}

fn lower_gc(reader: &mut Reader<'_>, node: &Node) -> Gc {
    let mut gc = Gc::default();
    let Some(f) = reader.fields(node, "gc", GC_KEYS) else {
        return gc;
    };
    if let Some(d) = f.get("event_retention").and_then(|n| reader.duration(n, "gc.event_retention")) {
        gc.event_retention = d;
    }
    gc.exited = f.get("exited").and_then(|n| reader.duration(n, "gc.exited"));
    gc.idle = f.get("idle").and_then(|n| reader.duration(n, "gc.idle"));
    if let Some(n) = f.get("orphans")
        && let Some(s) = reader.string(n, "gc.orphans")
    {
        match s.as_str() {
            "report" => gc.orphans = Orphans::Report,
            "remove" => gc.orphans = Orphans::Remove,
            other => reader.problem(
                Problem::new(
                    "invalid_value",
                    n.span.clone(),
                    format!("gc.orphans: unknown value `{other}`"),
                    "not report or remove",
                )
                .help(format!("gc.orphans is one of: {}", Orphans::NAMES.join(", "))),
            ),
        }
    }
    if let Some(n) = f.get("logs")
        && let Some(l) = reader.fields(n, "gc.logs", GC_LOGS_KEYS)
    {
        gc.logs_max_age = l.get("max_age").and_then(|n| reader.duration(n, "gc.logs.max_age"));
        gc.logs_max_size = l.get("max_size").and_then(|n| reader.size(n, "gc.logs.max_size"));
    }
    gc
}

/// Reads a session's or pane's `gc:` (with `keys`) and `keep:`.
pub fn lower_gc_override(
    reader: &mut Reader<'_>,
    fields: &super::reader::Fields<'_>,
    what: &str,
    keys: &[&str],
) -> GcOverride {
    let mut o = GcOverride {
        keep: fields.get("keep").and_then(|n| reader.bool(n, &format!("{what}.keep"))).unwrap_or(false),
        ..GcOverride::default()
    };
    if let Some(n) = fields.get("gc")
        && let Some(f) = reader.fields(n, &format!("{what}.gc"), keys)
    {
        o.exited = f.get("exited").and_then(|n| reader.duration(n, &format!("{what}.gc.exited")));
        o.idle = f.get("idle").and_then(|n| reader.duration(n, &format!("{what}.gc.idle")));
    }
    o
}

/// Applies the cascading keys (cwd, env, shell, depends_on) of one level.
fn cascade(reader: &mut Reader<'_>, fields: &super::reader::Fields<'_>, outer: &Inherited, what: &str) -> Inherited {
    let mut inner = outer.clone();
    if let Some(n) = fields.get("cwd")
        && let Some(s) = reader.string(n, &format!("{what}.cwd"))
    {
        inner.cwd = resolve_path(&outer.cwd, &s);
    }
    if let Some(n) = fields.get("env") {
        inner.env.extend(reader.env(n, &format!("{what}.env")).unwrap_or_default());
    }
    if let Some(n) = fields.get("shell")
        && let Some(s) = reader.string(n, &format!("{what}.shell"))
    {
        inner.shell = s;
    }
    if let Some(n) = fields.get("depends_on") {
        inner.deps.extend(deps::declared(reader, n, what));
    }
    inner
}

fn lower_session(
    reader: &mut Reader<'_>,
    name: &str,
    node: &Node,
    top: &Inherited,
    declared: &mut Vec<(String, DeclaredDep)>,
) -> Option<Session> {
    let what = format!("session `{name}`");
    if matches!(node.kind, NodeKind::Scalar { .. } | NodeKind::Seq(_)) {
        // `logs: tail -f x` — one window and one pane, both named after the session.
        let pane = pane::lower_pane(reader, name, name, name, node, top, declared)?;
        let window = Window {
            name: name.into(),
            layout: None,
            focus: false,
            index: None,
            options: IndexMap::new(),
            panes: IndexMap::from([(name.to_string(), pane)]),
        };
        return Some(Session {
            name: name.into(),
            windows: IndexMap::from([(name.to_string(), window)]),
            gc: GcOverride::default(),
            size: None,
            options: IndexMap::new(),
        });
    }
    if matches!(node.kind, NodeKind::Null) {
        reader.problem(
            Problem::new("missing_key", node.span.clone(), format!("{what} is empty"), "needs `windows:` or `panes:`")
                .help("give it panes, e.g. `panes: { main: echo hi }`, or a command string"),
        );
        return None;
    }
    let f = reader.fields(node, &what, SESSION_KEYS)?;
    let inherited = cascade(reader, &f, top, &what);
    let gc = lower_gc_override(reader, &f, &what, SESSION_GC_KEYS);
    let size = f.get("size").and_then(|n| lower_size(reader, n, &what));
    let (options, window_options) = super::options::split_session(
        f.get("options")
            .map(|n| super::options::lower_options(reader, n, &what, super::options::Level::Session))
            .unwrap_or_default(),
    );
    let mut windows = IndexMap::new();
    match (f.get("windows"), f.get("panes")) {
        (Some(_), Some(_)) => {
            let key = f.key("panes").map_or(node.span.clone(), |k| k.span.clone());
            reader.problem(
                Problem::new("invalid_value", key, format!("{what} has both `windows` and `panes`"), "`panes` here")
                    .help("use `panes:` for one window named after the session, or `windows:` for several — not both"),
            );
        }
        (Some(wnode), None) => {
            if f.get("layout").is_some() {
                let key = f.key("layout").map_or(node.span.clone(), |k| k.span.clone());
                reader.problem(
                    Problem::new(
                        "invalid_value",
                        key,
                        format!("`layout` on {what} needs the `panes:` shorthand"),
                        "layout here",
                    )
                    .help("with `windows:`, set `layout` on each window"),
                );
            }
            for (key, value) in reader.entries(wnode, &format!("{what}.windows")).unwrap_or_default() {
                let Some(wname) = checked_name(reader, key.name.clone(), key.span.clone(), "window") else {
                    continue;
                };
                if let Some(w) = lower_window(reader, name, &wname, value, &inherited, declared) {
                    let taken = windows.values().find(|o: &&Window| w.index.is_some() && o.index == w.index);
                    if let Some(other) = taken {
                        reader.problem(
                            Problem::new(
                                "invalid_value",
                                key.span.clone(),
                                format!(
                                    "{what}: windows `{}` and `{wname}` both have index {}",
                                    other.name,
                                    w.index.unwrap_or(0)
                                ),
                                "same index",
                            )
                            .help("give each window its own `index:`, or leave it out to take the next free one"),
                        );
                    }
                    windows.insert(wname, w);
                }
            }
            if windows.is_empty() && matches!(&wnode.kind, NodeKind::Map(m) if m.is_empty()) {
                reader.problem(Problem::new(
                    "missing_key",
                    wnode.span.clone(),
                    format!("{what} has no windows"),
                    "empty",
                ));
            }
        }
        (None, Some(pnode)) => {
            let panes = lower_panes(reader, name, name, true, pnode, &inherited, declared);
            let layout = f.get("layout").and_then(|n| lower_layout(reader, n, &what, panes.len()));
            windows.insert(
                name.to_string(),
                Window { name: name.into(), layout, focus: false, index: None, options: IndexMap::new(), panes },
            );
        }
        (None, None) => reader.problem(
            Problem::new(
                "missing_key",
                node.span.clone(),
                format!("{what} has neither `windows` nor `panes`"),
                "needs `windows:` or `panes:`",
            )
            .help("add `panes:` (one window named after the session) or `windows:`"),
        ),
    }
    // Window and pane options written on the session hold in each window, under its own.
    for window in windows.values_mut() {
        let own = std::mem::replace(&mut window.options, window_options.clone());
        window.options.extend(own);
    }
    Some(Session { name: name.into(), windows, gc, size, options })
}

/// Reads a `layout:`, checked as tmux 3.3a would read it ([`crate::tmux::layout`]): a bad one
/// can crash the tmux server, so it never passes validation. A layout string needs a cell for
/// each of the window's `panes`.
fn lower_layout(reader: &mut Reader<'_>, node: &Node, what: &str, panes: usize) -> Option<String> {
    let text = reader.string(node, &format!("{what}.layout"))?;
    let problem = match crate::tmux::layout::check(&text) {
        Ok(crate::tmux::layout::Layout::Custom { panes: cells }) if cells < panes => {
            format!("the layout string has {cells} pane(s), but {what} has {panes}")
        }
        Ok(_) => return Some(text),
        Err(message) => message,
    };
    let names = crate::tmux::layout::NAMES;
    reader.problem(
        Problem::new("invalid_value", node.span.clone(), problem, "this layout").help(
            crate::suggest::hint(&text, names.iter().copied()).unwrap_or_else(|| {
                format!("layouts: {}, or a layout string from `#{{window_layout}}`", names.join(", "))
            }),
        ),
    );
    None
}

/// Reads a session `size: 200x50` (columns x rows, as tmux's `new-session -x -y` takes them).
fn lower_size(reader: &mut Reader<'_>, node: &Node, what: &str) -> Option<(u16, u16)> {
    let text = reader.string(node, &format!("{what}.size"))?;
    let parsed = text
        .split_once('x')
        .and_then(|(w, h)| Some((w.trim().parse::<u16>().ok()?, h.trim().parse::<u16>().ok()?)))
        .filter(|(w, h)| (1..=10_000).contains(w) && (1..=10_000).contains(h));
    if parsed.is_none() {
        reader.problem(
            Problem::new("invalid_value", node.span.clone(), format!("invalid size `{text}`"), "not COLUMNSxROWS")
                .help("write the size as columns x rows, e.g. `size: 200x50` (1 to 10000 each)"),
        );
    }
    parsed
}

fn lower_window(
    reader: &mut Reader<'_>,
    session: &str,
    name: &str,
    node: &Node,
    outer: &Inherited,
    declared: &mut Vec<(String, DeclaredDep)>,
) -> Option<Window> {
    let what = format!("window `{session}:{name}`");
    if matches!(node.kind, NodeKind::Scalar { .. } | NodeKind::Seq(_)) {
        let pane = pane::lower_pane(reader, session, name, name, node, outer, declared)?;
        return Some(Window {
            name: name.into(),
            layout: None,
            focus: false,
            index: None,
            options: IndexMap::new(),
            panes: IndexMap::from([(name.to_string(), pane)]),
        });
    }
    let f = reader.fields(node, &what, WINDOW_KEYS)?;
    let inherited = cascade(reader, &f, outer, &what);
    let focus = f.get("focus").and_then(|n| reader.bool(n, "focus")).unwrap_or(false);
    let Some(pnode) = f.get("panes") else {
        reader.problem(
            Problem::new("missing_key", node.span.clone(), format!("{what} has no `panes`"), "needs `panes:`")
                .help("add `panes:` with at least one pane, e.g. `panes: { main: echo hi }`"),
        );
        return None;
    };
    let panes = lower_panes(reader, session, name, false, pnode, &inherited, declared);
    let layout = f.get("layout").and_then(|n| lower_layout(reader, n, &what, panes.len()));
    let index = f.get("index").and_then(|n| reader.u32(n, &format!("{what}.index")));
    let options = f
        .get("options")
        .map(|n| super::options::lower_options(reader, n, &what, super::options::Level::Window))
        .unwrap_or_default();
    Some(Window { name: name.into(), layout, focus, index, options, panes })
}

fn lower_panes(
    reader: &mut Reader<'_>,
    session: &str,
    window: &str,
    shorthand: bool,
    node: &Node,
    outer: &Inherited,
    declared: &mut Vec<(String, DeclaredDep)>,
) -> IndexMap<String, Pane> {
    // The `panes:` shorthand puts them in a window named after the session: name the session.
    let what = if shorthand {
        format!("the panes of session `{session}`")
    } else {
        format!("the panes of window `{session}:{window}`")
    };
    let mut panes = IndexMap::new();
    if let NodeKind::Seq(_) = node.kind {
        reader.problem(
            Problem::new(
                "invalid_type",
                node.span.clone(),
                format!("{what} must be a map of name → pane, found a list"),
                "a list",
            )
            .help("name each pane, so it has an address (`session/name`): `panes: { server: cargo run, tests: cargo test }`"),
        );
        return panes;
    }
    let entries = reader.entries(node, &what).unwrap_or_default();
    if entries.is_empty() && matches!(node.kind, NodeKind::Map(_) | NodeKind::Null) {
        reader.problem(Problem::new("missing_key", node.span.clone(), format!("{what}: no panes"), "empty"));
    }
    for &(key, value) in &entries {
        let Some(pname) = checked_name(reader, key.name.clone(), key.span.clone(), "pane") else {
            continue;
        };
        let Some(count) = replica_count(reader, session, &pname, value) else {
            if let Some(p) = pane::lower_pane(reader, session, window, &pname, value, outer, declared) {
                panes.insert(pname, p);
            }
            continue;
        };
        // `replicas: N`: panes NAME-1…NAME-N, each with CTMUX_REPLICA; a problem in the spec is
        // reported once, for the first.
        let mut names = Vec::new();
        for i in 1..=count {
            let name = format!("{pname}-{i}");
            let mut inner = outer.clone();
            inner.env.insert("CTMUX_REPLICA".into(), i.to_string());
            let seen = (reader.problems.len(), reader.warnings.len());
            let lowered = pane::lower_pane(reader, session, window, &name, value, &inner, declared);
            if i > 1 {
                reader.problems.truncate(seen.0);
                reader.warnings.truncate(seen.1);
            }
            if let Some(p) = lowered {
                if entries.iter().any(|(k, _)| k.name == name) || panes.contains_key(&name) {
                    reader.problem(
                        Problem::new(
                            "duplicate_name",
                            key.span.clone(),
                            format!("replica `{name}` of pane `{pname}` has the name of another pane"),
                            "replicated here",
                        )
                        .help("replicas are named NAME-1…NAME-N: rename the other pane"),
                    );
                    break;
                }
                names.push(format!("{session}/{name}"));
                panes.insert(name, p);
            }
        }
        reader.replicas.insert(format!("{session}/{pname}"), names);
    }
    panes
}

/// The most replicas one pane may have.
pub const MAX_REPLICAS: u32 = 100;

/// A pane's replica count: `up --scale` for it, else its `replicas:`; `None` when it is one pane.
fn replica_count(reader: &mut Reader<'_>, session: &str, pane: &str, node: &Node) -> Option<u32> {
    let address = format!("{session}/{pane}");
    let scaled = [address.as_str(), pane].into_iter().find_map(|k| reader.scale.get(k).map(|n| (k.to_string(), *n)));
    let declared = match &node.kind {
        NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.name == "replicas").map(|(_, v)| v),
        _ => None,
    };
    if let NodeKind::Map(entries) = &node.kind
        && let Some((k, _)) = entries.iter().find(|(k, _)| k.name == "ports")
        && (declared.is_some() || reader.scale.contains_key(&address) || reader.scale.contains_key(pane))
    {
        reader.problem(
            Problem::new(
                "not_supported",
                k.span.clone(),
                format!("`ports` on the replicated pane `{address}` is not supported yet"),
                "not supported yet",
            )
            .help("give the ports to a pane with one replica, or drop `replicas:`"),
        );
    }
    let from_manifest = declared.and_then(|n| {
        let count = reader.u32(n, &format!("pane `{address}`.replicas"))?;
        if count == 0 || count > MAX_REPLICAS {
            reader.problem(
                Problem::new(
                    "invalid_value",
                    n.span.clone(),
                    format!("replicas: {count} is out of range"),
                    format!("1 to {MAX_REPLICAS}"),
                )
                .help(format!("a replicated pane has 1 to {MAX_REPLICAS} replicas; remove `replicas:` for one pane")),
            );
            return None;
        }
        Some(count)
    });
    if let Some((key, n)) = scaled {
        reader.scale_used.insert(key);
        return Some(n);
    }
    from_manifest
}

/// Pane names must be unique in a session so `session/pane` addresses are unambiguous.
fn check_unique_panes(reader: &mut Reader<'_>, root: &Node, sessions: &IndexMap<String, Session>) {
    for session in sessions.values() {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for window in session.windows.values() {
            for pane in window.panes.keys() {
                if let Some((_, first_window)) = seen.iter().find(|(p, _)| p == pane) {
                    let span = find_key_span(root, &[&session.name, &window.name, pane]).unwrap_or(0..0);
                    reader.problem(
                        Problem::new(
                            "duplicate_name",
                            span,
                            format!(
                                "pane `{pane}` appears twice in session `{}` (windows `{first_window}` and `{}`)",
                                session.name, window.name
                            ),
                            "second pane with this name",
                        )
                        .help("pane names are unique within a session so that `session/pane` addresses one pane"),
                    );
                } else {
                    seen.push((pane, &window.name));
                }
            }
        }
    }
}

/// Finds the span of the last key in a path of map keys, descending through any map.
fn find_key_span(root: &Node, path: &[&str]) -> Option<Span> {
    fn walk(node: &Node, path: &[&str], out: &mut Option<Span>) {
        if let NodeKind::Map(entries) = &node.kind {
            for (k, v) in entries {
                if k.name == path[0] {
                    if path.len() == 1 {
                        *out = Some(k.span.clone());
                    } else {
                        walk(v, &path[1..], out);
                    }
                }
                if path.len() > 1 || out.is_none() {
                    walk(v, path, out);
                }
            }
        }
    }
    let mut out = None;
    walk(root, path, &mut out);
    out
}

/// Checks a session, window, pane or project name: tmux forbids `:` and `.`, addresses use `/`.
/// Session and window names may also hold spaces, quotes and other punctuation, as tmux's own do
/// (so a snapshot of any tmux session loads back); pane and project names are identifiers.
fn checked_name(reader: &mut Reader<'_>, name: String, span: Span, kind: &str) -> Option<String> {
    let ok = if kind == "session" {
        valid_session_name(&name)
    } else if kind == "window" {
        valid_tmux_name(&name)
    } else {
        !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    };
    if ok {
        return Some(name);
    }
    let rule = if kind == "session" {
        "names hold no `:`, `.`, `/`, `$`, `\\` or control characters and do not start or end with a space"
    } else if kind == "window" {
        "names hold no `:`, `.`, `/` or control characters and do not start or end with a space"
    } else {
        "names use letters, digits, `-` and `_`"
    };
    reader.problem(
        Problem::new("invalid_name", span, format!("invalid {kind} name `{name}`"), "invalid name").help(format!(
            "{kind} {rule} (tmux reserves `:` and `.`, addresses use `/`); try `{}`",
            sanitize_name(&name)
        )),
    );
    None
}

/// Whether `name` can be a session name: as [`valid_tmux_name`], and without `$` or `\\`, which
/// tmux 3.3a escapes in session names (`a$b` becomes `a\\$b`), so the name would not match.
pub fn valid_session_name(name: &str) -> bool {
    valid_tmux_name(name) && !name.contains(['$', '\\'])
}

/// Whether `name` can be a session or window name: tmux targets split at `:` and `.`, ctmux
/// addresses at `/`; control characters and edge spaces would not survive a round trip.
pub fn valid_tmux_name(name: &str) -> bool {
    !name.is_empty() && name.trim() == name && !name.chars().any(|c| c == ':' || c == '.' || c == '/' || c.is_control())
}

/// Turns a directory name into a valid project name.
pub fn sanitize_name(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if s.is_empty() { "ctmux".into() } else { s }
}

/// Resolves `path` against `base`, expanding a leading `~`.
pub fn resolve_path(base: &Path, path: &str) -> PathBuf {
    let expanded = match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            std::env::var("HOME").map(|h| format!("{h}{rest}")).unwrap_or_else(|_| path.to_string())
        }
        _ => path.to_string(),
    };
    normalize(&base.join(expanded))
}

/// Removes `.` and `..` components without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
