//! Reading what a tmux server runs, in one call: sessions, windows (name, order, layout string,
//! size, active) and panes (cwd, pid, tags). Pure parsing is separate from the call so it can be
//! tested on recorded output.

use crate::tmux::{Cmd, Tmux, TmuxError};

/// Field separator of our formats (a control character no session or window name may hold).
const SEP: char = '\x1f';

const SESSION_FIELDS: [&str; 3] = ["#{session_name}", "#{session_id}", "#{@ctmux-manifest}"];

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
    /// User options (`@name`, not ctmux's own), read for unmanaged panes only.
    pub options: Vec<(String, String)>,
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

/// Reads the user options of unmanaged panes: their names (`show-options -p`), then each value
/// unquoted (`show-options -pqv`), two calls in all.
async fn read_options(tmux: &Tmux, captured: &mut Captured) -> Result<(), TmuxError> {
    let ids: Vec<String> = captured
        .sessions
        .iter()
        .flat_map(|s| &s.windows)
        .flat_map(|w| &w.panes)
        .filter(|p| p.address.is_empty())
        .map(|p| p.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let marker = |id: &str| Cmd::query("display-message").args(["-p", &format!("O{SEP}{}", id.replace('%', "%%"))]);
    let mut cmds = Vec::new();
    for id in &ids {
        cmds.push(marker(id));
        cmds.push(Cmd::query("show-options").args(["-p", "-t", id]));
    }
    let mut names: Vec<(String, String)> = Vec::new();
    let mut current = String::new();
    for line in tmux.run(&cmds).await?.lines() {
        if let Some(id) = line.strip_prefix(&format!("O{SEP}")) {
            current = id.to_string();
        } else if line.starts_with('@') && !line.starts_with("@ctmux-") {
            let name = line.split_whitespace().next().unwrap_or_default().to_string();
            names.push((current.clone(), name));
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    let mut cmds = Vec::new();
    for (id, name) in &names {
        cmds.push(marker(id));
        cmds.push(Cmd::query("show-options").args(["-pqv", "-t", id, name]));
    }
    let text = tmux.run(&cmds).await?;
    let sep = format!("O{SEP}");
    let mut values = text.split(&sep).skip(1);
    for (id, name) in names {
        let value =
            values.next().and_then(|chunk| chunk.split_once('\n')).map(|(_, v)| v.strip_suffix('\n').unwrap_or(v));
        let Some(value) = value else { continue };
        if let Some(pane) =
            captured.sessions.iter_mut().flat_map(|s| &mut s.windows).flat_map(|w| &mut w.panes).find(|p| p.id == id)
        {
            pane.options.push((name, value.to_string()));
        }
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
    });
}
