//! The daemon: one per tmux server, pushed every event — output through one control-mode client
//! per session with managed panes, exits through a pidfd per pane process — never polling.
//!
//! It writes every managed pane's output to `logs/<project>/<session>/<pane>.log` (each line
//! prefixed with its arrival time in milliseconds and a tab), runs the manifest's `on:` rules,
//! and restarts panes by their `restart:` policy with exponential backoff. Tasks feed one loop
//! that owns all state, so nothing is shared or locked. It exits when its tmux server is gone.
//!
//! Every event goes to the state store (`ctmux events`), the daemon's log, live followers and
//! runtime subscriptions ([`events`]). Health checks run on their own timers; `ready_when`
//! is matched on output. After a restart the daemon resumes each pane's log where the last
//! one stopped ([`backlog`]).

mod autosave;
pub mod backlog;
pub mod client;
pub mod events;
pub mod gc;
pub mod logfile;
pub mod paths;
mod pending;
pub mod protocol;
mod rules;
pub mod sampling;
mod state;
mod unmanaged;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::manifest::model::{Check, Project};
use crate::tmux::control::{Control, Event};
use crate::tmux::{Socket, Tmux, TmuxError};
use events::Events;
use protocol::{Request, Response, Status};
use state::PaneState;

/// What the tasks tell the loop.
enum Msg {
    /// Time to autosave this project (why: `interval`, `change`, `load`).
    Autosave(String, String),
    Output(String, Vec<u8>),
    /// The kernel says this pane process exited (pidfd).
    Exited(String, u32),
    /// tmux's `pane-died` hook fired (for one pane or more): exits it has reaped since.
    Died,
    /// A pane's exit is still not reaped by tmux this long after the kernel said so.
    DiedLate,
    RestartDue(String, u32),
    /// A `restart` rule stopped the pane's process (this pid): respawn it once its exit is seen.
    RestartRequested(String, u32),
    /// Write the marks gathered since the last flush (one tmux call, off the loop).
    FlushMarks,
    /// Time to sample resource use and check limits (then schedule the next tick).
    Sample,
    /// Sample once more, off the regular ticks (a CPU rate needs a second look).
    SampleOnce,
    /// What a pane printed before the control client attached: rows above the cursor, the
    /// cursor row (a partial line), captured in order with the output stream, and whether
    /// tmux's history is at its limit.
    Backfill(String, Vec<String>, String, bool, bool),
    /// Every row above this absolute row of the pane has been received: mark the log.
    Mark(String, usize),
    /// Panes, windows or sessions came or went.
    Changed,
    ProbeDue(String, u64),
    ProbeDone(String, u64, Result<(), String>),
    ClientGone(String),
    /// A rule's `run` queue was full: this match of it (pane id, rule pattern) was dropped.
    RuleDropped(String, String),
    /// Time to record the drops counted since the last `rule.dropped` events.
    FlushDrops,
    /// Time for a GC pass ([`gc`]) of this generation (a newer one replaces the timer).
    Gc(u64),
    Request(Request, oneshot::Sender<Response>),
    Follow(i64, mpsc::Sender<String>),
}

