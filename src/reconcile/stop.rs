//! Stopping panes (`down`, `stop`, orphans): the stop signal or command, `stop.timeout` of
//! grace, then SIGKILL to whatever of the pane's process tree is left — and a check that nothing
//! survived, reported by pid if something did.

use std::time::{Duration, Instant};

use crate::manifest::model::{Pane, Stop};
use crate::process::{self, ServerMark};

/// What stopping one pane achieved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stopped {
    /// `session/pane`.
    pub address: String,
    /// Needed SIGKILL after the grace period.
    pub killed: bool,
    /// Pids still alive afterwards (should be empty).
    pub survivors: Vec<u32>,
}

/// Stops the process tree rooted at `pid` of pane `address` on the server `server`.
pub async fn stop_tree(
    server: &ServerMark,
    project: &str,
    address: &str,
    pid: u32,
    stop: &Stop,
    pane: Option<&Pane>,
) -> Stopped {
    let tree = process::pane_tree(pid, project, address, server);
    let killed = stop_these(address, pid, &tree, stop, pane).await;
    // Anything that appeared meanwhile with the pane's mark is found again.
    let mut survivors: Vec<u32> =
        process::pane_tree(pid, project, address, server).into_iter().filter(|p| process::alive(*p)).collect();
    survivors.retain(|p| *p != std::process::id());
    for &p in &survivors {
        process::signal(p, "SIGKILL");
    }
    if !survivors.is_empty() {
        wait_gone(&survivors, Duration::from_secs(1)).await;
        survivors.retain(|p| process::alive(*p));
    }
    Stopped { address: address.to_string(), killed, survivors }
}

/// [`stop_leftovers`] for `tmux`'s socket: the running server's path and pid when one runs,
/// else the path tmux would give it (then every marked process on that path is a leftover).
pub async fn sweep_leftovers(tmux: &crate::tmux::Tmux, project: &crate::manifest::model::Project) -> Vec<Stopped> {
    let ask = crate::tmux::Cmd::query("display-message").args(["-p", "#{socket_path},#{pid}"]);
    let (path, pid) = match tmux.run(&[ask]).await {
        Ok(text) => match text.trim().rsplit_once(',') {
            Some((path, pid)) if !path.is_empty() => (path.to_string(), pid.parse().ok()),
            _ => return Vec::new(),
        },
        Err(crate::tmux::TmuxError::NoServer | crate::tmux::TmuxError::ServerLost) => {
            (crate::daemon::paths::socket_file(&tmux.socket), None)
        }
        // A server we could not ask: its live panes' processes must not be taken for leftovers.
        Err(_) => return Vec::new(),
    };
    if pid.is_none() && !path.starts_with('/') {
        return Vec::new();
    }
    stop_leftovers(project, &path, pid).await
}

/// Stops what a killed tmux server on this socket left of `project` ([`process::leftovers`]):
/// each pane's leftovers get the pane's stop signal (its `stop.command` cannot run: no pane),
/// `stop.timeout` of grace, then SIGKILL; one [`Stopped`] per pane address, survivors named.
pub async fn stop_leftovers(
    project: &crate::manifest::model::Project,
    socket_path: &str,
    live_pid: Option<u32>,
) -> Vec<Stopped> {
    let mut by_pane: std::collections::BTreeMap<String, Vec<u32>> = std::collections::BTreeMap::new();
    for (address, pid) in process::leftovers(&project.name, socket_path, live_pid) {
        by_pane.entry(address).or_default().push(pid);
    }
    let mut set = tokio::task::JoinSet::new();
    for (address, tree) in by_pane {
        let pane = project.pane(&address).cloned();
        let mut stop = pane.as_ref().map_or_else(Stop::default, |p| p.stop.clone());
        stop.command = None;
        // What outlived its terminal ignores the hang-up a shell's stop signal is.
        if crate::manifest::model::normalize_signal(&stop.signal).as_deref() == Some("SIGHUP") {
            stop.signal = "SIGTERM".into();
        }
        set.spawn(async move {
            let killed = stop_these(&address, 0, &tree, &stop, pane.as_ref()).await;
            let survivors: Vec<u32> = tree.iter().copied().filter(|p| process::alive(*p)).collect();
            Stopped { address, killed, survivors }
        });
    }
    let mut out = Vec::new();
    while let Some(Ok(s)) = set.join_next().await {
        out.push(s);
    }
    out.sort_by(|a, b| a.address.cmp(&b.address));
    out
}

/// Stops exactly `tree` (measured with process `pid`, its root), gracefully then by SIGKILL,
/// and nothing that appeared since: a limit's action must never reach the process that replaces
/// the one it measured (a restart starts it in the same pane, with the same marks). Returns
/// whether SIGKILL was needed.
pub async fn stop_measured(pid: u32, tree: &[u32], stop: &Stop, pane: Option<&Pane>) -> bool {
    let address = pane.map(|p| p.address()).unwrap_or_default();
    stop_these(&address, pid, tree, stop, pane).await
}

/// The stop signal or command, `stop.timeout` of grace, then SIGKILL, for `tree` only.
async fn stop_these(address: &str, pid: u32, tree: &[u32], stop: &Stop, pane: Option<&Pane>) -> bool {
    let tree = tree.to_vec();
    if let (Some(cmd), Some(pane)) = (&stop.command, pane) {
        let run = tokio::process::Command::new(&pane.shell)
            .arg("-c")
            .arg(cmd)
            .current_dir(&pane.cwd)
            .envs(pane.env.iter())
            .env("CTMUX_PANE", address)
            .env("CTMUX_PID", pid.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status();
        let _ = tokio::time::timeout(stop.timeout, run).await;
    } else {
        process::signal_group(pid, &stop.signal);
        for &p in &tree {
            process::signal(p, &stop.signal);
        }
    }
    let killed = !wait_gone(&tree, stop.timeout).await;
    if killed {
        process::signal_group(pid, "SIGKILL");
        for &p in &tree {
            process::signal(p, "SIGKILL");
        }
        wait_gone(&tree, Duration::from_secs(2)).await;
    }
    killed
}

/// Waits until every pid is gone; false on timeout.
async fn wait_gone(pids: &[u32], timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        if pids.iter().all(|p| !process::alive(*p)) {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
