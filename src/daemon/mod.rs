//! The daemon: one per tmux server, pushed every event — managed panes' output through inotify
//! on the logs their sinks write ([`follow`]), exits through a pidfd per pane process and
//! tmux's `pane-died` hook, layout changes through tmux hooks — never polling.
//!
//! Each managed pane's output is logged by its own sink process (`pipe-pane`, see
//! [`crate::sink`]), which outlives the daemon; the daemon reads the logs to run the manifest's
//! `on:` rules, `ready_when`/`log` health and `pane.output` subscriptions, and restarts panes by
//! their `restart:` policy with exponential backoff. Tasks feed one loop that owns all state, so
//! nothing is shared or locked. It exits when its tmux server is gone.
//!
//! Every event goes to the state store (`ctmux events`), the daemon's log, live followers and
//! runtime subscriptions ([`events`]). Health checks run on their own timers. After a restart
//! the daemon resumes each pane's log at the offset the last one recorded: no line is acted on
//! twice, none skipped.

mod autosave;
pub mod client;
pub mod events;
mod filewatch;
mod follow;
pub mod gc;
pub mod logfile;
mod manifests;
pub mod paths;
mod pending;
pub mod protocol;
pub mod registry;
mod rules;
pub mod sampling;
mod state;
mod unmanaged;

use std::collections::{HashMap, HashSet};
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
    /// Pane logs grew ([`follow`]).
    Logs,
    /// Time to save the log offsets processed since the last save.
    SaveOffsets,
    /// Time to sample resource use and check limits (then schedule the next tick).
    Sample,
    /// Sample once more, off the regular ticks (a CPU rate needs a second look).
    SampleOnce,
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
    /// A file in a followed manifest's directory changed ([`manifests`]).
    ManifestSaved(std::path::PathBuf),
    /// A file a pane's `watch:` matches changed: (project, address, path, debounce) ([`filewatch`]).
    WatchHit(String, String, std::path::PathBuf, Duration),
    /// A pane's watch debounce is over, for the change numbered so ([`filewatch`]).
    WatchDue(String, String, u64),
}