/// Runs the daemon for `socket`'s server until that server exits or `daemon stop`.
pub async fn run(socket: Socket) -> Result<(), Error> {
    let path = paths::socket_path(&socket).map_err(paths::runtime_error)?;
    // One daemon per server: the lock is held for our whole life (the kernel drops it when we die).
    let lock = crate::state::open_append(&path.with_extension("lock"))
        .map_err(|e| Error::failed(format!("daemon lock: {e}"), None))?;
    // A daemon that is stopping holds the lock a moment longer; one that runs keeps it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while lock.try_lock().is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if lock.try_lock().is_err() || std::os::unix::net::UnixStream::connect(&path).is_ok() {
        return Err(Error::failed(format!("a daemon already serves this tmux server ({})", path.display()), None));
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| Error::failed(format!("cannot listen on {}: {e}", path.display()), None))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    let server = socket.key();
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
        events: Events::new(server),
        attaching: Vec::new(),
        changed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        ignored: HashSet::new(),
        marks: HashMap::new(),
        sampler: crate::metrics::Sampler::new(),
        sampling: sampling::Sampling::default(),
        unmanaged: unmanaged::Unmanaged::default(),
        born: crate::reconcile::build::now_secs(),
        watchers: HashMap::new(),
        pending_queued: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        runner: Arc::new(rules::Runner::new()),
        drops: HashMap::new(),
        gc_generation: 0,
        autosave: autosave::Autosave::default(),
    };
    daemon.prune("", Duration::from_secs(7 * 24 * 3600));
    // Control clients a daemon killed before it could close them would keep tmux from reading
    // their sessions (ours die with us; an older ctmux's did not).
    let orphans = crate::tmux::control::detach_orphans(&daemon.tmux).await;
    let data = serde_json::json!({ "pid": std::process::id(), "orphan_clients": orphans });
    daemon.events.emit("daemon.started", "", "", data);
    // The tmux server's own exit ends the daemon (its pid, watched through a pidfd), ahead of
    // anything still queued.
    let (server_gone, mut gone) = oneshot::channel::<()>();
    if let Ok(pid) = daemon.tmux.run(&[crate::tmux::Cmd::query("display-message").args(["-p", "#{pid}"])]).await
        && let Ok(pid) = pid.trim().parse::<u32>()
        && let Ok(exit) = crate::process::exit_of(pid)
    {
        tokio::spawn(async move {
            exit.await;
            let _ = server_gone.send(());
        });
    }
    // tmux tells us when it has reaped a pane's process (and so knows its exit status).
    // A stale flag (a daemon killed between a ring and its reset) would silence the bell.
    let hook = crate::tmux::Cmd::new("set-hook").args(["-g", &died_hook(), &ring(DIED, DIED_RUNG)]);
    let reset = crate::tmux::Cmd::new("set-option").args(["-g", "-u", DIED_RUNG]);
    if daemon.tmux.run(&[hook, reset]).await.is_ok() {
        watch_deaths(daemon.tmux.clone(), daemon.tx.clone());
    }
    let _ = daemon.tx.send(Msg::Sample);
    let _ = daemon.tx.send(Msg::Gc(0));
    if !daemon.refresh().await {
        daemon.events.emit("daemon.stopped", "", "", serde_json::json!({ "reason": "no tmux server" }));
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    loop {
        let msg = tokio::select! {
            biased;
            _ = &mut gone => break,
            msg = rx.recv() => match msg {
                Some(msg) => msg,
                None => break,
            },
        };
        // What can make a waiting pane's dependencies hold: exits, starts, layout changes,
        // health (also set from output, see `set_health`), a loaded manifest.
        let kick = matches!(
            msg,
            Msg::Exited(..)
                | Msg::Died
                | Msg::DiedLate
                | Msg::Changed
                | Msg::RestartDue(..)
                | Msg::RestartRequested(..)
                | Msg::ClientGone(..)
                | Msg::Request(Request::Load { .. }, _)
        );
        let keep_going = match msg {
            Msg::FlushMarks => {
                daemon.flush_marks();
                true
            }
            Msg::SampleOnce => {
                daemon.sample(true).await;
                true
            }
            Msg::Sample => {
                let every = daemon.sample(false).await;
                let tx = daemon.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(every).await;
                    let _ = tx.send(Msg::Sample);
                });
                true
            }
            Msg::Backfill(id, rows, partial, full, at_exit) => {
                daemon.backfill(&id, rows, partial, full, at_exit).await;
                true
            }
            Msg::Mark(id, row) => {
                daemon.mark(&id, row).await;
                true
            }
            Msg::Changed => {
                daemon.changed.store(false, std::sync::atomic::Ordering::SeqCst);
                daemon.autosave.changed(&daemon.tx);
                daemon.refresh().await
            }
            Msg::Autosave(project, reason) => {
                if let Some(p) = daemon.projects.get(&project).cloned()
                    && let Some(saved) = daemon.autosave.save(&daemon.tmux, &p, &reason).await
                {
                    let data = serde_json::json!({
                        "id": saved.entry.id,
                        "path": saved.entry.path,
                        "sessions": saved.entry.sessions,
                        "panes": saved.entry.panes,
                        "reason": saved.reason,
                    });
                    daemon.events.emit("snapshot.saved", &project, "", data);
                }
                true
            }
            Msg::ProbeDue(id, generation) => {
                daemon.probe(&id, generation);
                true
            }
            Msg::ProbeDone(id, generation, result) => {
                daemon.probed(&id, generation, result).await;
                true
            }
            Msg::Follow(after_id, follower) => {
                daemon.events.follow(after_id, follower);
                true
            }
            Msg::Output(id, bytes) => {
                daemon.output(&id, &bytes).await;
                true
            }
            Msg::Exited(id, pid) => daemon.exited(&id, pid).await,
            Msg::Died | Msg::DiedLate => daemon.deaths().await,
            Msg::RestartRequested(id, pid) => {
                let exited = daemon.panes.get_mut(&id).filter(|p| p.pid == pid).map(|p| {
                    p.restart_requested = p.watched.is_some();
                    if !p.restart_requested && p.recapture_pending {
                        // Exited, its last output not logged yet: restart after that.
                        p.restart_after_capture = Some(Duration::ZERO);
                        return None;
                    }
                    (!p.restart_requested).then_some(p.pid)
                });
                if let Some(Some(pid)) = exited {
                    daemon.restart(&id, pid).await;
                    daemon.refresh().await
                } else {
                    true
                }
            }
            Msg::RestartDue(id, pid) => {
                daemon.restart(&id, pid).await;
                daemon.refresh().await
            }
            Msg::ClientGone(session) => {
                daemon.sessions.remove(&session);
                daemon.watchers.remove(&session);
                // Restarts that waited for an exit capture through that client go ahead.
                for p in daemon.panes.values_mut().filter(|p| p.session_id == session) {
                    p.recapture_pending = false;
                    if let Some(delay) = p.restart_after_capture.take() {
                        schedule_restart(p.pane_id.clone(), p.pid, delay, daemon.tx.clone());
                    }
                }
                daemon.refresh().await
            }
            Msg::RuleDropped(id, rule) => {
                if daemon.drops.is_empty() {
                    // Counted for a second, then told as one event per rule.
                    let tx = daemon.tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let _ = tx.send(Msg::FlushDrops);
                    });
                }
                *daemon.drops.entry((id, rule)).or_default() += 1;
                true
            }
            Msg::FlushDrops => {
                for ((id, rule), dropped) in std::mem::take(&mut daemon.drops) {
                    let (project, address) =
                        daemon.panes.get(&id).map(|p| (p.project.clone(), p.address.clone())).unwrap_or_default();
                    let data = serde_json::json!({ "rule": rule, "dropped": dropped, "queue": rules::RULE_QUEUED });
                    daemon.events.emit("rule.dropped", &project, &address, data);
                }
                true
            }
            Msg::Gc(generation) if generation == daemon.gc_generation => daemon.collect().await,
            Msg::Gc(_) => true,
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
        if kick {
            daemon.kick_pending();
        }
    }
    // No new clients from here on; the lock is held until we are done.
    let _ = std::fs::remove_file(&path);
    let ids: Vec<String> = daemon.panes.keys().cloned().collect();
    for id in ids {
        if let Some(pane) = daemon.panes.get_mut(&id) {
            pane.flush_log();
        }
        daemon.mark_now(&id).await;
    }
    let mut cmds = daemon.mark_commands();
    cmds.push(crate::tmux::Cmd::new("set-hook").args(["-g", "-u", &died_hook()]));
    cmds.push(crate::tmux::Cmd::new("set-option").args(["-g", "-u", DIED_RUNG]));
    let _ = daemon.tmux.run(&cmds).await;
    daemon.events.emit("daemon.stopped", "", "", serde_json::json!({}));
    drop(lock);
    Ok(())
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
                        Ok(Request::Follow { after_id }) => {
                            let (follower, mut feed) = mpsc::channel(events::FOLLOWER_BACKLOG);
                            if tx.send(Msg::Follow(after_id, follower)).is_err() {
                                return;
                            }
                            let ok = serde_json::to_string(&Response::ok()).unwrap_or_default();
                            if write.write_all(format!("{ok}\n").as_bytes()).await.is_err() {
                                return;
                            }
                            while let Some(event) = feed.recv().await {
                                if write.write_all(format!("{event}\n").as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                            return;
                        }
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
    events: Events,
    /// Control clients being attached; `Load` answers once they are (see `up`'s gate).
    attaching: Vec<oneshot::Receiver<()>>,
    /// A [`Msg::Changed`] is queued: watchers do not queue another (a burst of layout
    /// changes costs one look at tmux, not one each).
    changed: Arc<std::sync::atomic::AtomicBool>,
    /// Unmanaged panes in watched sessions: their output is not ours.
    ignored: HashSet<String>,
    /// `@ctmux-logged` marks waiting for [`Msg::FlushMarks`].
    marks: HashMap<String, backlog::Mark>,
    /// Resource use, between samples.
    sampler: crate::metrics::Sampler,
    /// What was sampled when ([`sampling`]).
    sampling: sampling::Sampling,
    /// Panes not created from a manifest in the sessions we watch ([`unmanaged`]).
    unmanaged: unmanaged::Unmanaged,
    /// When this daemon started, Unix seconds.
    born: u64,
    /// Each session's control client task, by session id: panes to capture again (at exit).
    watchers: HashMap<String, mpsc::UnboundedSender<String>>,
    /// A pass over waiting panes is queued ([`pending`]): another is not.
    pending_queued: Arc<std::sync::atomic::AtomicBool>,
    /// The bounds on rules' `run` actions.
    runner: Arc<rules::Runner>,
    /// Matches whose `run` was dropped since the last `rule.dropped`, by (pane id, rule).
    drops: HashMap<(String, String), u64>,
    /// The current GC timer; a [`Msg::Gc`] of another generation is stale.
    gc_generation: u64,
    /// Snapshots taken by the daemon ([`autosave`]).
    autosave: autosave::Autosave,
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
                    store: self.events.store.as_ref().map(|_| crate::store::Store::path().display().to_string()),
                    subscriptions: self.events.subscriptions().len(),
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
                        self.autosave.loaded(&project, &self.tx);
                        let (name, retention) = (project.name.clone(), project.gc.event_retention);
                        self.projects.insert(project.name.clone(), project);
                        self.prune(&name, retention);
                        self.refresh().await;
                        // A new policy: a pass now, and a timer that follows it.
                        self.gc_generation += 1;
                        let _ = self.tx.send(Msg::Gc(self.gc_generation));
                        // New sessions are watched (their history captured) before we answer.
                        for attached in self.attaching.drain(..) {
                            let _ = tokio::time::timeout(Duration::from_secs(3), attached).await;
                        }
                        Response::ok()
                    }
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::Stop => Response::ok(),
            Request::Sample => {
                // Memory is known now; CPU is a rate, known after a second look.
                self.sample(true).await;
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = tx.send(Msg::SampleOnce);
                });
                Response::ok()
            }
            Request::Follow { .. } => Response::error("follow is answered by the connection"),
            Request::Watch => {
                self.refresh().await;
                for attached in self.attaching.drain(..) {
                    let _ = tokio::time::timeout(Duration::from_secs(3), attached).await;
                }
                Response::ok()
            }
            Request::Record { kind, project, address, data } => {
                self.events.emit(&kind, &project, &address, data);
                Response::ok()
            }
        }
    }

    /// One GC pass: removes what the projects' `gc:` TTLs say is due, records each removal as
    /// `gc.collected` with its reason, and schedules the next pass.
    async fn collect(&mut self) -> bool {
        let projects: Vec<Project> = self.projects.values().cloned().collect();
        let (removed, next) = gc::pass(&self.tmux, &projects).await;
        for a in &removed {
            self.events.emit("gc.collected", &a.project, &a.address, crate::gc::event_data(a));
        }
        let (tx, generation) = (self.tx.clone(), self.gc_generation);
        if let Some(next) = next {
            tokio::spawn(async move {
                tokio::time::sleep(next).await;
                let _ = tx.send(Msg::Gc(generation));
            });
        }
        if removed.is_empty() { true } else { self.refresh().await }
    }

    /// Drops recorded events older than `retention` (the manifest's `gc.event_retention`).
    fn prune(&mut self, project: &str, retention: Duration) {
        let cutoff = crate::store::now_ms() - retention.as_millis() as i64;
        let removed = self.events.store.as_ref().and_then(|s| s.prune_events(project, cutoff).ok()).unwrap_or(0);
        if let Some(store) = &self.events.store {
            let _ = store.prune_metrics(project, cutoff);
        }
        if removed > 0 {
            self.events.emit("gc.collected", project, "", serde_json::json!({ "events": removed }));
        }
    }

    /// Re-reads tmux: new sessions get a control client, new pane processes a pidfd watch and a
    /// `pane.started` event. Returns false when the tmux server is gone (the daemon exits).
    async fn refresh(&mut self) -> bool {
        let live = match self.tmux.list(&[]).await {
            Ok((live, _)) => live,
            Err(TmuxError::NoServer | TmuxError::ServerLost) => return false,
            Err(e) => {
                eprintln!("ctmux daemon: {e}");
                return true;
            }
        };
        // Which pids a daemon already announced (started, exited): a daemon that comes back
        // after a crash handles the exits it missed once, and repeats no start.
        let unknown = live.panes.iter().any(|p| !p.address.is_empty() && !self.panes.contains_key(&p.pane_id));
        let announced = if unknown { self.announced().await } else { HashMap::new() };
        let mut seen = HashSet::new();
        self.ignored = live
            .panes
            .iter()
            .filter(|p| p.project.is_empty() || p.address.is_empty())
            .map(|p| p.pane_id.clone())
            .collect();
        for lp in live.panes.iter().filter(|p| !p.project.is_empty() && !p.address.is_empty()) {
            seen.insert(lp.pane_id.clone());
            if !self.projects.contains_key(&lp.project) {
                self.adopt(&lp.session).await;
            }
            self.watch(&lp.session_id);
            let spec = self.projects.get(&lp.project).and_then(|p| p.pane(&lp.address)).cloned();
            let known = self.panes.contains_key(&lp.pane_id);
            let pane = self.panes.entry(lp.pane_id.clone()).or_insert_with(|| PaneState::new(lp, spec.clone()));
            if !known || pane.pid != lp.pid || pane.watched.is_none() && !lp.dead {
                let new_process = !known || pane.pid != lp.pid;
                if known && new_process && pane.watched.is_some_and(|w| w == pane.pid) && !pane.placeholder {
                    // Replaced before its exit was handled: that exit comes first (status unknown).
                    let data = serde_json::json!({ "status": null, "signal": null, "pid": pane.pid });
                    self.events.emit("pane.exited", &pane.project, &pane.address, data);
                    announce(&self.tmux, &lp.pane_id, EXIT_SEEN, pane.pid);
                    pane.exit_pending = None;
                }
                pane.pid = lp.pid;
                pane.started = Instant::now();
                if !lp.dead {
                    pane.watched = Some(lp.pid);
                    watch_exit(lp.pane_id.clone(), lp.pid, self.tx.clone());
                }
                pane.placeholder = lp.hash == "pending";
                // Died before we could watch it (a command that fails at once, or one that exited
                // while no daemon ran): still a start and an exit, with its status and restart
                // policy — unless a daemon before this one said so already.
                let (start_seen, exit_seen) = announced.get(&lp.pane_id).copied().unwrap_or_default();
                let told = start_seen.is_some() || exit_seen.is_some();
                let unhandled =
                    known || exit_seen != Some(lp.pid) && (told || lp.started.is_some_and(|t| t + 1 >= self.born));
                let start_told = !known && start_seen == Some(lp.pid);
                if new_process && lp.dead && !pane.placeholder && unhandled {
                    pane.watched = Some(lp.pid);
                    pane.restart_requested = false;
                    if !start_told {
                        let data = serde_json::json!({ "pid": lp.pid, "tmux_id": lp.pane_id });
                        self.events.emit("pane.started", &pane.project, &pane.address, data);
                        announce(&self.tmux, &lp.pane_id, START_SEEN, lp.pid);
                    }
                    let _ = self.tx.send(Msg::Exited(lp.pane_id.clone(), lp.pid));
                }
                if new_process && !lp.dead && !pane.placeholder {
                    pane.generation += 1;
                    pane.health = None;
                    pane.over_limit = false;
                    pane.restart_requested = false;
                    if !start_told {
                        let data = serde_json::json!({ "pid": lp.pid, "tmux_id": lp.pane_id });
                        self.events.emit("pane.started", &pane.project, &pane.address, data);
                        announce(&self.tmux, &lp.pane_id, START_SEEN, lp.pid);
                    }
                    if pane.checked() && known {
                        self.set_health(&lp.pane_id, crate::reconcile::health::State::Starting, None).await;
                    } else if pane.checked() {
                        // Started before we watched it (`up --wait` may have seen it healthy):
                        // say nothing until a probe or its output tells.
                        pane.health = Some(crate::reconcile::health::Tracker::new());
                        if pane
                            .spec
                            .as_ref()
                            .and_then(|p| p.health.as_ref())
                            .is_some_and(|h| !matches!(h.check, Check::Log(_)))
                        {
                            schedule_probe(lp.pane_id.clone(), pane.generation, Duration::ZERO, self.tx.clone());
                        }
                    }
                }
            }
        }
        // Sessions a subscription targets are watched too, and their unmanaged panes tracked.
        self.watch_subscribed(&live);
        self.track_unmanaged(&live);
        let gone: Vec<String> = self.panes.keys().filter(|id| !seen.contains(*id)).cloned().collect();
        for id in gone {
            if let Some(mut p) = self.panes.remove(&id) {
                p.flush();
                self.events.emit("pane.removed", &p.project, &p.address, serde_json::json!({ "tmux_id": id }));
            }
        }
        true
    }

    /// Attaches a control client to session `session_id` unless one is attached.
    fn watch(&mut self, session_id: &str) {
        if self.sessions.contains(session_id) {
            return;
        }
        self.sessions.insert(session_id.to_string());
        let (ready, attached) = oneshot::channel();
        self.attaching.push(attached);
        let changed = self.changed.clone();
        let (recapture, requests) = mpsc::unbounded_channel();
        self.watchers.insert(session_id.to_string(), recapture);
        let channels = Channels { tx: self.tx.clone(), ready, changed, requests };
        watch_session(self.tmux.clone(), session_id.to_string(), channels);
    }

    /// The pids whose start and exit a daemon announced, by pane id ([`START_SEEN`],
    /// [`EXIT_SEEN`]).
    async fn announced(&self) -> HashMap<String, (Option<u32>, Option<u32>)> {
        let format = format!("#{{pane_id}}\t#{{{START_SEEN}}}\t#{{{EXIT_SEEN}}}");
        let query = crate::tmux::Cmd::query("list-panes").args(["-a", "-F", &format]);
        let out = self.tmux.run(&[query]).await.unwrap_or_default();
        out.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Some((f.first()?.to_string(), (f.get(1)?.parse().ok(), f.get(2)?.parse().ok())))
            })
            .collect()
    }

    /// Sets a pane's health, recording a `health.changed` event when it changes, and starts its
    /// probe timer when it has a probe.
    async fn set_health(&mut self, id: &str, state: crate::reconcile::health::State, error: Option<String>) {
        use crate::reconcile::health::{State, Tracker};
        let Some(pane) = self.panes.get_mut(id) else { return };
        let first = pane.health.is_none();
        let tracker = pane.health.get_or_insert_with(Tracker::new);
        let from = if first { State::None } else { tracker.state };
        tracker.state = state;
        if from == state {
            return;
        }
        let data = serde_json::json!({ "from": from.as_str(), "to": state.as_str(), "error": error });
        self.events.emit("health.changed", &pane.project, &pane.address, data);
        let set = crate::tmux::Cmd::new("set-option").args(["-p", "-t", id, "@ctmux-health", state.as_str()]);
        let _ = self.tmux.run(&[set]).await;
        if first
            && pane.spec.as_ref().and_then(|p| p.health.as_ref()).is_some_and(|h| !matches!(h.check, Check::Log(_)))
        {
            schedule_probe(id.to_string(), pane.generation, Duration::ZERO, self.tx.clone());
        }
        self.kick_pending();
    }

    /// Queues a pass that starts waiting panes whose dependencies hold ([`pending`]); nothing
    /// when no pane waits or a pass is queued already.
    fn kick_pending(&self) {
        let waiting: HashSet<&str> =
            self.panes.values().filter(|p| p.placeholder).map(|p| p.project.as_str()).collect();
        if waiting.is_empty() || self.pending_queued.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let projects = self.projects.values().filter(|p| waiting.contains(p.name.as_str())).cloned().collect();
        pending::pass(self.tmux.clone(), projects, self.pending_queued.clone(), self.tx.clone());
    }

    /// Runs a due probe (in its own task; the result comes back as a message).
    fn probe(&mut self, id: &str, generation: u64) {
        let Some(pane) = self.panes.get(id) else { return };
        if pane.generation != generation || pane.watched.is_none() {
            return;
        }
        let Some(spec) = pane.spec.clone() else { return };
        let Some(health) = spec.health.clone() else { return };
        let tx = self.tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let result = crate::reconcile::health::probe(&health.check, &spec, health.timeout).await;
            let _ = tx.send(Msg::ProbeDone(id, generation, result));
        });
    }

    /// Records a probe result; a pane that turns unhealthy is restarted when its policy allows
    /// (liveness): stopped gracefully here, restarted by the exit path with backoff.
    async fn probed(&mut self, id: &str, generation: u64, result: Result<(), String>) {
        use crate::reconcile::health::State;
        let Some(pane) = self.panes.get_mut(id) else { return };
        if pane.generation != generation || pane.watched.is_none() {
            return;
        }
        let Some(spec) = pane.spec.clone() else { return };
        let Some(health) = spec.health.clone() else { return };
        let tracker = pane.health.get_or_insert_with(crate::reconcile::health::Tracker::new);
        let before = tracker.state;
        let error = result.as_ref().err().cloned();
        tracker.record(&health, result);
        let (after, delay) = (tracker.state, tracker.until_next());
        // `ready_when` decides health alone once it matched; a probe cannot overrule it.
        if before != after && !(spec.ready_when.is_some() && before == State::Healthy) {
            tracker.state = before;
            self.set_health(id, after, error).await;
        }
        let Some(pane) = self.panes.get(id) else { return };
        schedule_probe(id.to_string(), generation, delay, self.tx.clone());
        if before != State::Unhealthy
            && after == State::Unhealthy
            && spec.restart != crate::manifest::model::Restart::No
        {
            let (project, address, pid) = (pane.project.clone(), pane.address.clone(), pane.pid);
            let tmux = self.tmux.clone();
            tokio::spawn(async move {
                let server = tmux.server_mark().await;
                crate::reconcile::stop::stop_tree(&server, &project, &address, pid, &spec.stop, Some(&spec)).await;
            });
        }
    }

    /// Logs what a pane printed before we watched it, once, resuming where an earlier daemon's
    /// log stopped ([`backlog`]); rules run on those lines too, since no daemon saw them.
    async fn backfill(&mut self, id: &str, mut rows: Vec<String>, partial: String, full: bool, at_exit: bool) {
        let mark = match self.marks.get(id) {
            Some(pending) => Some(*pending),
            None => {
                let query = crate::tmux::Cmd::query("show-options").args(["-p", "-v", "-t", id, "@ctmux-logged"]);
                self.tmux.run(&[query]).await.ok().and_then(|v| backlog::Mark::parse(&v))
            }
        };
        if at_exit {
            // tmux's own "Pane is dead (status …)" line is not the process's output.
            while rows.last().is_some_and(|r| r.trim().is_empty() || r.starts_with("Pane is dead (")) {
                rows.pop();
            }
        }
        let Some(pane) = self.panes.get_mut(id) else { return };
        let Some(log) = pane.log_path() else { return };
        let after = mark.and_then(|m| backlog::after_mark(&log, m));
        let tail = if mark.is_some() || at_exit { backlog::tail(&log, 100) } else { Vec::new() };
        let start = if at_exit {
            // The screen shows only this process's output (a respawn clears it); line it up by
            // content with what this process logged. Marks cannot be trusted here: tmux moved
            // its cursor past the very lines it did not send us.
            // Rows above where it started are an earlier process's (unless the history is at
            // its limit: rows shifted since).
            let base = if full { 0 } else { pane.process_row.min(rows.len()) };
            let mine = backlog::after_mark(&log, pane.process_start).unwrap_or_default();
            let mine = &mine[mine.len().saturating_sub(100)..];
            base + match (mine.is_empty(), backlog::overlap(&rows[base..], mine)) {
                (true, _) => 0,
                (false, 0) => rows.len() - base, // cannot line up: better a missing line than a repeat
                (false, j) => j,
            }
        } else {
            backlog::resume_row(&rows, mark, after.as_deref(), &tail, full)
        };
        // The log's last line is no longer among the rows tmux kept (its history is at the
        // limit): lines between it and the first kept row are gone. tmux does not count the rows
        // it drops, so the event says that, not how many.
        let gap = !at_exit && mark.is_some() && full && start == 0 && !tail.is_empty() && !rows.is_empty();
        let (project, address) = (pane.project.clone(), pane.address.clone());
        let mut lines = Vec::new();
        for row in rows.iter().skip(start) {
            lines.extend(pane.feed(format!("{row}\n").as_bytes()));
        }
        if !at_exit {
            pane.seed(partial.as_bytes());
        }
        pane.flush_log();
        let restart = if at_exit { pane.restart_after_capture.take() } else { None };
        if at_exit {
            pane.recapture_pending = false;
        }
        let pid = pane.pid;
        if gap {
            let data = serde_json::json!({ "lines": null, "kept_rows": rows.len() });
            self.events.emit("log.gap", &project, &address, data);
        }
        self.marks.insert(id.to_string(), backlog::Mark::now(&log, rows.len()));
        let flush = self.mark_commands();
        let _ = self.tmux.run(&flush).await;
        // Lines recovered at exit are logged, not acted on: the process is gone, and a rule
        // that restarts on them could loop.
        if !at_exit {
            self.lines(id, lines).await;
        }
        if let Some(delay) = restart {
            schedule_restart(id.to_string(), pid, delay, self.tx.clone());
        }
    }

    /// Writes down that the log holds every line above pane row `row` (see [`backlog`]).
    async fn mark(&mut self, id: &str, row: usize) {
        let Some(pane) = self.panes.get_mut(id) else { return };
        pane.flush_log();
        pane.unmarked = false;
        let Some(log) = pane.log_path() else { return };
        // Gathered and written in one tmux call a moment later, in a task: the loop never
        // waits on tmux for a mark (100 busy panes make 500 marks a second).
        if self.marks.is_empty() {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = tx.send(Msg::FlushMarks);
            });
        }
        self.marks.insert(id.to_string(), backlog::Mark::now(&log, row));
    }

    /// The `set-option` commands for the gathered marks (taking them).
    fn mark_commands(&mut self) -> Vec<crate::tmux::Cmd> {
        self.marks
            .drain()
            .map(|(id, mark)| {
                crate::tmux::Cmd::new("set-option").args(["-p", "-t", &id, "@ctmux-logged", &mark.render()])
            })
            .collect()
    }

    /// Writes the gathered marks. Two flushes may land out of order; an older mark only means
    /// more lines after it, which a resuming daemon counts, so any mark stays correct.
    fn flush_marks(&mut self) {
        let cmds = self.mark_commands();
        let tmux = self.tmux.clone();
        tokio::spawn(async move {
            let _ = tmux.run(&cmds).await;
        });
    }

    /// Marks a pane's log at its current cursor row (at exit, or when the daemon stops).
    async fn mark_now(&mut self, id: &str) {
        let query = crate::tmux::Cmd::query("display-message").args(["-p", "-t", id, "#{history_size} #{cursor_y}"]);
        let Ok(text) = self.tmux.run(&[query]).await else { return };
        let mut n = text.split_whitespace().map(|x| x.parse::<usize>().unwrap_or(0));
        let row = n.next().unwrap_or(0) + n.next().unwrap_or(0);
        self.mark(id, row).await;
    }

    /// Loads the manifest a session was built from (`@ctmux-manifest`), after a daemon restart.
    async fn adopt(&mut self, session: &str) {
        let cmd =
            crate::tmux::Cmd::query("show-options").args(["-v", "-t", &format!("={session}:"), "@ctmux-manifest"]);
        let Ok(file) = self.tmux.run(&[cmd]).await else { return };
        let mut env: HashMap<String, String> = std::env::vars().collect();
        let cmd =
            crate::tmux::Cmd::query("show-options").args(["-v", "-q", "-t", &format!("={session}:"), "@ctmux-compose"]);
        if let Ok(compose) = self.tmux.run(&[cmd]).await
            && !compose.trim().is_empty()
        {
            // Built from several files (or with profiles): compose them again.
            env.insert(crate::manifest::compose::COMPOSE_VAR.into(), compose.trim().to_string());
        }
        if let Ok(loaded) = crate::manifest::load(std::path::Path::new(file.trim()), &env) {
            let new = !self.projects.contains_key(&loaded.project.name);
            // A daemon killed with SIGKILL leaves no one to autosave: the new one takes over.
            if new {
                self.autosave.loaded(&loaded.project, &self.tx);
            }
            self.projects.insert(loaded.project.name.clone(), loaded.project);
            if new {
                // Its GC policy takes effect after a daemon restart too.
                self.gc_generation += 1;
                let _ = self.tx.send(Msg::Gc(self.gc_generation));
            }
        }
    }

    async fn output(&mut self, id: &str, bytes: &[u8]) {
        // A placeholder prints nothing (or one "waiting" line): output means `up` respawned it
        // with the real command, whose pid we learn now, before any rule acts on it.
        let stale = self.panes.get(id).is_some_and(|p| p.placeholder);
        if stale || !self.panes.contains_key(id) && !self.ignored.contains(id) {
            // A pane new in a watched session: tmux already tagged it (its tags are set in the
            // command that created it), so one look makes it known before its first byte is lost.
            self.refresh().await;
        }
        let Some(pane) = self.panes.get_mut(id) else {
            self.unmanaged_output(id, bytes);
            return;
        };
        let lines = pane.feed(bytes);
        pane.unmarked = true;
        // Each chunk tmux pushes is on disk before the next is read: `ctmux logs` sees it now,
        // and a line is logged before any action it triggers runs.
        pane.flush_log();
        self.lines(id, lines).await;
    }

    /// Runs rules and `ready_when` on complete lines of pane `id`.
    async fn lines(&mut self, id: &str, lines: Vec<String>) {
        if let Some(pane) = self.panes.get(id) {
            let (project, address) = (pane.project.clone(), pane.address.clone());
            self.output_events(id, &project, &address, &lines);
        }
        for line in lines {
            let Some(pane) = self.panes.get_mut(id) else { return };
            let ready = pane.ready_pattern().is_some_and(|re| re.is_match(&line))
                && pane.health.as_ref().is_some_and(|h| h.state != crate::reconcile::health::State::Healthy);
            for (rule, groups) in pane.rules_for(&line) {
                let names: serde_json::Map<String, serde_json::Value> =
                    groups.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
                // A matched line can be 1 MiB: the event keeps its first 4 KiB.
                let (text, cut) = rules::cut(&line, 4096);
                let mut data = serde_json::json!({ "rule": rule.pattern.source, "text": text, "groups": names });
                if cut {
                    data["truncated"] = serde_json::Value::Bool(true);
                }
                self.events.emit("pattern.matched", &pane.project, &pane.address, data);
                let tx = self.tx.clone();
                rules::act(
                    self.tmux.clone(),
                    &self.runner,
                    pane,
                    &rule.pattern.source,
                    &rule.action,
                    &line,
                    &groups,
                    tx,
                );
            }
            if ready {
                self.set_health(id, crate::reconcile::health::State::Healthy, None).await;
            }
        }
    }

    /// The kernel says process `pid` of pane `id` exited. tmux reaps it a moment later; its
    /// `pane-died` hook then wakes us ([`Msg::Died`]) unless it already has.
    async fn exited(&mut self, id: &str, pid: u32) -> bool {
        let live = match self.tmux.list(&[]).await {
            Ok((live, _)) => live,
            Err(TmuxError::NoServer | TmuxError::ServerLost) => return false,
            Err(_) => crate::tmux::Live::default(),
        };
        self.reaped(id, pid, &live).await
    }

    /// tmux reaped something: finish the exits that waited for it.
    async fn deaths(&mut self) -> bool {
        let pending: Vec<(String, u32)> =
            self.panes.values().filter_map(|p| p.exit_pending.map(|pid| (p.pane_id.clone(), pid))).collect();
        if pending.is_empty() {
            return true;
        }
        let live = match self.tmux.list(&[]).await {
            Ok((live, _)) => live,
            Err(TmuxError::NoServer | TmuxError::ServerLost) => return false,
            Err(_) => return true,
        };
        for (id, pid) in pending {
            if !self.reaped(&id, pid, &live).await {
                return false;
            }
        }
        true
    }

    /// Process `pid` of pane `id` exited and `live` is tmux's view since: record the exit (with
    /// its status when the pane kept it), and restart the pane by its policy. A pane respawned
    /// or killed meanwhile gets its `pane.exited` (status unknown) before the next
    /// `pane.started` / `pane.removed`. A pane tmux has not reaped yet waits for [`Msg::Died`].
    async fn reaped(&mut self, id: &str, pid: u32, live: &crate::tmux::Live) -> bool {
        let status = match live.panes.iter().find(|p| p.pane_id == id) {
            Some(p) if p.pid == pid && !p.dead => {
                // Also when the process left a child holding the pane's terminal: tmux calls
                // the pane dead once that closes too.
                if let Some(pane) = self.panes.get_mut(id).filter(|p| p.pid == pid)
                    && pane.exit_pending.replace(pid).is_none()
                {
                    // No hook fires when tmux 3.3a missed the SIGCHLD (`Tmux::list` makes it
                    // reap, once it shows the pane dead), or when a user's pane-level
                    // `pane-died` hook hides ours: look twice more, whatever happens.
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        for wait in [Duration::from_millis(100), Duration::from_secs(2)] {
                            tokio::time::sleep(wait).await;
                            if tx.send(Msg::DiedLate).is_err() {
                                return;
                            }
                        }
                    });
                }
                return true;
            }
            Some(p) if p.pid == pid => Some((p.exit_status, p.exit_signal, p.state.clone())),
            _ => None,
        };
        if let Some(pane) = self.panes.get_mut(id) {
            pane.exit_pending = None;
        }
        let Some(pane) = self.panes.get_mut(id).filter(|p| p.pid == pid) else { return self.refresh().await };
        pane.flush();
        pane.watched = None;
        let mut recapturing = false;
        if status.is_some() {
            // tmux 3.3a drops output it had queued for control clients when the process exits
            // (`control_write_pending` discards the blocks of a pane whose fd is closed): the
            // last lines, often the reason, may never reach us. Capture the pane through its
            // session's client, so the capture lands after every byte that did reach us, and
            // log what is missing (see `backfill`); a restart waits for that.
            if let Some(watcher) = self.watchers.get(&pane.session_id) {
                recapturing = watcher.send(id.to_string()).is_ok();
                pane.recapture_pending = recapturing;
            }
        } else if let Some(log) = pane.log_path().filter(|_| !pane.placeholder) {
            // Replaced (`respawn-pane -k`): the new process starts on a cleared screen. (A
            // placeholder printed nothing: its log position is already the new process's.)
            pane.process_start = backlog::Mark::now(&log, 0);
            self.marks.insert(id.to_string(), pane.process_start);
        }
        let Some(pane) = self.panes.get_mut(id) else { return true };
        pane.generation += 1;
        if pane.placeholder {
            return self.refresh().await;
        }
        let (exit_status, signal, state) = status.clone().unwrap_or_default();
        let data = serde_json::json!({ "status": exit_status, "signal": signal, "pid": pid });
        self.events.emit("pane.exited", &pane.project, &pane.address, data);
        announce(&self.tmux, id, EXIT_SEEN, pid);
        if status.is_none() {
            return self.refresh().await;
        }
        let requested = std::mem::take(&mut pane.restart_requested) && state != "stopped";
        if let Some(delay) = if requested { Some(Duration::ZERO) } else { pane.restart_delay(exit_status, &state) } {
            if recapturing {
                pane.restart_after_capture = Some(delay);
            } else {
                schedule_restart(id.to_string(), pid, delay, self.tx.clone());
            }
        }
        true
    }

    async fn restart(&mut self, id: &str, pid: u32) {
        let Some(pane) = self.panes.get_mut(id) else { return };
        if pane.pid != pid || pane.watched.is_some() {
            return;
        }
        pane.flush_log();
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
        // The new process starts on a cleared screen, below the history the old one left (tmux
        // keeps it), after what is logged now.
        cmds.push(crate::tmux::Cmd::query("display-message").args(["-p", "-t", id, "#{history_size}"]));
        let out = self.tmux.run(&cmds).await;
        let row = out.as_deref().ok().and_then(|o| o.lines().last()?.trim().parse().ok()).unwrap_or(0);
        pane.process_row = row;
        if let Some(log) = pane.log_path() {
            pane.process_start = backlog::Mark::now(&log, row);
            self.marks.insert(id.to_string(), pane.process_start);
        }
        if out.is_ok() {
            let data = serde_json::json!({ "restarts": pane.restarts });
            self.events.emit("pane.restarted", &pane.project, &pane.address, data);
        }
    }
}

