//! `ctmux snapshot`: what a tmux server runs now, written back as a ctmux manifest that
//! `ctmux validate` accepts and `ctmux up -f` / `ctmux restore` bring back.
//!
//! Managed panes are taken from the manifest that created them ([`managed`]); other panes are
//! captured best-effort and honestly ([`argv`]): the program's full argv, cwd, and each window's
//! layout string at the session's size. What cannot be captured is said in the header.

pub mod argv;
pub mod capture;
pub mod layout;
pub mod managed;
pub mod store;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::manifest::model::{Command, Pane, Restart, Stop};
use argv::Running;
use capture::{Captured, CapturedPane, CapturedSession};

/// Which sessions to write.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every session on the server.
    All,
    /// These session names.
    Sessions(Vec<String>),
    /// The sessions holding panes of this project.
    Project(String),
}

/// A snapshot: the manifest document and what could not be captured.
#[derive(Debug)]
pub struct Snapshot {
    /// The manifest, as data.
    pub document: Value,
    /// Sessions written.
    pub sessions: usize,
    /// Panes written.
    pub panes: usize,
    /// What could not be captured or was changed to fit a manifest, one line each.
    pub notes: Vec<String>,
    /// The server's socket path.
    pub socket: String,
    /// tmux's version.
    pub tmux_version: String,
}

/// The sessions of `captured` that `selection` names.
pub fn select<'c>(captured: &'c Captured, selection: &Selection) -> Vec<&'c CapturedSession> {
    captured
        .sessions
        .iter()
        .filter(|s| match selection {
            Selection::All => true,
            Selection::Sessions(names) => names.contains(&s.name),
            Selection::Project(project) => {
                s.windows.iter().flat_map(|w| &w.panes).any(|p| !p.address.is_empty() && &p.project == project)
            }
        })
        .collect()
}

struct PaneOut {
    name: String,
    value: Value,
}

/// Builds the snapshot of `sessions`; `fallback_name` names the project when no managed pane does.
pub fn build(captured: &Captured, sessions: &[&CapturedSession], fallback_name: &str) -> Snapshot {
    let mut sources = managed::Sources::default();
    let mut notes = Vec::new();
    let mut project_names: Vec<String> = Vec::new();
    let mut out_sessions: Vec<(String, Value)> = Vec::new();
    let mut addresses: Vec<String> = Vec::new();
    let mut pane_count = 0;
    let mut zoomed = Vec::new();
    for session in sessions {
        if !crate::manifest::lower::valid_session_name(&session.name) {
            notes.push(format!("session `{}` skipped: its name cannot be a manifest name", session.name));
            continue;
        }
        let width = session.windows.iter().map(|w| w.width).max().unwrap_or(0);
        let height = session.windows.iter().map(|w| w.height).max().unwrap_or(0);
        let mut used: Vec<String> = session
            .windows
            .iter()
            .flat_map(|w| &w.panes)
            .filter_map(|p| p.address.split_once('/').map(|(_, n)| n.to_string()))
            .collect();
        let mut windows = Map::new();
        // The index `up` would give the next window (from `base-index`, then one more each).
        let mut natural = session.base_index;
        for window in &session.windows {
            let mut wname = window.name.clone();
            if !crate::manifest::lower::valid_tmux_name(&wname) {
                wname = crate::manifest::lower::sanitize_name(&wname);
                notes.push(format!("window `{}:{}` renamed `{wname}` to fit a manifest", session.name, window.name));
            }
            if windows.contains_key(&wname) {
                let unique =
                    (2..).map(|i| format!("{wname}-{i}")).find(|n| !windows.contains_key(n)).unwrap_or_default();
                notes.push(format!(
                    "window `{}:{wname}` (index {}) renamed `{unique}`: window names are unique in a manifest",
                    session.name, window.index
                ));
                wname = unique;
            }
            if window.zoomed {
                zoomed.push(format!("{}:{wname}", session.name));
            }
            let mut panes = Map::new();
            for pane in &window.panes {
                let multi = window.panes.len() > 1;
                let mut out = match managed_pane(&mut sources, session, pane, &mut notes) {
                    Some((out, project)) => {
                        if !project_names.contains(&project) {
                            project_names.push(project);
                        }
                        out
                    }
                    None => unmanaged_pane(captured, pane, &mut used, &mut notes),
                };
                if let Value::Object(m) = &mut out.value {
                    m.remove("focus");
                    if multi && pane.active {
                        m.insert("focus".into(), json!(true));
                    }
                }
                addresses.push(format!("{}/{}", session.name, out.name));
                panes.insert(out.name, out.value);
                pane_count += 1;
            }
            let mut w = Map::new();
            if window.index != natural {
                w.insert("index".into(), json!(window.index));
            }
            natural = window.index + 1;
            options_into(&mut w, &window.options);
            w.insert("layout".into(), json!(layout::canonical(&window.layout)));
            if window.active && session.windows.len() > 1 {
                w.insert("focus".into(), json!(true));
            }
            w.insert("panes".into(), Value::Object(panes));
            windows.insert(wname, Value::Object(w));
        }
        let mut s = Map::new();
        if width > 0 && height > 0 {
            s.insert("size".into(), json!(format!("{width}x{height}")));
        }
        options_into(&mut s, &session.options);
        s.insert("windows".into(), Value::Object(windows));
        out_sessions.push((session.name.clone(), Value::Object(s)));
    }
    drop_missing_dependencies(&mut out_sessions, &addresses, &mut notes);
    if !zoomed.is_empty() {
        notes.push(format!("zoomed windows are written unzoomed: {}", zoomed.join(", ")));
    }
    if project_names.len() > 1 {
        notes.push(format!("panes of several projects ({}) are written as one project", project_names.join(", ")));
    }
    let name = project_names.first().cloned().unwrap_or_else(|| fallback_name.to_string());
    let mut top = Map::new();
    top.insert("version".into(), json!(1));
    top.insert("name".into(), json!(name));
    let env_files = sources.env_files();
    if !env_files.is_empty() {
        top.insert("env_file".into(), Value::Array(env_files.iter().map(|f| json!(f.to_string_lossy())).collect()));
    }
    project_level(&mut top, &sources, &addresses, &mut notes);
    top.insert("sessions".into(), Value::Object(out_sessions.into_iter().collect()));
    Snapshot {
        document: Value::Object(top),
        sessions: sessions.len(),
        panes: pane_count,
        notes,
        socket: captured.socket.clone(),
        tmux_version: captured.version.clone(),
    }
}

