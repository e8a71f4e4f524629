//! The daemon: one per tmux server, pushed every event — output through one control-mode client
//! per session with managed panes, exits through a pidfd per pane process — never polling.
//!
//! It writes every managed pane's output to `logs/<project>/<session>/<pane>.log` (each line
//! prefixed with its arrival time in milliseconds and a tab), runs the manifest's `on:` rules,
//! and restarts panes by their `restart:` policy with exponential backoff. Tasks feed one loop
//! that owns all state, so nothing is shared or locked. It exits when its tmux server is gone.
//!
//! Not built yet (issue 4): the SQLite event store (`events`, `subscribe`), health checks and
//! limits while running, watch mode. Events are written as JSON lines to the daemon's log.

pub mod client;
pub mod paths;
pub mod protocol;
mod rules;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::manifest::model::Project;
use crate::tmux::control::{Control, Event};
use crate::tmux::{Socket, Tmux, TmuxError};
use protocol::{Request, Response, Status};
use state::PaneState;

/// What the tasks tell the loop.
enum Msg {
    Output(String, Vec<u8>),
    Exited(String, u32),
    RestartDue(String, u32),
    ServerGone,
    /// What a pane printed before the control client attached: rows above the cursor, and the
    /// cursor row (a partial line), captured in order with the output stream.
    Backfill(String, Vec<String>, String),
    ClientGone(String),
    Request(Request, oneshot::Sender<Response>),
}