/// The pane option naming the last pid whose `pane.started` a daemon recorded.
const START_SEEN: &str = "@ctmux-start-seen";

/// The pane option naming the last pid whose `pane.exited` a daemon recorded.
const EXIT_SEEN: &str = "@ctmux-exit-seen";

/// Writes down (in tmux, off the loop) that `pid`'s start or exit was recorded, so a daemon
/// started after this one crashed neither repeats nor misses it.
fn announce(tmux: &Arc<Tmux>, id: &str, option: &str, pid: u32) {
    let set = crate::tmux::Cmd::new("set-option").args(["-p", "-t", id, option, &pid.to_string()]);
    let tmux = tmux.clone();
    tokio::spawn(async move {
        let _ = tmux.run(&[set]).await;
    });
}

/// The wait-for channel the daemon's `pane-died` hook signals.
const DIED: &str = "ctmux-died";

/// The global option that says [`DIED`] was signalled and nobody has answered yet.
const DIED_RUNG: &str = "@ctmux-died";

/// A hook command that signals `channel` only when `flag` is unset, and sets it: a doorbell.
///
/// `wait-for -S` is a toggle when nobody waits (a second signal removes the kept one, so two
/// deaths between two waits would wake no one). `if-shell -F` decides when it runs and inserts
/// its commands right after itself, so of several hooks queued together one rings.
fn ring(channel: &str, flag: &str) -> String {
    format!("if-shell -F \"#{{{flag}}}\" \"\" \"set-option -g {flag} 1 ; wait-for -S {channel}\"")
}

