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
    let target = Target { address: address.to_string(), pid, stop: stop.clone(), pane: pane.cloned() };
    stop_trees(server, project, vec![target]).await.pop().unwrap_or(Stopped {
        address: address.to_string(),
        killed: false,
        survivors: Vec::new(),
    })
}

/// A pane to stop: its address, its process (0 when it has none), how to stop it, its spec.
#[derive(Debug, Clone)]
pub struct Target {
    /// `session/pane`.
    pub address: String,
    /// The pane's process; 0 when it is gone (only marked processes are looked for).
    pub pid: u32,
    /// Signal or command, and grace.
    pub stop: Stop,
    /// The manifest's pane, for a stop command's shell, cwd and env.
    pub pane: Option<Pane>,
}

/// Stops many panes at once: `/proc` is read once before and once after (not twice per pane),
/// every signal is sent at once, and every grace period and check runs concurrently, so the
/// whole takes about the longest single stop. Results in the order the panes finished.
pub async fn stop_trees(server: &ServerMark, project: &str, targets: Vec<Target>) -> Vec<Stopped> {
    let table = read_table().await;
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in targets.iter().enumerate() {
        let stop = graceful(&table, server, project, t.clone());
        set.spawn(async move { (i, stop.await) });
    }
    let mut done = Vec::with_capacity(targets.len());
    while let Some(Ok((i, killed))) = set.join_next().await {
        done.push((i, killed));
    }
    finish(server, project, &targets, &done).await
}

/// `/proc` read once, off the async thread.
pub async fn read_table() -> process::ProcTable {
    tokio::task::spawn_blocking(process::ProcTable::read).await.unwrap_or_else(|_| process::ProcTable::read())
}

/// The graceful part of stopping `t` (signal or command, grace, SIGKILL of the tree it had when
/// `table` was read), as a future that owns what it needs; resolves to whether SIGKILL was needed.
pub fn graceful(
    table: &process::ProcTable,
    server: &ServerMark,
    project: &str,
    t: Target,
) -> impl std::future::Future<Output = bool> + Send + 'static {
    let tree = table.tree(t.pid, project, &t.address, server);
    async move { stop_these(&t.address, t.pid, &tree, &t.stop, t.pane.as_ref()).await }
}

/// After the graceful stops (`done`: index into `targets` and whether SIGKILL was needed, in
/// finishing order): one more read of `/proc` finds anything that appeared meanwhile with a
/// pane's mark, SIGKILLs it, and reports what still survives.
pub async fn finish(server: &ServerMark, project: &str, targets: &[Target], done: &[(usize, bool)]) -> Vec<Stopped> {
    let table = read_table().await;
    let mut survivors: Vec<Vec<u32>> = targets
        .iter()
        .map(|t| table.tree(t.pid, project, &t.address, server).into_iter().filter(|p| process::alive(*p)).collect())
        .collect();
    let all: Vec<u32> = survivors.iter().flatten().copied().collect();
    for &p in &all {
        process::signal(p, "SIGKILL");
    }
    if !all.is_empty() {
        wait_gone(&all, Duration::from_secs(1)).await;
        for s in &mut survivors {
            s.retain(|p| process::alive(*p));
        }
    }
    done.iter()
        .map(|&(i, killed)| Stopped { address: targets[i].address.clone(), killed, survivors: survivors[i].clone() })
        .collect()
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
