//! Reading what a tmux server runs, in one call: sessions, windows (name, order, layout string,
//! size, active) and panes (cwd, pid, tags). Pure parsing is separate from the call so it can be
//! tested on recorded output.

use crate::tmux::{Cmd, Tmux, TmuxError};

/// Field separator of our formats (a control character no session or window name may hold).
const SEP: char = '\x1f';

const SESSION_FIELDS: [&str; 4] = ["#{session_name}", "#{session_id}", "#{@ctmux-manifest}", "#{base-index}"];

const PANE_FIELDS: [&str; 17] = [
    "#{session_id}",
    "#{window_index}",
    "#{window_name}",
    "#{window_layout}",
    "#{window_active}",
    "#{window_width}",
    "#{window_height}",
    "#{pane_id}",
    "#{pane_active}",
    "#{pane_current_path}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{@ctmux-project}",
    "#{@ctmux-id}",
    "#{pane_title}",
    "#{window_zoomed_flag}",
    "#{pane_index}",
];

/// Everything a snapshot needs from the server.
#[derive(Debug, Default)]
pub struct Captured {
    /// The server's socket path (for the header).
    pub socket: String,
    /// tmux version.
    pub version: String,
    /// The host name: tmux's default pane title.
    pub host: String,
    /// The server's `default-shell`.
    pub default_shell: String,
    /// Sessions in tmux's order (by name).
    pub sessions: Vec<CapturedSession>,
}

/// One session and its windows in index order.
#[derive(Debug, Default)]
pub struct CapturedSession {
    /// Session name.
    pub name: String,
    /// `$N`.
    pub id: String,
    /// `@ctmux-manifest`: the manifest that created it, if ctmux did.
    pub manifest: String,
    /// Windows by index.
    pub windows: Vec<CapturedWindow>,
    /// The session's own tmux options (set on it, not inherited), ctmux's left out.
    pub options: Vec<(String, String)>,
    /// The `base-index` its windows count from (its own, else the global one).
    pub base_index: u32,
}

/// One window.
#[derive(Debug, Default)]
pub struct CapturedWindow {
    /// Index in the session.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `#{window_layout}`: the unzoomed layout, which `select-layout` takes back.
    pub layout: String,
    /// The session's current window.
    pub active: bool,
    /// Was zoomed (restored unzoomed).
    pub zoomed: bool,
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
    /// Panes by index.
    pub panes: Vec<CapturedPane>,
    /// The window's own tmux options, ctmux's left out.
    pub options: Vec<(String, String)>,
}

/// One pane.
#[derive(Debug, Default, Clone)]
pub struct CapturedPane {
    /// `%N`.
    pub id: String,
    /// The window's active pane.
    pub active: bool,
    /// Current directory of its foreground process.
    pub cwd: String,
    /// The pane's own process.
    pub pid: u32,
    /// Its process has exited.
    pub dead: bool,
    /// `@ctmux-project`.
    pub project: String,
    /// `@ctmux-id` (`session/pane`), empty when unmanaged.
    pub address: String,
    /// Pane title.
    pub title: String,
    /// The pane's own tmux options and user options (not ctmux's), read for unmanaged panes only.
    pub options: Vec<(String, String)>,
    /// `pane new --name` (`@ctmux-name`) of an unmanaged pane.
    pub name: String,
    /// `pane meta` (`@ctmux-meta-<key>`) of an unmanaged pane: key → value.
    pub metadata: Vec<(String, String)>,
}

/// Reads the server in one tmux call.
pub async fn capture(tmux: &Tmux) -> Result<Captured, TmuxError> {
    let join = |f: &[&str]| f.join(&SEP.to_string());
    let cmds = [
        Cmd::query("display-message").args(["-p", &format!("H{SEP}#{{socket_path}}{SEP}#{{version}}{SEP}#{{host}}")]),
        Cmd::query("show-options").args(["-gv", "default-shell"]),
        Cmd::query("list-sessions").args(["-F", &format!("S{SEP}{}", join(&SESSION_FIELDS))]),
        Cmd::query("list-panes").args(["-a", "-F", &format!("P{SEP}{}", join(&PANE_FIELDS))]),
    ];
    let mut captured = parse(&tmux.run(&cmds).await?);
    read_options(tmux, &mut captured).await?;
    Ok(captured)
}

/// Whether a live option is written into a snapshot: not ctmux's own (`@ctmux-…`, and the
/// options it sets itself), not an array, not `automatic-rename off` (tmux's mark of a window
/// created with a name, which `up` names again) — and one a manifest can hold.
fn kept(level: u8, name: &str, value: &str) -> bool {
    use crate::tmux::options as table;
    if name.starts_with("@ctmux-") || table::reserved(name).is_some() || name.contains('[') {
        return false;
    }
    if name.starts_with('@') {
        return table::valid_user_option(name);
    }
    if name == "automatic-rename" && value == "off" {
        return false;
    }
    table::lookup(name).is_some_and(|d| d.scope & level != 0 && table::normalize(d.kind, value).is_ok())
}