/// The daemon's `pane-died` hook, at its own index.
fn died_hook() -> String {
    format!("pane-died[{}]", crate::tmux::REAPED_HOOK)
}

/// Sends [`Msg::Died`] each time the `pane-died` hook rings [`DIED`]. The bell is re-armed
/// before the daemon looks, so a death after the look rings again and one before it is seen.
fn watch_deaths(tmux: Arc<Tmux>, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let rearm = crate::tmux::Cmd::new("set-option").args(["-g", "-u", DIED_RUNG]);
        // A failed wait: the server is gone (the daemon ends by then).
        while tmux.wait_for(DIED).await {
            if tmux.run(std::slice::from_ref(&rearm)).await.is_err() || tx.send(Msg::Died).is_err() {
                return;
            }
        }
    });
}

/// Sends [`Msg::RestartDue`] after `delay`.
fn schedule_restart(id: String, pid: u32, delay: Duration, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = tx.send(Msg::RestartDue(id, pid));
    });
}

/// Sends [`Msg::ProbeDue`] after `delay`.
fn schedule_probe(id: String, generation: u64, delay: Duration, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = tx.send(Msg::ProbeDue(id, generation));
    });
}

/// A control client for one session, forwarding its panes' output to the loop. Each pane's
/// earlier output is captured through the same client, so tmux places the capture within the
/// output stream: output before its reply is in the capture, output after it is new. A pane
/// that printed is marked ([`Msg::Mark`]) a moment after its output pauses (at most every
/// [`MARK_EVERY`] while it goes on), the same way: a position query whose reply follows the
/// output it covers.
/// What a session watcher talks through.
struct Channels {
    /// To the loop.
    tx: mpsc::UnboundedSender<Msg>,
    /// Fired once attached and the first captures are asked for.
    ready: oneshot::Sender<()>,
    /// Set while a [`Msg::Changed`] is queued.
    changed: Arc<std::sync::atomic::AtomicBool>,
    /// Panes to capture again (they exited).
    requests: mpsc::UnboundedReceiver<String>,
}

