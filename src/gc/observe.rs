//! Reads a [`World`] from one tmux server (one tmux call) and the projects' log directories.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::{LivePane, LogFile, Session, World};
use crate::manifest::model::Project;
use crate::tmux::{Cmd, Tmux, TmuxError};

const SEP: char = '\x1f';
const CLIENTS: &str = "\x1ectmux-gc-clients\x1e";

/// The pane option where the daemon writes when it recorded a pane's exit (Unix ms), beside
/// `@ctmux-exit-seen` (the pid): the exit time GC counts from — `#{pane_dead_time}` has whole
/// seconds only (a removal came up to a second early) and tmux leaves it empty now and then.
pub const EXITED_AT: &str = "@ctmux-exited-at";

/// The `list-panes -a` fields, in [`parse_pane`] order.
const FIELDS: [&str; 18] = [
    "#{session_name}",
    "#{session_id}",
    "#{session_attached}",
    "#{window_activity}",
    "#{pane_id}",
    "#{@ctmux-project}",
    "#{@ctmux-id}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{pane_dead_time}",
    "#{pane_dead_status}",
    "#{@ctmux-state}",
    "#{@ctmux-restarts}",
    "#{pane_current_command}",
    "#{@ctmux-manifest}",
    "#{session_activity}",
    "#{@ctmux-exit-seen}",
    "#{@ctmux-exited-at}",
];

/// A log file written within this long is treated as in use (a sink may still be finishing it).
pub const LOG_IN_USE_SECS: u64 = 3600;

/// Reads the server behind `tmux` (keyed `server`) and the log files of `manifests`.
pub async fn observe(tmux: &Tmux, server: &str, manifests: &[Project], now: u64) -> Result<World, TmuxError> {
    let cmds = [
        Cmd::query("list-panes").args(["-a", "-F", &FIELDS.join(&SEP.to_string())]),
        Cmd::query("display-message").args(["-p", CLIENTS]),
        Cmd::query("list-clients").args(["-F", "#{session_id}\x1f#{client_control_mode}"]),
    ];
    let text = match tmux.run(&cmds).await {
        Ok(t) => t,
        Err(TmuxError::NoServer) => String::new(),
        Err(TmuxError::Failed { message }) if message.contains("no current target") => String::new(),
        Err(e) => return Err(e),
    };
    let mut world = parse(server, &text, manifests);
    // tmux's current command is the shell also while it runs `sleep 300 &`: a shell pane is
    // idle only when its process tree holds nothing but the pane's runner and the shell.
    if world.sessions.iter().flat_map(|s| &s.panes).any(|p| p.idle_shell) {
        let mark = tmux.server_mark().await;
        for p in world.sessions.iter_mut().flat_map(|s| s.panes.iter_mut()).filter(|p| p.idle_shell) {
            p.idle_shell = only_a_shell(p, &mark);
        }
    }
    world.logs = logs(&crate::daemon::paths::server_logs(&tmux.socket), &world, manifests, now);
    Ok(world)
}