/// Runs the daemon for `socket`'s server until that server exits or `daemon stop`.
pub async fn run(socket: Socket) -> Result<(), Error> {
    let path = paths::socket_path(&socket).map_err(paths::runtime_error)?;
    // A daemon registered in the server that still runs: refuse at once ([`registry`]).
    registry::refuse_if_served(&socket)?;
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
    // One daemon per tmux server, whatever the runtime directory ([`registry`]).
    let registration = registry::claim(&Tmux::new(socket.clone()), &path).await?;
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| Error::failed(format!("cannot listen on {}: {e}", path.display()), None))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    let server = socket.key();
    let logs = paths::server_logs(&socket);
    let tmux = Arc::new(Tmux::new(socket));
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    spawn_listener(listener, tx.clone());
    let wake = tx.clone();
    let follow = follow::Follow::new(&logs, move || {
        let _ = wake.send(Msg::Logs);
    });
    registry::notify_ready();
    let mut daemon = Daemon {
        tmux,
        tx: tx.clone(),
        projects: HashMap::new(),
        sessions: HashSet::new(),
        panes: HashMap::new(),
        started: Instant::now(),
        events: Events::new(server),
        attaching: Vec::new(),
        changed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        ignored: HashSet::new(),
        managed_sessions: HashSet::new(),
        follow,
        save_queued: false,
        force_look: false,
        refused_logs: HashSet::new(),
        sampler: crate::metrics::Sampler::new(),
        sampling: sampling::Sampling::default(),
        unmanaged: unmanaged::Unmanaged::default(),
        born: crate::reconcile::build::now_secs(),
        pending_queued: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        runner: Arc::new(rules::Runner::new()),
        drops: HashMap::new(),
        gc_generation: 0,
        autosave: autosave::Autosave::default(),
        sources: manifests::Sources::new(tx.clone()),
        filewatch: filewatch::FileWatch::new(tx.clone()),
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
    // The same bell rings when panes, windows or sessions come or go (no control client tells).
    let mut hooks: Vec<crate::tmux::Cmd> = bell_hooks()
        .into_iter()
        .map(|h| crate::tmux::Cmd::new("set-hook").args(["-g", &h, &ring(DIED, DIED_RUNG)]))
        .collect();
    hooks.push(crate::tmux::Cmd::new("set-option").args(["-g", "-u", DIED_RUNG]));
    // Wakes any waiter a killed daemon left on the channel (it exits); with none, our own first
    // wait returns at once, which costs one look.
    hooks.push(crate::tmux::Cmd::new("wait-for").args(["-S", DIED]));
    if daemon.tmux.run(&hooks).await.is_ok() {
        watch_deaths(daemon.tmux.clone(), daemon.tx.clone());
    }
    let _ = daemon.tx.send(Msg::Sample);
    let _ = daemon.tx.send(Msg::Gc(0));
    if !daemon.refresh().await {
        daemon.events.emit("daemon.stopped", "", "", serde_json::json!({ "reason": "no tmux server" }));
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    let stop = registry::stop_signal();
    tokio::pin!(stop);
    loop {
        let msg = tokio::select! {
            biased;
            _ = &mut gone => break,
            _ = &mut stop => break,
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
                | Msg::ManifestSaved(_)
        );
        // An exit can make a GC removal due (`gc.exited`): plan again rather than at the next
        // minute (a daemon restarted by its supervisor adopts a project before its panes exit).
        let exit = matches!(msg, Msg::Exited(..) | Msg::Died | Msg::DiedLate);
        let keep_going = match msg {
            Msg::Logs => {
                daemon.logs(false).await;
                true
            }
            Msg::SaveOffsets => {
                daemon.save_offsets();
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
                let exited = daemon.panes.get_mut(&id).filter(|p| p.pid == pid).and_then(|p| {
                    p.restart_requested = p.watched.is_some();
                    (!p.restart_requested).then_some(p.pid)
                });
                if let Some(pid) = exited {
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
            Msg::ManifestSaved(path) => {
                if daemon.sources.follows(&path) {
                    for project in daemon.sources.reread(Some(&path)) {
                        eprintln!("ctmux daemon: {} changed: acting on it from now on", path.display());
                        daemon.install(project, true);
                    }
                }
                true
            }
            Msg::WatchHit(project, address, path, debounce) => {
                daemon.filewatch.hit(project, address, path, debounce);
                true
            }
            Msg::WatchDue(project, address, seq) => {
                daemon.watch_due(&project, &address, seq).await;
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
        if exit && daemon.projects.values().any(gc::wanted) {
            daemon.gc_generation += 1;
            let _ = daemon.tx.send(Msg::Gc(daemon.gc_generation));
        }
    }
    // No new clients from here on; the lock is held until we are done.
    let _ = std::fs::remove_file(&path);
    // What the logs hold now is acted on, and where we stopped is saved.
    daemon.logs(true).await;
    daemon.save_offsets();
    let mut cmds: Vec<crate::tmux::Cmd> =
        bell_hooks().iter().map(|h| crate::tmux::Cmd::new("set-hook").args(["-g", "-u", h])).collect();
    cmds.push(crate::tmux::Cmd::new("set-option").args(["-g", "-u", DIED_RUNG]));
    cmds.extend(registration.as_ref().map(registry::release));
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
                let mut reader = BufReader::new(read.take(1 << 20));
                let mut raw = Vec::new();
                // Bytes, not `lines()`: a line that is not UTF-8 gets a `bad request` answer
                // like any other malformed line instead of ending the connection unanswered.
                while {
                    raw.clear();
                    matches!(reader.read_until(b'\n', &mut raw).await, Ok(n) if n > 0)
                } {
                    let parsed = match std::str::from_utf8(&raw) {
                        Ok(line) => protocol::parse_request(line.trim_end_matches(['\n', '\r'])),
                        Err(e) => Err(format!("bad request: not UTF-8 text ({e})")),
                    };
                    let response = match parsed {
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
    /// Sessions with managed panes: watched (their unmanaged panes tracked and sampled) without
    /// a control client.
    managed_sessions: HashSet<String>,
    /// Unmanaged panes in watched sessions: their output is not ours.
    ignored: HashSet<String>,
    /// Managed panes' logs, read as they grow ([`follow`]).
    follow: follow::Follow,
    /// A [`Msg::SaveOffsets`] is queued.
    save_queued: bool,
    /// The next [`Msg::Logs`] reads every followed log (one was added).
    force_look: bool,
    /// Pane log paths already reported as refused (a planted link), so each is said once.
    refused_logs: HashSet<std::path::PathBuf>,
    /// Resource use, between samples.
    sampler: crate::metrics::Sampler,
    /// What was sampled when ([`sampling`]).
    sampling: sampling::Sampling,
    /// Panes not created from a manifest in the sessions we watch ([`unmanaged`]).
    unmanaged: unmanaged::Unmanaged,
    /// When this daemon started, Unix seconds.
    born: u64,
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
    /// Where each project's manifest came from, followed for changes ([`manifests`]).
    sources: manifests::Sources,
    /// Panes' `watch:` ([`filewatch`]).
    filewatch: filewatch::FileWatch,
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
                    supervisor: registry::supervisor(),
                    socket: registry::mine().map(|r| r.socket.display().to_string()),
                }),
            },
            Request::Load { file, env, content } => {
                let env: HashMap<String, String> = env.into_iter().collect();
                match self.sources.load(std::path::Path::new(&file), env, content) {
                    Ok(project) => {
                        self.install(project, true);
                        self.refresh().await;
                        // New sessions are watched (their history captured) before we answer.
                        for attached in self.attaching.drain(..) {
                            let _ = tokio::time::timeout(Duration::from_secs(3), attached).await;
                        }
                        Response::ok()
                    }
                    Err(e) => Response::error(e),
                }
            }
            Request::Forget { project } => {
                self.sources.forget(&project);
                self.projects.remove(&project);
                for pane in self.panes.values_mut().filter(|p| p.project == project) {
                    pane.spec = None;
                }
                Response::ok()
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

    /// Makes `project` the version acted on: pane specs, autosave, event retention, and (with
    /// `gc`) a GC pass now with a timer that follows the new policy.
    fn install(&mut self, project: Project, gc: bool) {
        for pane in self.panes.values_mut().filter(|p| p.project == project.name) {
            pane.spec = project.pane(&pane.address).cloned();
        }
        self.autosave.loaded(&project, &self.tx);
        self.sources.held(&project);
        self.filewatch.load(&project);
        let (name, retention) = (project.name.clone(), project.gc.event_retention);
        self.projects.insert(project.name.clone(), project);
        self.prune(&name, retention);
        if gc {
            self.gc_generation += 1;
            let _ = self.tx.send(Msg::Gc(self.gc_generation));
        }
    }

    /// One GC pass: removes what the projects' `gc:` TTLs say is due, records each removal as
    /// `gc.collected` with its reason, and schedules the next pass. The manifests are read
    /// again first, so the pass plans from what `ctmux gc --dry-run` would read.
    async fn collect(&mut self) -> bool {
        for project in self.sources.reread(None) {
            self.install(project, false);
        }
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

    /// Re-reads tmux: new managed panes get their logs followed (and a sink when they have
    /// none), new pane processes a pidfd watch and a `pane.started` event. Returns false when
    /// the tmux server is gone (the daemon exits).
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
        self.managed_sessions = live
            .panes
            .iter()
            .filter(|p| !p.project.is_empty() && !p.address.is_empty())
            .map(|p| p.session_id.clone())
            .collect();
        self.ignored = live
            .panes
            .iter()
            .filter(|p| p.project.is_empty() || p.address.is_empty())
            .map(|p| p.pane_id.clone())
            .collect();
        let mut tried = HashSet::new();
        for lp in live.panes.iter().filter(|p| !p.project.is_empty() && !p.address.is_empty()) {
            seen.insert(lp.pane_id.clone());
            if !self.projects.contains_key(&lp.project) && tried.insert(lp.project.clone()) {
                self.adopt(&lp.session).await;
            }
            if !self.follow.has(&lp.pane_id) {
                self.follow_log(lp);
            }
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
                // tmux's count: ours after our own restart, 0 after a verb's start (`restart`,
                // `start`, `up`), which gives the policy its whole budget again.
                pane.restarts = lp.restarts;
                pane.gave_up = lp.gave_up;
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
                } else if !known && lp.dead && !pane.placeholder && exit_seen == Some(lp.pid) {
                    // An earlier daemon recorded this exit and died (SIGKILL) while the restart
                    // was waiting out its backoff: the restart is still owed. The pane is still
                    // dead with that pid, so it did not happen; the backoff starts again now.
                    let gave_up = lp.gave_up;
                    if let Some(delay) = pane.restart_delay(lp.exit_status, &lp.state) {
                        schedule_restart(lp.pane_id.clone(), lp.pid, delay, self.tx.clone());
                    }
                    pane.gave_up = gave_up || pane.gave_up;
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
                    // A process that started since this daemon did (or just before: the `up`
                    // that started the daemon) is news; an older one may be healthy already.
                    let fresh = lp.started.is_some_and(|t| t + 1 >= self.born);
                    if pane.checked() && (known || fresh) {
                        let pattern = pane.ready_pattern().cloned();
                        self.set_health(&lp.pane_id, crate::reconcile::health::State::Starting, None).await;
                        // Its output may have reached us before this look told us the process
                        // is new (a `start` of a stopped pane: no exit, no layout change): a
                        // `ready_when` line seen then was ignored, and would never come again.
                        // The screen holds what the new process printed (respawn clears it).
                        if let Some(re) = pattern {
                            let capture = crate::tmux::Cmd::query("capture-pane").args(["-p", "-J", "-t", &lp.pane_id]);
                            if let Ok(text) = self.tmux.run(&[capture]).await
                                && text.lines().any(|l| re.is_match(&crate::ansi::strip(l)))
                            {
                                self.set_health(&lp.pane_id, crate::reconcile::health::State::Healthy, None).await;
                            }
                        }
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
        if unknown {
            self.pipe_unpiped().await;
        }
        for id in gone {
            if let Some(p) = self.panes.remove(&id) {
                // Its last lines first.
                self.log_lines(&id).await;
                if let Some((path, inode, offset)) = self.follow.remove(&id) {
                    self.save(&[(path, inode, offset)]);
                }
                self.events.emit("pane.removed", &p.project, &p.address, serde_json::json!({ "tmux_id": id }));
            }
        }
        true
    }

    /// Attaches a control client to session `session_id` unless one is attached (only for
    /// sessions a subscription watches: unmanaged panes' output and events).
    fn watch(&mut self, session_id: &str) {
        if self.sessions.contains(session_id) {
            return;
        }
        self.sessions.insert(session_id.to_string());
        let (ready, attached) = oneshot::channel();
        self.attaching.push(attached);
        let changed = self.changed.clone();
        let channels = Channels { tx: self.tx.clone(), ready, changed };
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
        if state == State::Healthy {
            self.watch_healthy(id);
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
        let projects = self.projects.keys().filter(|p| waiting.contains(p.as_str())).cloned().collect();
        pending::pass(self.tmux.clone(), projects, self.sources.latest(), self.pending_queued.clone(), self.tx.clone());
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

    /// Loads the manifest a session was built from (`@ctmux-manifest`), after a daemon restart.
    /// A project brought up with `--no-daemon` (`@ctmux-no-daemon` on its session) is not
    /// adopted: this daemon never acts on its panes.
    async fn adopt(&mut self, session: &str) {
        let ask = crate::tmux::Cmd::query("display-message").args([
            "-p",
            "-t",
            &format!("={session}:"),
            "#{@ctmux-no-daemon}\x1f#{@ctmux-manifest}\x1f#{@ctmux-compose}",
        ]);
        let Ok(out) = self.tmux.run(&[ask]).await else { return };
        let mut fields = out.trim_end_matches('\n').split('\x1f');
        let (Some(no_daemon), Some(file)) = (fields.next(), fields.next()) else { return };
        let compose = fields.next().unwrap_or_default();
        if no_daemon == "1" || file.is_empty() {
            return;
        }
        let mut env: HashMap<String, String> = std::env::vars().collect();
        if !compose.trim().is_empty() {
            // Built from several files (or with profiles): compose them again.
            env.insert(crate::manifest::compose::COMPOSE_VAR.into(), compose.trim().to_string());
        }
        if let Ok(project) = self.sources.load(std::path::Path::new(file), env, None) {
            let new = !self.projects.contains_key(&project.name);
            // A daemon killed with SIGKILL leaves no one to autosave: the new one takes over.
            if new {
                self.autosave.loaded(&project, &self.tx);
            }
            // Its panes' `watch:` too ([`filewatch`]).
            self.filewatch.load(&project);
            self.projects.insert(project.name.clone(), project);
            if new {
                // Its GC policy takes effect after a daemon restart too.
                self.gc_generation += 1;
                let _ = self.tx.send(Msg::Gc(self.gc_generation));
            }
        }
    }

    /// Output a control client pushed (sessions a subscription watches): unmanaged panes'
    /// lines go to `pane.output` subscriptions; managed panes' output is read from their logs.
    async fn output(&mut self, id: &str, bytes: &[u8]) {
        if !self.panes.contains_key(id) && !self.ignored.contains(id) {
            // A pane new in a watched session: one look tells whether it is managed.
            self.refresh().await;
        }
        if !self.panes.contains_key(id) {
            self.unmanaged_output(id, bytes);
        }
    }

    /// Starts following managed pane `lp`'s log: where the last daemon stopped, else from its
    /// current process's start.
    fn follow_log(&mut self, lp: &crate::tmux::LivePane) {
        let Ok(path) = paths::pane_log(&self.tmux.socket, &lp.project, &lp.address) else { return };
        let key = path.to_string_lossy().into_owned();
        let saved = self.events.store.as_ref().and_then(|s| s.log_offset(&key).ok().flatten());
        let from_ms = lp.started.map(|t| t * 1000);
        // A planted link where the log's directory should be: the sink refuses to write through
        // it and ends, and nothing would say why. Said once, in the daemon log and as an event.
        if let Err(e) = crate::fs_safe::open_read(&path)
            && e.kind() != std::io::ErrorKind::NotFound
            && self.refused_logs.insert(path.clone())
        {
            eprintln!("ctmux daemon: {}: not logging {}: {e}", lp.address, path.display());
            let data = serde_json::json!({ "path": path.display().to_string(), "error": e.to_string() });
            self.events.emit("log.refused", &lp.project, &lp.address, data);
        }
        self.follow.add(&lp.pane_id, path, saved, from_ms);
        // Lines it logged before we looked (no inotify event for those).
        let _ = self.tx.send(Msg::Logs);
        self.force_look = true;
    }

    /// Pipes managed panes that have no sink (a stack brought up by an older ctmux, or a sink
    /// that died) into one, so no managed pane goes unlogged.
    async fn pipe_unpiped(&mut self) {
        // Spaces, not control characters: tmux rewrites those for a client that is not UTF-8.
        let format =
            "#{pane_id} #{pane_pipe} #{pane_dead} #{?#{@ctmux-hash},#{@ctmux-hash},-} #{@ctmux-project} #{@ctmux-id}";
        let query = crate::tmux::Cmd::query("list-panes").args(["-a", "-F", format]);
        let Ok(out) = self.tmux.run(&[query]).await else { return };
        let cmds: Vec<crate::tmux::Cmd> = out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.splitn(6, ' ').collect();
                let [id, pipe, dead, hash, project, address] = f[..] else { return None };
                let unpiped = pipe != "1" && dead != "1" && hash != "pending" && !project.is_empty();
                (unpiped && !address.is_empty()).then(|| crate::tmux::pipe::pipe(id, project, address))
            })
            .collect();
        if !cmds.is_empty() {
            // One at a time: a pane that died meanwhile fails its own command only.
            for cmd in cmds {
                let _ = self.tmux.run(&[cmd]).await;
            }
        }
    }

    /// Reads the logs that grew (every followed log when `all`) and acts on their new lines.
    async fn logs(&mut self, all: bool) {
        let all = all || std::mem::take(&mut self.force_look);
        for id in self.follow.changed(all) {
            self.log_lines(&id).await;
        }
    }

    /// Acts on pane `id`'s new log lines: rules, `ready_when`, `pane.output` events. The offset
    /// past a line is saved before an action or event it triggers, so a daemon killed at any
    /// point neither repeats nor skips one; other offsets are saved within [`follow::SAVE_EVERY`].
    async fn log_lines(&mut self, id: &str) {
        let read = self.follow.read(id);
        if read.is_empty() || !self.panes.contains_key(id) {
            if let (false, Some(last)) = (read.is_empty(), read.last()) {
                self.follow.processed(id, last.inode, last.end);
                self.queue_save();
            }
            return;
        }
        let mut lines = Vec::with_capacity(read.len());
        for line in &read {
            let stripped = crate::ansi::strip(&String::from_utf8_lossy(&line.raw));
            // What `pane exec`'s typed wrapper prints is ctmux's, not the pane's: rules, health and
            // subscriptions see the line as a reading shows it (exec_marks), or not at all.
            let Some(text) = crate::exec_marks::strip_exec_wrapper(&stripped).map(std::borrow::Cow::into_owned) else {
                continue;
            };
            let Some(pane) = self.panes.get_mut(id) else { return };
            let ready = pane.ready_pattern().is_some_and(|re| re.is_match(&text))
                && pane.health.as_ref().is_some_and(|h| h.state != crate::reconcile::health::State::Healthy);
            let fired = pane.rules_for(&text);
            if !fired.is_empty()
                && let Some(position) = self.follow.processed(id, line.inode, line.end)
            {
                self.save(&[position]);
            }
            self.fire(id, &text, fired);
            if ready {
                self.set_health(id, crate::reconcile::health::State::Healthy, None).await;
            }
            lines.push(text);
        }
        if let Some(last) = read.last()
            && let Some(position) = self.follow.processed(id, last.inode, last.end)
        {
            if self.events.subscriptions().iter().any(|s| s.event == "pane.output") {
                self.save(&[position]);
            } else {
                self.queue_save();
            }
        }
        if let Some(pane) = self.panes.get(id) {
            let (project, address) = (pane.project.clone(), pane.address.clone());
            self.output_events(id, &project, &address, &lines);
        }
    }

    /// Records and runs the rules that fired on `line` of pane `id`.
    fn fire(&mut self, id: &str, line: &str, fired: Vec<(crate::manifest::model::Rule, Vec<(String, String)>)>) {
        let Some(pane) = self.panes.get_mut(id) else { return };
        for (rule, groups) in fired {
            let names: serde_json::Map<String, serde_json::Value> =
                groups.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
            // A matched line can be 1 MiB: the event keeps its first 4 KiB.
            let (text, cut) = rules::cut(line, 4096);
            let mut data = serde_json::json!({ "rule": rule.pattern.source, "text": text, "groups": names });
            if cut {
                data["truncated"] = serde_json::Value::Bool(true);
            }
            self.events.emit("pattern.matched", &pane.project, &pane.address, data);
            let tx = self.tx.clone();
            rules::act(self.tmux.clone(), &self.runner, pane, &rule.pattern.source, &rule.action, line, &groups, tx);
        }
    }

    /// Saves log positions now (in one transaction).
    fn save(&mut self, positions: &[(std::path::PathBuf, u64, u64)]) {
        let rows: Vec<(String, u64, u64)> =
            positions.iter().map(|(p, i, o)| (p.to_string_lossy().into_owned(), *i, *o)).collect();
        if let Some(store) = &self.events.store
            && let Err(e) = store.set_log_offsets(&rows)
        {
            eprintln!("ctmux daemon: saving log offsets: {e}");
        }
    }

    /// Saves every position not saved yet.
    fn save_offsets(&mut self) {
        self.save_queued = false;
        let positions = self.follow.unsaved();
        if !positions.is_empty() {
            self.save(&positions);
        }
    }

    /// Schedules a [`Msg::SaveOffsets`] unless one is queued.
    fn queue_save(&mut self) {
        if std::mem::replace(&mut self.save_queued, true) {
            return;
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(follow::SAVE_EVERY).await;
            let _ = tx.send(Msg::SaveOffsets);
        });
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
        if self.panes.get(id).is_none_or(|p| p.pid != pid) {
            return self.refresh().await;
        }
        // Its last lines are acted on before its exit is told (as far as its sink wrote them).
        self.log_lines(id).await;
        let Some(pane) = self.panes.get_mut(id) else { return true };
        pane.watched = None;
        pane.generation += 1;
        if pane.placeholder {
            return self.refresh().await;
        }
        let (exit_status, signal, state) = status.clone().unwrap_or_default();
        let data = serde_json::json!({ "status": exit_status, "signal": signal, "pid": pid });
        self.events.emit("pane.exited", &pane.project, &pane.address, data);
        announce_exit(&self.tmux, id, pid).await;
        if status.is_none() {
            return self.refresh().await;
        }
        let requested = std::mem::take(&mut pane.restart_requested) && state != "stopped";
        let gave_up = pane.gave_up;
        if let Some(delay) = if requested { Some(Duration::ZERO) } else { pane.restart_delay(exit_status, &state) } {
            schedule_restart(id.to_string(), pid, delay, self.tx.clone());
        } else if pane.gave_up && !gave_up {
            // The budget is spent: said once, and kept on the pane for `status`.
            let max = pane.spec.as_ref().and_then(|s| s.max_restarts);
            let data = serde_json::json!({
                "restarts": pane.restarts, "max_restarts": max, "status": exit_status, "signal": signal, "pid": pid,
            });
            self.events.emit("pane.gave_up", &pane.project, &pane.address, data);
            let set = crate::tmux::Cmd::new("set-option").args(["-p", "-t", id, "@ctmux-gave-up", "1"]);
            let _ = self.tmux.run(&[set]).await;
        }
        true
    }

    async fn restart(&mut self, id: &str, pid: u32) {
        let Some(pane) = self.panes.get(id) else { return };
        if pane.pid != pid || pane.watched.is_some() {
            return;
        }
        // tmux first: a verb may have started the pane since (an `up` that recreated it with
        // a new command, a `start`), and our picture is a message old. A restart is only for
        // the very process that exited, still dead, not stopped.
        let ask = crate::tmux::Cmd::query("display-message").args([
            "-p",
            "-t",
            id,
            "#{pane_pid}\x1f#{pane_dead}\x1f#{@ctmux-hash}\x1f#{@ctmux-state}",
        ]);
        let Ok(out) = self.tmux.run(&[ask]).await else { return };
        let f: Vec<&str> = out.trim_end_matches('\n').split('\x1f').collect();
        if f.len() != 4 || f[0] != pid.to_string() || f[1] != "1" || f[3] == "stopped" {
            return;
        }
        // The pane was built from another version than the one held (a verb that did not
        // reach us, a file saved since): catch up with the file before acting.
        let (project, address) = (pane.project.clone(), pane.address.clone());
        let held = self.projects.get(&project).and_then(|p| p.pane(&address)).map(crate::reconcile::spec::hash);
        if f[2] != crate::reconcile::pending::PENDING && held.as_deref() != Some(f[2]) {
            for project in self.sources.reread(None) {
                self.install(project, true);
            }
        }
        let Some(pane) = self.panes.get_mut(id) else { return };
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
        let out = self.tmux.run(&cmds).await;
        if out.is_ok() {
            let data = serde_json::json!({ "restarts": pane.restarts });
            self.events.emit("pane.restarted", &pane.project, &pane.address, data);
            self.watch_respawned(id);
        }
    }
}

/// The pane option naming the last pid whose `pane.started` a daemon recorded.
const START_SEEN: &str = "@ctmux-start-seen";

/// The pane option naming the last pid whose `pane.exited` a daemon recorded.
const EXIT_SEEN: &str = "@ctmux-exit-seen";

/// Writes down that `pid`'s exit was recorded, and when (`@ctmux-exited-at`, Unix ms):
/// GC's exit time for a pane whose `#{pane_dead_time}` tmux left empty. Awaited on the loop,
/// so the GC pass an exit triggers sees it.
async fn announce_exit(tmux: &Arc<Tmux>, id: &str, pid: u32) {
    let now = crate::store::now_ms().to_string();
    let cmds = [
        crate::tmux::Cmd::new("set-option").args(["-p", "-t", id, EXIT_SEEN, &pid.to_string()]),
        crate::tmux::Cmd::new("set-option").args(["-p", "-t", id, crate::gc::observe::EXITED_AT, &now]),
    ];
    let _ = tmux.run(&cmds).await;
}

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

/// The daemon's hooks, at its own index: `pane-died` (an exit to finish), and the commands
/// that make panes, windows or sessions come or go (a look at tmux is due).
fn bell_hooks() -> Vec<String> {
    // The notification hooks are what control mode's `%layout-change`, `%window-add`… come
    // from: they fire however the change was made.
    [
        "pane-died",
        "window-layout-changed",
        "window-linked",
        "window-unlinked",
        "window-renamed",
        "session-created",
        "session-closed",
        "session-renamed",
    ]
    .iter()
    .map(|h| format!("{h}[{}]", crate::tmux::REAPED_HOOK))
    .collect()
}

/// Sends [`Msg::Died`] each time the `pane-died` hook rings [`DIED`]. The bell is re-armed
/// before the daemon looks, so a death after the look rings again and one before it is seen.
fn watch_deaths(tmux: Arc<Tmux>, tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let rearm = crate::tmux::Cmd::new("set-option").args(["-g", "-u", DIED_RUNG]);
        // A failed wait: the server is gone (the daemon ends by then).
        while tmux.wait_for(DIED).await {
            if tmux.run(std::slice::from_ref(&rearm)).await.is_err()
                || tx.send(Msg::Died).is_err()
                || tx.send(Msg::Changed).is_err()
            {
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

/// What a session watcher talks through.
struct Channels {
    /// To the loop.
    tx: mpsc::UnboundedSender<Msg>,
    /// Fired once attached.
    ready: oneshot::Sender<()>,
    /// Set while a [`Msg::Changed`] is queued.
    changed: Arc<std::sync::atomic::AtomicBool>,
}

/// A control client for one session a subscription watches, forwarding its panes' output
/// (for unmanaged panes' `pane.output` events) and layout changes to the loop.
fn watch_session(tmux: Arc<Tmux>, session: String, channels: Channels) {
    let Channels { tx, ready, changed } = channels;
    tokio::spawn(async move {
        let Ok(mut control) = Control::attach_ready(&tmux, &session).await else {
            let _ = tx.send(Msg::ClientGone(session));
            return;
        };
        let _ = ready.send(());
        loop {
            match control.next().await {
                Event::Output(id, bytes) => {
                    if tx.send(Msg::Output(id, bytes)).is_err() {
                        return;
                    }
                }
                Event::Reply(_) => {}
                Event::Changed => {
                    if !changed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        let _ = tx.send(Msg::Changed);
                    }
                }
                // Someone moved our client to another session (`switch-client -c`): what it
                // would read now is another client's, and its own session's output meanwhile
                // is not coming. Drop it: a new client is attached and backfills from the marks.
                Event::SessionChanged(id) if id != session => {
                    control.close().await;
                    let _ = tx.send(Msg::ClientGone(session));
                    return;
                }
                Event::SessionChanged(_) => {}
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