fn watch_session(tmux: Arc<Tmux>, session: String, channels: Channels) {
    let Channels { tx, ready, changed, mut requests } = channels;
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
        let uncaptured = ids.iter().cloned().collect();
        let mut watch = Watch { expect: VecDeque::new(), uncaptured, held: Vec::new() };
        let mut line = Vec::new();
        for id in &ids {
            line.push(format!("display-message -p -t {id} '{POSITION}' ; capture-pane -p -t {id} -S -"));
            watch.expect.push_back(Expect::Position);
            watch.expect.push_back(Expect::Capture(id.clone()));
        }
        if !line.is_empty() && control.send(&[&line.join(" ; ")]).await.is_err() {
            let _ = tx.send(Msg::ClientGone(session));
            return;
        }
        let _ = ready.send(());
        let mut position = String::new();
        let mut dirty: HashSet<String> = HashSet::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let event = tokio::select! {
                event = control.next() => event,
                Some(id) = requests.recv() => {
                    let line = format!("display-message -p -t {id} '{POSITION}' ; capture-pane -p -t {id} -S -");
                    watch.expect.push_back(Expect::Position);
                    watch.expect.push_back(Expect::Recapture(id));
                    if control.send(&[&line]).await.is_err() {
                        let _ = tx.send(Msg::ClientGone(session));
                        return;
                    }
                    continue;
                }
                _ = sleep_until(deadline) => {
                    deadline = None;
                    let queries: Vec<String> = dirty.drain().map(|id| {
                        let q = format!("display-message -p -t {id} '{POSITION}'");
                        watch.expect.push_back(Expect::Mark(id));
                        q
                    }).collect();
                    if !queries.is_empty() && control.send(&[&queries.join(" ; ")]).await.is_err() {
                        let _ = tx.send(Msg::ClientGone(session));
                        return;
                    }
                    continue;
                }
            };
            match event {
                Event::Output(id, bytes) => {
                    if watch.capturing() {
                        // A pane whose capture has not answered yet: this output is in it.
                        // Any other pane (captured already, or new since the attach): new
                        // output, held to keep the order.
                        if !watch.uncaptured.contains(&id) {
                            watch.held.push((id, bytes));
                        }
                        continue;
                    }
                    dirty.insert(id.clone());
                    deadline.get_or_insert_with(|| tokio::time::Instant::now() + MARK_EVERY);
                    if tx.send(Msg::Output(id, bytes)).is_err() {
                        return;
                    }
                }
                Event::Reply(body) => {
                    let text = String::from_utf8_lossy(&body).to_string();
                    match watch.expect.pop_front() {
                        Some(Expect::Position) => position = text,
                        Some(Expect::Capture(id)) => {
                            let (row, full) = parse_position(&position);
                            let rows: Vec<String> = text.split('\n').map(str::to_string).collect();
                            let partial = rows.get(row).cloned().unwrap_or_default();
                            let above = rows.into_iter().take(row).collect();
                            let _ = tx.send(Msg::Backfill(id.clone(), above, partial, full, false));
                            watch.uncaptured.remove(&id);
                            if !watch.capturing() {
                                for (id, bytes) in watch.held.drain(..) {
                                    dirty.insert(id.clone());
                                    let _ = tx.send(Msg::Output(id, bytes));
                                }
                                if !dirty.is_empty() {
                                    deadline = Some(tokio::time::Instant::now() + MARK_EVERY);
                                }
                            }
                        }
                        Some(Expect::Recapture(id)) => {
                            let (row, full) = parse_position(&position);
                            let rows: Vec<String> = text.split('\n').map(str::to_string).collect();
                            let above = rows.into_iter().take(row).collect();
                            let _ = tx.send(Msg::Backfill(id, above, String::new(), full, true));
                        }
                        Some(Expect::Mark(id)) => {
                            let (row, _) = parse_position(&text);
                            let _ = tx.send(Msg::Mark(id, row));
                        }
                        None => {}
                    }
                }
                Event::Changed => {
                    if !changed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        let _ = tx.send(Msg::Changed);
                    }
                }
                Event::Exit => {
                    let _ = tx.send(Msg::ClientGone(session));
                    return;
                }
            }
        }
    });
}