/// Runs the daemon for `socket`'s server until that server exits or `daemon stop`.
pub async fn run(socket: Socket) -> Result<(), Error> {
    let path = paths::socket_path(&socket).map_err(|e| Error::failed(format!("runtime directory: {e}"), None))?;
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        return Err(Error::failed(format!("a daemon already serves this tmux server ({})", path.display()), None));
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| Error::failed(format!("cannot listen on {}: {e}", path.display()), None))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    let tmux = Arc::new(Tmux::new(socket));
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    spawn_listener(listener, tx.clone());
    let mut daemon = Daemon {
        tmux,
        tx,
        projects: HashMap::new(),
        sessions: HashSet::new(),
        panes: HashMap::new(),
        started: Instant::now(),
    };
    event("daemon.started", None, serde_json::json!({ "pid": std::process::id() }));
    // The tmux server's own exit ends the daemon (its pid, watched through a pidfd).
    if let Ok(pid) = daemon.tmux.run(&[crate::tmux::Cmd::query("display-message").args(["-p", "#{pid}"])]).await
        && let Ok(pid) = pid.trim().parse::<u32>()
        && let Ok(exit) = crate::process::exit_of(pid)
    {
        let tx = daemon.tx.clone();
        tokio::spawn(async move {
            exit.await;
            let _ = tx.send(Msg::ServerGone);
        });
    }
    if !daemon.refresh().await {
        event("daemon.stopped", None, serde_json::json!({ "reason": "no tmux server" }));
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    while let Some(msg) = rx.recv().await {
        let keep_going = match msg {
            Msg::ServerGone => false,
            Msg::Backfill(id, rows, partial) => {
                daemon.backfill(&id, rows, partial).await;
                true
            }
            Msg::Output(id, bytes) => {
                daemon.output(&id, &bytes);
                true
            }
            Msg::Exited(id, pid) => daemon.exited(&id, pid).await,
            Msg::RestartDue(id, pid) => {
                daemon.restart(&id, pid).await;
                daemon.refresh().await
            }
            Msg::ClientGone(session) => {
                daemon.sessions.remove(&session);
                daemon.refresh().await
            }
            Msg::Request(request, reply) => {
                let stop = request == Request::Stop;
                let response = daemon.handle(request).await;
                let _ = reply.send(response);
                !stop
            }
        };
        if !keep_going {
            break;
        }
    }
    for pane in daemon.panes.values_mut() {
        pane.flush();
    }
    event("daemon.stopped", None, serde_json::json!({}));
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// One event as a JSON line on the daemon's log (SPEC §4 shape; the SQLite store comes later).
fn event(kind: &str, pane: Option<(&str, &str)>, data: serde_json::Value) {
    let ts = crate::reconcile::build::now_nanos() / 1_000_000;
    let (project, address) = pane.unwrap_or(("", ""));
    let (session, name) = address.split_once('/').unwrap_or(("", ""));
    let doc = serde_json::json!({ "ts": ts as u64, "kind": kind, "project": project, "session": session, "pane": name, "data": data });
    println!("{doc}");
}

fn spawn_listener(listener: UnixListener, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                // A hostile client cannot make us buffer more than 1 MiB.
                let mut lines = BufReader::new(read.take(1 << 20)).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let response = match protocol::parse_request(&line) {
                        Ok(request) => {
                            let (reply, answer) = oneshot::channel();
                            if tx.send(Msg::Request(request, reply)).is_err() {
                                return;
                            }
                            answer.await.unwrap_or_else(|_| Response::error("daemon is stopping"))
                        }
                        Err(e) => Response::error(e),
                    };
                    let text = serde_json::to_string(&response).unwrap_or_default();
                    if write.write_all(format!("{text}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

struct Daemon {
    tmux: Arc<Tmux>,
    tx: mpsc::UnboundedSender<Msg>,
    projects: HashMap<String, Project>,
    sessions: HashSet<String>,
    panes: HashMap<String, PaneState>,
    started: Instant,
}

impl Daemon {
    async fn handle(&mut self, request: Request) -> Response {
        match request {
            Request::Status => Response {
                ok: true,
                error: None,
                status: Some(Status {
                    pid: std::process::id(),
                    uptime_secs: self.started.elapsed().as_secs(),
                    projects: self.projects.keys().cloned().collect(),
                    sessions: self.sessions.iter().cloned().collect(),
                    panes: self.panes.len(),
                }),
            },
            Request::Load { file, env } => {
                let env: HashMap<String, String> = env.into_iter().collect();
                match crate::manifest::load(std::path::Path::new(&file), &env) {
                    Ok(loaded) => {
                        let project = loaded.project;
                        for pane in self.panes.values_mut().filter(|p| p.project == project.name) {
                            pane.spec = project.pane(&pane.address).cloned();
                        }
                        self.projects.insert(project.name.clone(), project);
                        self.refresh().await;
                        Response::ok()
                    }
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::Stop => Response::ok(),
        }
    }

    /// Re-reads tmux: new sessions get a control client, new pane processes a pidfd watch.
    /// Returns false when the tmux server is gone (the daemon exits).
    async fn refresh(&mut self) -> bool {
        let live = match self.tmux.list(&[]).await {
            Ok((live, _)) => live,
            Err(TmuxError::NoServer | TmuxError::ServerLost) => return false,
            Err(e) => {
                eprintln!("ctmux daemon: {e}");
                return true;
            }
        };
        let mut seen = HashSet::new();
        for lp in live.panes.iter().filter(|p| !p.project.is_empty() && !p.address.is_empty()) {
            seen.insert(lp.pane_id.clone());
            if !self.projects.contains_key(&lp.project) {
                self.adopt(&lp.session).await;
            }
            if !self.sessions.contains(&lp.session_id) {
                self.sessions.insert(lp.session_id.clone());
                watch_session(self.tmux.clone(), lp.session_id.clone(), self.tx.clone());
            }
            let spec = self.projects.get(&lp.project).and_then(|p| p.pane(&lp.address)).cloned();
            let pane = self.panes.entry(lp.pane_id.clone()).or_insert_with(|| PaneState::new(lp, spec.clone()));
            if pane.pid != lp.pid || pane.watched.is_none() && !lp.dead {
                pane.pid = lp.pid;
                pane.started = Instant::now();
                if !lp.dead {
                    pane.watched = Some(lp.pid);
                    watch_exit(lp.pane_id.clone(), lp.pid, self.tx.clone());
                }
            }
        }
        self.panes.retain(|id, p| {
            let keep = seen.contains(id);
            if !keep {
                p.flush();
            }
            keep
        });
        true
    }

    /// Logs what a pane printed before we watched it, once: `@ctmux-logged` (absolute lines
    /// already logged) keeps a restarted daemon from repeating what it logged before.
    async fn backfill(&mut self, id: &str, rows: Vec<String>, partial: String) {
        let query = crate::tmux::Cmd::query("show-options").args(["-p", "-v", "-t", id, "@ctmux-logged"]);
        let logged = self.tmux.run(&[query]).await.ok().and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
        let Some(pane) = self.panes.get_mut(id) else { return };
        for row in rows.iter().skip(logged) {
            pane.feed(format!("{row}\n").as_bytes());
        }
        pane.seed(partial.as_bytes());
        pane.flush_log();
        let mark = crate::tmux::Cmd::new("set-option").args(["-p", "-t", id, "@ctmux-logged", &rows.len().to_string()]);
        let _ = self.tmux.run(&[mark]).await;
    }

    /// Loads the manifest a session was built from (`@ctmux-manifest`), after a daemon restart.
    async fn adopt(&mut self, session: &str) {
        let cmd =
            crate::tmux::Cmd::query("show-options").args(["-v", "-t", &format!("={session}:"), "@ctmux-manifest"]);
        let Ok(file) = self.tmux.run(&[cmd]).await else { return };
        let env: HashMap<String, String> = std::env::vars().collect();
        if let Ok(loaded) = crate::manifest::load(std::path::Path::new(file.trim()), &env) {
            self.projects.insert(loaded.project.name.clone(), loaded.project);
        }
    }

    fn output(&mut self, id: &str, bytes: &[u8]) {
        let Some(pane) = self.panes.get_mut(id) else { return };
        let lines = pane.feed(bytes);
        // Each chunk tmux pushes is on disk before the next is read: `ctmux logs` sees it now.
        pane.flush_log();
        for line in lines {
            let fired = pane.rules_for(&line);
            for (rule, groups) in fired {
                event(
                    "pattern.matched",
                    Some((&pane.project, &pane.address)),
                    serde_json::json!({ "rule": rule.pattern.source, "text": line, "groups": groups }),
                );
                rules::act(self.tmux.clone(), pane, &rule.action, &line, &groups, self.tx.clone());
            }
        }
    }

    async fn exited(&mut self, id: &str, pid: u32) -> bool {
        if !self.refresh().await {
            return false;
        }
        // tmux notices a moment after the kernel: wait until it reports the pane dead.
        let mut status = None;
        for _ in 0..50 {
            match self.tmux.list(&[]).await {
                Ok((live, _)) => match live.panes.iter().find(|p| p.pane_id == id) {
                    Some(p) if p.dead => {
                        status = Some((p.exit_status, p.state.clone()));
                        break;
                    }
                    Some(p) if p.pid != pid => return true,
                    Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    None => return true,
                },
                Err(_) => return self.refresh().await,
            }
        }
        let Some((exit_status, state)) = status else { return true };
        let Some(pane) = self.panes.get_mut(id) else { return true };
        pane.flush();
        pane.watched = None;
        if let Ok((live, _)) = self.tmux.list(&[]).await
            && let Some(lp) = live.panes.iter().find(|p| p.pane_id == id)
        {
            let mark = crate::tmux::Cmd::new("set-option").args([
                "-p",
                "-t",
                id,
                "@ctmux-logged",
                &lp.cursor_line.to_string(),
            ]);
            let _ = self.tmux.run(&[mark]).await;
        }
        event("pane.exited", Some((&pane.project, &pane.address)), serde_json::json!({ "status": exit_status }));
        if let Some(delay) = pane.restart_delay(exit_status, &state) {
            let tx = self.tx.clone();
            let (id, pid) = (id.to_string(), pid);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Msg::RestartDue(id, pid));
            });
        }
        true
    }

    async fn restart(&mut self, id: &str, pid: u32) {
        let Some(pane) = self.panes.get_mut(id) else { return };
        if pane.pid != pid || pane.watched.is_some() {
            return;
        }
        let Some(project) = self.projects.get(&pane.project) else { return };
        let Some(spec) = project.pane(&pane.address) else { return };
        pane.restarts += 1;
        let mut cmds = crate::reconcile::build::respawn(project, spec, id);
        cmds.push(crate::tmux::Cmd::new("set-option").args([
            "-p",
            "-t",
            id,
            "@ctmux-restarts",
            &pane.restarts.to_string(),
        ]));
        if self.tmux.run(&cmds).await.is_ok() {
            event(
                "pane.restarted",
                Some((&pane.project, &pane.address)),
                serde_json::json!({ "restarts": pane.restarts }),
            );
        }
    }
}

/// A control client for one session, forwarding its panes' output to the loop. Each pane's
/// earlier output is captured through the same client, so tmux places the capture within the
/// output stream: output before its reply is in the capture, output after it is new.
fn watch_session(tmux: Arc<Tmux>, session: String, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let Ok(mut control) = Control::attach_ready(&tmux, &session).await else {
            let _ = tx.send(Msg::ClientGone(session));
            return;
        };
        let ids: Vec<String> = match tmux.list(&[]).await {
            Ok((live, _)) => live
                .panes
                .iter()
                .filter(|p| p.session_id == session && !p.address.is_empty())
                .map(|p| p.pane_id.clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        let line: Vec<String> = ids
            .iter()
            .map(|id| {
                format!("display-message -p -t {id} '#{{history_size}} #{{cursor_y}}' ; capture-pane -p -t {id} -S -")
            })
            .collect();
        let mut pending: Vec<(String, Option<Vec<u8>>)> = ids.iter().map(|id| (id.clone(), None)).collect();
        if !line.is_empty() && control.send(&[&line.join(" ; ")]).await.is_err() {
            let _ = tx.send(Msg::ClientGone(session));
            return;
        }
        let mut replies_left = ids.len() * 2;
        let mut held: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            match control.next().await {
                Event::Output(id, bytes) => {
                    if replies_left > 0 {
                        // Before the captures answered: part of them, except for panes already captured.
                        if pending.iter().any(|(p, body)| *p == id && body.is_some()) {
                            held.push((id, bytes));
                        }
                        continue;
                    }
                    if tx.send(Msg::Output(id, bytes)).is_err() {
                        return;
                    }
                }
                Event::Reply(body) if replies_left > 0 => {
                    replies_left -= 1;
                    let index = (ids.len() * 2 - replies_left - 1) / 2;
                    if let Some(slot) = pending.get_mut(index) {
                        match slot.1.take() {
                            None => slot.1 = Some(body),
                            Some(position) => {
                                let pos = String::from_utf8_lossy(&position).to_string();
                                let mut n = pos.split_whitespace().map(|x| x.parse::<usize>().unwrap_or(0));
                                let cursor = n.next().unwrap_or(0) + n.next().unwrap_or(0);
                                let text = String::from_utf8_lossy(&body).to_string();
                                let rows: Vec<String> = text.split('\n').map(str::to_string).collect();
                                let partial = rows.get(cursor).cloned().unwrap_or_default();
                                let above = rows.into_iter().take(cursor).collect();
                                let _ = tx.send(Msg::Backfill(slot.0.clone(), above, partial));
                                slot.1 = Some(Vec::new());
                            }
                        }
                    }
                    if replies_left == 0 {
                        for (id, bytes) in held.drain(..) {
                            let _ = tx.send(Msg::Output(id, bytes));
                        }
                    }
                }
                Event::Reply(_) => {}
                Event::Exit => {
                    let _ = tx.send(Msg::ClientGone(session));
                    return;
                }
            }
        }
    });
}

/// A pidfd watch: the kernel tells us when the pane's process exits.
fn watch_exit(id: String, pid: u32, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        if let Ok(exit) = crate::process::exit_of(pid) {
            exit.await;
        }
        let _ = tx.send(Msg::Exited(id, pid));
    });
}