/// What the managed sessions' manifests say beyond their sessions: global `options:` (as the
/// manifest sets them), `groups:` (the addresses this snapshot holds) and `snapshots:`.
fn project_level(
    top: &mut Map<String, Value>,
    sources: &managed::Sources,
    addresses: &[String],
    notes: &mut Vec<String>,
) {
    let mut projects = sources.projects();
    projects.sort_by(|a, b| a.name.cmp(&b.name));
    let mut options = Map::new();
    let mut groups = Map::new();
    for p in &projects {
        for (k, v) in &p.options {
            options.insert(k.clone(), json!(crate::manifest::interpolate::escape(v)));
        }
        for (name, members) in &p.groups {
            let kept: Vec<&String> = members.iter().filter(|m| addresses.contains(m)).collect();
            if kept.len() < members.len() {
                notes.push(format!("group `{name}`: members not in this snapshot left out"));
            }
            if !kept.is_empty() {
                groups.insert(name.clone(), json!(kept));
            }
        }
        if !p.hooks.is_empty() {
            notes.push(format!(
                "project `{}`: its `hooks:` are not written (a snapshot records what runs; copy them from its manifest)",
                p.name
            ));
        }
        if let Some(a) = &p.snapshots
            && !top.contains_key("snapshots")
        {
            let interval = crate::units::format_duration(a.interval);
            top.insert("snapshots".into(), json!({ "interval": interval, "keep": a.keep }));
        }
    }
    if !options.is_empty() {
        top.insert("options".into(), Value::Object(options));
    }
    if !groups.is_empty() {
        top.insert("groups".into(), Value::Object(groups));
    }
}

/// `options:` of one level, when it has any (values escaped for interpolation).
fn options_into(m: &mut Map<String, Value>, options: &[(String, String)]) {
    if !options.is_empty() {
        let values = options.iter().map(|(k, v)| (k.clone(), json!(crate::manifest::interpolate::escape(v))));
        m.insert("options".into(), Value::Object(values.collect()));
    }
}