/// How long output may go unmarked in `@ctmux-logged` (what a killed daemon may have to sort
/// out again from tmux's history).
const MARK_EVERY: Duration = Duration::from_millis(200);

/// Where a pane's cursor is, absolutely, and whether its history is at the limit.
const POSITION: &str = "#{history_size} #{cursor_y} #{history_limit}";

fn parse_position(text: &str) -> (usize, bool) {
    let n: Vec<usize> = text.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    let (size, y, limit) = (n.first().copied().unwrap_or(0), n.get(1).copied().unwrap_or(0), n.get(2).copied());
    // tmux drops a tenth of a full history at a time: once it has been full, it stays above 90%.
    (size + y, limit.is_some_and(|l| l > 0 && size >= l - l / 10))
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Replies a session's control client waits for, in order.
enum Expect {
    Position,
    Capture(String),
    /// A capture after the pane's process exited.
    Recapture(String),
    Mark(String),
}

struct Watch {
    expect: VecDeque<Expect>,
    /// Panes whose attach-time capture has not answered yet.
    uncaptured: HashSet<String>,
    held: Vec<(String, Vec<u8>)>,
}

impl Watch {
    /// Still waiting for the first captures.
    fn capturing(&self) -> bool {
        self.expect.iter().any(|e| matches!(e, Expect::Capture(_)))
    }
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