/// Reads the options set on each session and window, and on each unmanaged pane: their names
/// (`show-options`), then each value unquoted (`show-options -qv`), two calls in all.
async fn read_options(tmux: &Tmux, captured: &mut Captured) -> Result<(), TmuxError> {
    use crate::tmux::options::{PANE, SESSION, WINDOW};
    // (level, flag, target, where the values go: session, window, pane index path)
    type Place = (u8, &'static str, String, usize, Option<usize>, Option<usize>);
    let mut places: Vec<Place> = Vec::new();
    for (si, s) in captured.sessions.iter().enumerate() {
        places.push((SESSION, "", format!("{}:", s.id), si, None, None));
        for (wi, w) in s.windows.iter().enumerate() {
            places.push((WINDOW, "-w", format!("{}:{}", s.id, w.index), si, Some(wi), None));
            for (pi, p) in w.panes.iter().enumerate() {
                if p.address.is_empty() {
                    places.push((PANE, "-p", p.id.clone(), si, Some(wi), Some(pi)));
                }
            }
        }
    }
    if places.is_empty() {
        return Ok(());
    }
    let marker = |i: usize| Cmd::query("display-message").args(["-p", &format!("O{SEP}{i}")]);
    let show = |flag: &str, target: &str, extra: &[&str]| {
        let mut c = Cmd::query("show-options");
        if !flag.is_empty() {
            c = c.arg(flag);
        }
        c.args(extra.iter().copied()).opt("-t", target)
    };
    let mut cmds = Vec::new();
    for (i, (_, flag, target, ..)) in places.iter().enumerate() {
        cmds.push(marker(i));
        cmds.push(show(flag, target, &[]));
    }
    let mut names: Vec<(usize, String)> = Vec::new();
    let mut current = 0;
    for line in tmux.run(&cmds).await?.lines() {
        if let Some(i) = line.strip_prefix(&format!("O{SEP}")) {
            current = i.parse().unwrap_or(0);
        } else if let Some(name) = line.split_whitespace().next() {
            names.push((current, name.to_string()));
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    let mut cmds = Vec::new();
    for (i, (place, name)) in names.iter().enumerate() {
        let (_, flag, target, ..) = &places[*place];
        cmds.push(marker(i));
        cmds.push(show(flag, target, &["-qv"]).arg(name.clone()));
    }
    let text = tmux.run(&cmds).await?;
    let sep = format!("O{SEP}");
    let mut values = text.split(&sep).skip(1);
    for (place, name) in names {
        let value =
            values.next().and_then(|chunk| chunk.split_once('\n')).map(|(_, v)| v.strip_suffix('\n').unwrap_or(v));
        let Some(value) = value else { continue };
        let (level, _, _, si, wi, pi) = &places[place];
        let session = &mut captured.sessions[*si];
        if let (Some(w), Some(p)) = (wi, pi) {
            // What `pane new --name` and `pane meta` set on a pane ctmux did not create.
            let pane = &mut session.windows[*w].panes[*p];
            if name == "@ctmux-name" {
                pane.name = value.to_string();
                continue;
            }
            if let Some(key) = name.strip_prefix("@ctmux-meta-") {
                pane.metadata.push((key.to_string(), value.to_string()));
                continue;
            }
        }
        if !kept(*level, &name, value) {
            continue;
        }
        let list = match (wi, pi) {
            (None, _) => &mut session.options,
            (Some(w), None) => &mut session.windows[*w].options,
            (Some(w), Some(p)) => &mut session.windows[*w].panes[*p].options,
        };
        list.push((name, value.to_string()));
    }
    Ok(())
}

/// Parses the output of [`capture`]'s call.
pub fn parse(text: &str) -> Captured {
    let mut out = Captured::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(SEP).collect();
        match f[0] {
            "H" if f.len() == 4 => {
                out.socket = f[1].into();
                out.version = f[2].into();
                out.host = f[3].into();
            }
            "S" if f.len() == 1 + SESSION_FIELDS.len() => out.sessions.push(CapturedSession {
                name: f[1].into(),
                id: f[2].into(),
                manifest: f[3].into(),
                windows: Vec::new(),
                options: Vec::new(),
                base_index: f[4].parse().unwrap_or(0),
            }),
            "P" if f.len() == 1 + PANE_FIELDS.len() => add_pane(&mut out, &f[1..]),
            _ if f.len() == 1 && out.default_shell.is_empty() && line.starts_with('/') => {
                out.default_shell = line.into();
            }
            _ => {}
        }
    }
    for s in &mut out.sessions {
        s.windows.sort_by_key(|w| w.index);
    }
    out
}

fn add_pane(out: &mut Captured, f: &[&str]) {
    let Some(session) = out.sessions.iter_mut().find(|s| s.id == f[0]) else {
        return;
    };
    let index: u32 = f[1].parse().unwrap_or(0);
    let pos = match session.windows.iter().position(|w| w.index == index) {
        Some(pos) => pos,
        None => {
            session.windows.push(CapturedWindow {
                index,
                name: f[2].into(),
                layout: f[3].into(),
                active: f[4] == "1",
                width: f[5].parse().unwrap_or(0),
                height: f[6].parse().unwrap_or(0),
                zoomed: f[15] == "1",
                panes: Vec::new(),
                options: Vec::new(),
            });
            session.windows.len() - 1
        }
    };
    session.windows[pos].panes.push(CapturedPane {
        id: f[7].into(),
        active: f[8] == "1",
        cwd: f[9].into(),
        pid: f[10].parse().unwrap_or(0),
        dead: f[11] == "1",
        project: f[12].into(),
        address: f[13].into(),
        title: f[14].into(),
        options: Vec::new(),
        name: String::new(),
        metadata: Vec::new(),
    });
}