/// A managed pane from its manifest, and its project's name; `None` sends it to best effort.
fn managed_pane(
    sources: &mut managed::Sources,
    session: &CapturedSession,
    pane: &CapturedPane,
    notes: &mut Vec<String>,
) -> Option<(PaneOut, String)> {
    if pane.address.is_empty() {
        return None;
    }
    let Some(source) = (!session.manifest.is_empty()).then(|| sources.get(&session.manifest)).flatten() else {
        notes.push(format!(
            "{} ({}): its manifest {} cannot be loaded; captured from the running process",
            pane.address,
            pane.id,
            if session.manifest.is_empty() { "is unknown" } else { &session.manifest }
        ));
        return None;
    };
    let Some((spec, value, kept)) = source.pane(&pane.address) else {
        notes.push(format!(
            "{} ({}): no longer in {}; captured from the running process",
            pane.address, pane.id, session.manifest
        ));
        return None;
    };
    if !kept {
        notes.push(format!("{}: variables written with their values (the manifest needs them to load)", pane.address));
    }
    Some((PaneOut { name: spec.name, value }, source.name().to_string()))
}

/// A pane ctmux did not create: its program's argv, its cwd, a shell when idle.
fn unmanaged_pane(
    captured: &Captured,
    pane: &CapturedPane,
    used: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> PaneOut {
    let shell = if captured.default_shell.is_empty() { "/bin/sh".to_string() } else { captured.default_shell.clone() };
    let running = if pane.dead { Running::Unknown } else { argv::running(pane.pid, &shell) };
    let (command, keep_shell) = match running {
        Running::IdleShell => (None, false),
        Running::Program { argv, under_shell } => (Some(Command::Argv(argv)), under_shell),
        Running::Unknown => {
            notes.push(format!(
                "{}: {}; written as a shell",
                pane.id,
                if pane.dead { "its process had exited" } else { "its program could not be read from /proc" }
            ));
            (None, false)
        }
    };
    let base = match &command {
        // `pane new --name`: the name it is addressed by.
        _ if crate::manifest::lower::valid_tmux_name(&pane.name) && !pane.name.contains('/') => pane.name.clone(),
        Some(Command::Argv(argv)) => {
            crate::manifest::lower::sanitize_name(argv[0].rsplit('/').next().unwrap_or("pane"))
        }
        _ => "shell".into(),
    };
    let name = if used.contains(&base) {
        (2..).map(|i| format!("{base}-{i}")).find(|n| !used.contains(n)).unwrap_or_default()
    } else {
        base
    };
    used.push(name.clone());
    // tmux reports no path for a pane whose process it cannot read at that instant (one that is
    // starting); /proc has it once the process runs.
    let cwd = if pane.cwd.is_empty() {
        let group = crate::process::foreground_group(pane.pid).unwrap_or(pane.pid);
        [group, pane.pid]
            .iter()
            .find_map(|p| std::fs::read_link(format!("/proc/{p}/cwd")).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        pane.cwd.clone()
    };
    if cwd.is_empty() {
        notes.push(format!("{}: its directory could not be read; it starts in the manifest's", pane.id));
    }
    let mut stop = Stop::default();
    if command.is_none() || keep_shell {
        stop.signal = "SIGHUP".into();
    }
    let spec = Pane {
        name: name.clone(),
        session: String::new(),
        window: String::new(),
        command_text: crate::manifest::model::ShownText(command.as_ref().map(Command::display)),
        command,
        cwd: cwd.into(),
        env: IndexMap::new(),
        shell,
        depends_on: Vec::new(),
        ready_when: None,
        health: None,
        restart: Restart::No,
        max_restarts: None,
        stop,
        limits: None,
        on: Vec::new(),
        metadata: pane.metadata.iter().cloned().collect(),
        // tmux titles a pane with the host name until told otherwise.
        title: (!pane.title.is_empty() && pane.title != captured.host).then(|| pane.title.clone()),
        options: pane.options.iter().cloned().collect(),
        focus: false,
        keep_shell,
        job: false,
        gc: crate::manifest::model::GcOverride::default(),
        watch: None,
    };
    let mut value = crate::manifest::config::pane(&spec);
    if let Some(m) = value.as_object_mut().filter(|_| spec.cwd.as_os_str().is_empty()) {
        m.shift_remove("cwd");
    }
    PaneOut { name, value }
}

/// Removes dependencies on panes the snapshot does not hold (it would not load otherwise).
fn drop_missing_dependencies(sessions: &mut [(String, Value)], addresses: &[String], notes: &mut Vec<String>) {
    for (sname, session) in sessions.iter_mut() {
        let Some(windows) = session.get_mut("windows").and_then(Value::as_object_mut) else { continue };
        for window in windows.values_mut() {
            let Some(panes) = window.get_mut("panes").and_then(Value::as_object_mut) else { continue };
            for (pname, pane) in panes.iter_mut() {
                let Some(deps) = pane.get_mut("depends_on").and_then(Value::as_object_mut) else { continue };
                let missing: Vec<String> = deps.keys().filter(|d| !addresses.contains(d)).cloned().collect();
                for d in missing {
                    deps.shift_remove(&d);
                    notes.push(format!("{sname}/{pname}: dependency on {d} dropped (not in this snapshot)"));
                }
                if deps.is_empty()
                    && let Some(m) = pane.as_object_mut()
                {
                    m.shift_remove("depends_on");
                }
            }
        }
    }
}

/// What no snapshot captures (said in every header).
pub const NOT_CAPTURED: &str = "the environment of panes ctmux did not start, scrollback, programs' internal state";

impl Snapshot {
    /// The snapshot as a file in `dir` holds it: every `cwd` and `env_file` beneath `dir` written
    /// relative to it (`.`, `api`), so the file can be checked in and used from another clone;
    /// paths elsewhere stay absolute. A manifest resolves them against its own directory.
    pub fn relative_to(&self, dir: &std::path::Path) -> Snapshot {
        let mut document = self.document.clone();
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let rel = |v: &mut Value| {
            let Some(path) = v.as_str() else { return };
            let path = std::path::Path::new(path);
            if let Ok(rest) = path.strip_prefix(&dir) {
                let text = rest.to_string_lossy();
                *v = json!(if text.is_empty() { ".".to_string() } else { text.into_owned() });
            }
        };
        if let Some(files) = document.get_mut("env_file").and_then(Value::as_array_mut) {
            files.iter_mut().for_each(rel);
        }
        let sessions = document.get_mut("sessions").and_then(Value::as_object_mut);
        for session in sessions.into_iter().flat_map(|m| m.values_mut()) {
            let windows = session.get_mut("windows").and_then(Value::as_object_mut);
            for window in windows.into_iter().flat_map(|m| m.values_mut()) {
                let panes = window.get_mut("panes").and_then(Value::as_object_mut);
                for pane in panes.into_iter().flat_map(|m| m.values_mut()) {
                    if let Some(cwd) = pane.get_mut("cwd") {
                        rel(cwd);
                    }
                }
            }
        }
        Snapshot {
            document,
            sessions: self.sessions,
            panes: self.panes,
            notes: self.notes.clone(),
            socket: self.socket.clone(),
            tmux_version: self.tmux_version.clone(),
        }
    }

    /// The header comment: when, from which server, and what could not be captured.
    pub fn header(&self, taken: &str) -> String {
        let mut h = format!(
            "# ctmux snapshot taken {taken} from tmux {} server {}\n# {} session(s), {} pane(s); restore with `ctmux restore FILE` (or `ctmux up -f FILE`)\n# not captured: {NOT_CAPTURED}\n",
            self.tmux_version, self.socket, self.sessions, self.panes
        );
        for note in &self.notes {
            h.push_str(&format!("# note: {}\n", note.replace('\n', " ")));
        }
        h
    }

    /// The manifest text: header, then YAML, or TOML when `toml` is set.
    pub fn render(&self, taken: &str, toml: bool) -> Result<String, String> {
        let body = if toml {
            toml::to_string_pretty(&self.document).map_err(|e| format!("cannot write TOML: {e}"))?
        } else {
            serde_saphyr::to_string(&self.document).map_err(|e| format!("cannot write YAML: {e}"))?
        };
        Ok(format!("{}{body}", self.header(taken)))
    }
}