/// Parses the output of [`observe`]'s tmux call.
pub fn parse(server: &str, text: &str, manifests: &[Project]) -> World {
    let (panes, clients) = text.split_once(CLIENTS).unwrap_or((text, ""));
    let people: HashSet<&str> = clients
        .lines()
        .filter_map(|l| l.split_once(SEP))
        .filter(|(_, control)| *control != "1")
        .map(|(session, _)| session)
        .collect();
    let mut sessions: BTreeMap<String, Session> = BTreeMap::new();
    for line in panes.lines() {
        let f: Vec<&str> = line.split(SEP).collect();
        if f.len() != FIELDS.len() {
            continue;
        }
        let s = sessions.entry(f[1].to_string()).or_insert_with(|| Session {
            server: server.into(),
            name: f[0].into(),
            id: f[1].into(),
            attached: people.contains(f[1]),
            clients: f[2].parse().unwrap_or(0),
            activity: f[15].parse().unwrap_or(0),
            panes: Vec::new(),
        });
        s.activity = s.activity.max(f[3].parse().unwrap_or(0));
        let dead = f[8] == "1";
        let (project, address) = (f[5].to_string(), f[6].to_string());
        let manifest = f[14];
        // An interactive-shell pane (no command in its manifest) running nothing but its shell.
        let idle_shell = !dead
            && manifests.iter().find(|m| m.name == project).and_then(|m| m.pane(&address)).is_some_and(|spec| {
                spec.command.is_none()
                    && Path::new(&spec.shell).file_name().is_some_and(|n| n.to_string_lossy() == f[13])
            });
        s.panes.push(LivePane {
            id: f[4].into(),
            pid: f[7].parse().unwrap_or(0),
            dead,
            dead_since: if dead { dead_since(f[9], f[7], f[16], f[17]) } else { None },
            exit_status: if dead { f[10].parse().ok() } else { None },
            state: f[11].into(),
            restarts: f[12].parse().unwrap_or(0),
            idle_shell,
            manifest_missing: !project.is_empty() && !manifest.is_empty() && !Path::new(manifest).exists(),
            project,
            address,
        });
    }
    World { server: server.into(), sessions: sessions.into_values().collect(), logs: Vec::new() }
}

/// When a dead pane's process exited, in whole seconds rounded up (so nothing is collected
/// before it is due): the daemon's record of this very pid's exit (ms), else tmux's
/// `pane_dead_time` (rounded down by tmux, so one more second).
fn dead_since(dead_time: &str, pid: &str, exit_seen: &str, exited_at_ms: &str) -> Option<u64> {
    let recorded = (exit_seen == pid).then(|| exited_at_ms.parse::<u64>().ok()).flatten();
    recorded.map(|ms| ms.div_ceil(1000)).or_else(|| dead_time.parse::<u64>().ok().map(|t| t + 1))
}

/// Whether pane `p`'s processes (its descendants, and whatever carries its marks on this
/// server, [`crate::process::pane_tree`]) are only its runner and its shell.
fn only_a_shell(p: &LivePane, mark: &crate::process::ServerMark) -> bool {
    let shell = crate::process::command_of(p.pid);
    crate::process::pane_tree(p.pid, &p.project, &p.address, mark)
        .into_iter()
        .all(|q| q == p.pid || q == shell || !crate::process::alive(q))
}

/// The log files of `manifests`' projects on this server (under `dir`, its log directory: never
/// another server's), `current` when a pane of this server writes them or they were written
/// lately ([`LOG_IN_USE_SECS`]).
fn logs(dir: &std::path::Path, world: &World, manifests: &[Project], now: u64) -> Vec<LogFile> {
    let live: HashSet<(&str, &str)> =
        world.sessions.iter().flat_map(|s| &s.panes).map(|p| (p.project.as_str(), p.address.as_str())).collect();
    let mut out = Vec::new();
    for m in manifests {
        let root = dir.join(&m.name);
        // Beneath the state dir, no symlink followed ([`crate::fs_safe`]): a planted
        // `logs/p/s -> /tmp/victim` is not a session directory, and its files are never listed.
        let Ok(sessions) = crate::fs_safe::list(&root) else { continue };
        for session in sessions.into_iter().filter(|s| s.kind == crate::fs_safe::Kind::Dir) {
            let Ok(files) = crate::fs_safe::list(&session.path) else { continue };
            for file in files {
                if file.kind != crate::fs_safe::Kind::File {
                    continue;
                }
                let name = file.name.clone();
                let modified = file.modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let address = format!("{}/{}", session.name, name.trim_end_matches(".log"));
                let active = name.ends_with(".log") && live.contains(&(m.name.as_str(), address.as_str()));
                out.push(LogFile {
                    project: m.name.clone(),
                    path: file.path,
                    modified,
                    size: file.len,
                    current: active || modified + LOG_IN_USE_SECS > now,
                });
            }
        }
    }
    out
}
