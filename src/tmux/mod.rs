//! The tmux engine: one server, commands sent in batches, live state read in one round trip.
//!
//! A batch is one `tmux` process that runs the commands from a private file (`source-file`, see
//! [`command`]) as one command list — one process per batch, never one per command (which
//! costs about 3×), and nothing of the commands in any process's argv. Every call is counted, so `up -v` and the
//! tests can prove that a no-op `up` sends no mutating command.

pub mod command;
pub mod control;
pub mod layout;
pub mod live;
pub mod options;
pub mod pipe;
pub mod respawn;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub use command::Cmd;
pub use live::{Live, LivePane};

use crate::error::Error;

/// Which tmux server to talk to, as tmux's `-L`/`-S` choose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    /// tmux's default socket (or the one `$TMUX` names).
    Default,
    /// `-L NAME`.
    Name(String),
    /// `-S PATH`.
    Path(PathBuf),
}

impl Socket {
    /// Picks the socket: flags, then `CTMUX_TMUX_SOCKET` (a name, or a path if it has `/`),
    /// then the manifest's `socket:`, then tmux's default.
    pub fn choose(
        name: Option<&str>,
        path: Option<&std::path::Path>,
        env: Option<&str>,
        manifest: Option<&str>,
    ) -> Socket {
        if let Some(p) = path {
            return Socket::Path(p.to_path_buf());
        }
        if let Some(n) = name {
            return Socket::Name(n.to_string());
        }
        if let Some(e) = env.filter(|e| !e.is_empty()) {
            return if e.contains('/') { Socket::Path(e.into()) } else { Socket::Name(e.to_string()) };
        }
        manifest.map_or(Socket::Default, |m| Socket::Name(m.to_string()))
    }

    /// The flags that select this server.
    pub fn flags(&self) -> Vec<String> {
        match self {
            Socket::Default => Vec::new(),
            Socket::Name(n) => vec!["-L".into(), n.clone()],
            Socket::Path(p) => vec!["-S".into(), p.display().to_string()],
        }
    }

    /// The flags every `tmux` client ctmux starts passes: `-u` (the client is UTF-8 whatever the
    /// locale: without it, under no `LANG`, C or POSIX, tmux 3.3a rewrites non-printable and
    /// non-ASCII characters in format output, so the `\x1f` field separators came back as `_`
    /// and ctmux saw none of its panes), then the server's [`Socket::flags`]. Not for `attach`:
    /// that client draws on the user's terminal, whose locale tmux must honour.
    pub fn client_flags(&self) -> Vec<String> {
        let mut flags = vec!["-u".to_string()];
        flags.extend(self.flags());
        flags
    }

    /// A file-name-safe key for per-server state (locks, daemon sockets).
    pub fn key(&self) -> String {
        let raw = match self {
            Socket::Default => std::env::var("TMUX")
                .ok()
                .and_then(|t| t.split(',').next().map(str::to_string))
                .map_or("default".into(), |p| format!("S{p}")),
            Socket::Name(n) => format!("L-{n}"),
            Socket::Path(p) => format!("S{}", p.display()),
        };
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
    }
}

/// Counts of what was sent, for `-v` and idempotence tests.
#[derive(Debug, Default)]
pub struct Counters {
    /// `tmux` processes run.
    pub calls: AtomicUsize,
    /// Commands sent.
    pub commands: AtomicUsize,
    /// Commands that change the server.
    pub mutating: AtomicUsize,
}

/// A handle on one tmux server.
#[derive(Debug)]
pub struct Tmux {
    /// The server.
    pub socket: Socket,
    /// What was sent so far.
    pub counters: Counters,
    binary: String,
    config: Option<String>,
}

impl Tmux {
    /// A handle on `socket`; `CTMUX_TMUX` overrides the binary, `CTMUX_TMUX_CONF` the config file
    /// a newly started server reads (tests use `/dev/null`).
    pub fn new(socket: Socket) -> Tmux {
        Tmux {
            socket,
            counters: Counters::default(),
            binary: std::env::var("CTMUX_TMUX").unwrap_or_else(|_| "tmux".into()),
            config: std::env::var("CTMUX_TMUX_CONF").ok().filter(|s| !s.is_empty()),
        }
    }

    /// The tmux binary.
    pub fn binary(&self) -> &str {
        &self.binary
    }

    /// The argv prefix (`tmux -L x`) a person would type to reach this server.
    pub fn command_line(&self) -> String {
        let mut parts = vec![self.binary.clone()];
        parts.extend(self.socket.flags());
        parts.join(" ")
    }

    /// Runs `cmds` in as few tmux processes as the protocol allows (usually one), in order;
    /// returns their stdout. Nothing is run for an empty batch. A batch that respawns a pane
    /// first detaches the control clients of that pane's session ([`respawn`]).
    pub async fn run(&self, cmds: &[Cmd]) -> Result<String, TmuxError> {
        // A respawn must not meet a control client (tmux 3.3a can crash): see [`respawn`].
        if respawn::respawns(cmds) {
            return respawn::run(self, cmds).await;
        }
        // tmux 3.3a can crash on a bad layout: nothing is sent when one is in the batch.
        if let Some(bad) = cmds.iter().find_map(command::bad_layout) {
            return Err(TmuxError::Failed { message: bad });
        }
        let mut out = String::new();
        for call in command::split_calls(cmds) {
            out.push_str(&self.run_call(call).await?);
        }
        Ok(out)
    }

    async fn run_call(&self, cmds: &[Cmd]) -> Result<String, TmuxError> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        self.counters.commands.fetch_add(cmds.len(), Ordering::Relaxed);
        self.counters.mutating.fetch_add(cmds.iter().filter(|c| c.mutating).count(), Ordering::Relaxed);
        // The commands go in a private file, never in argv (see [`command`]); the file is
        // removed when this call ends, however it ends.
        let script = ScriptFile::write(&command::script(cmds))
            .map_err(|e| TmuxError::Failed { message: format!("cannot write the command file: {e}") })?;
        let mut process = tokio::process::Command::new(&self.binary);
        process.args(self.socket.client_flags());
        if let Some(conf) = &self.config {
            process.args(["-f", conf]);
        }
        // The client that starts the server lends it its argv for good: make it say nothing.
        if command::starts_server(cmds) {
            process.args(["start-server", ";"]);
        }
        process.args(["source-file", &script.glob_path()]);
        process.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        // Outside tmux's own environment, so `$TMUX` does not redirect explicit sockets.
        if self.socket != Socket::Default {
            process.env_remove("TMUX");
        }
        let output = process.output().await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TmuxError::NotInstalled
            } else {
                TmuxError::Failed { message: e.to_string() }
            }
        })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if stderr.starts_with("no server running")
            || stderr.contains("error connecting to")
            || stderr.starts_with("no sessions")
        {
            return Err(TmuxError::NoServer);
        }
        if stderr.contains("server exited unexpectedly") || stderr.contains("lost server") {
            return Err(TmuxError::ServerLost);
        }
        Err(TmuxError::Failed {
            message: if stderr.is_empty() { format!("tmux exited with {}", output.status) } else { stderr },
        })
    }

    /// Every pane on the server; an absent server has none.
    pub async fn live(&self) -> Result<Live, TmuxError> {
        match self.list(&[]).await {
            Ok((live, _)) => Ok(live),
            // A server that is just exiting (e.g. right after kill-server) is no server.
            Err(TmuxError::NoServer | TmuxError::ServerLost) => Ok(Live::default()),
            Err(e) => Err(e),
        }
    }

    /// `list-panes -a` followed by `extra` read-only commands, in one call; returns the panes and
    /// the output after [`live::END`].
    ///
    /// tmux 3.3a sometimes misses the SIGCHLD of a pane that exits soon after the server started:
    /// the pane shows dead with no exit status and the process stays a zombie until another child
    /// of the server exits (tmux PR #4841 fixes the symptom upstream). When we see such a pane we
    /// make the server run a child (`run-shell true`), whose exit makes it reap every zombie, and
    /// look again.
    pub async fn list(&self, extra: &[Cmd]) -> Result<(Live, String), TmuxError> {
        let mut cmds = vec![list_panes()];
        cmds.extend(extra.iter().cloned());
        let mut text = self.run_listing(&cmds).await?;
        for _ in 0..3 {
            let head = text.split(live::END).next().unwrap_or_default();
            if !Live::parse(head).panes.iter().any(LivePane::status_pending) {
                break;
            }
            let mut again = vec![Cmd::query("run-shell").arg("true")];
            again.extend(cmds.iter().cloned());
            text = self.run_listing(&again).await?;
        }
        let (head, rest) = text.split_once(live::END).unwrap_or((&text, ""));
        Ok((Live::parse(head), rest.to_string()))
    }

    /// Runs a batch holding `list-panes -a`, which tmux 3.3a refuses with "no current target" on
    /// a server that has no session (`exit-empty off`, or between a `down` and an `up`): such a
    /// server is empty, not an error, so the answer is no output. The commands before the
    /// `list-panes` ran; the ones after it would only have looked at panes, of which there are
    /// none. If a session appeared meanwhile, the batch is run again.
    async fn run_listing(&self, cmds: &[Cmd]) -> Result<String, TmuxError> {
        let mut tries = 0;
        loop {
            match self.run(cmds).await {
                Err(TmuxError::Failed { message }) if message.contains("no current target") && tries < 3 => {
                    let sessions = self.run(&[Cmd::query("list-sessions").opt("-F", "#{session_id}")]).await?;
                    if sessions.trim().is_empty() {
                        return Ok(String::new());
                    }
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// Waits until tmux has reaped pane `id`'s process `pid`, which the caller knows has exited
    /// (a pidfd fired; without one, `limit` bounds the wait), and returns the pane as tmux then
    /// reports it (`None`: gone). A `pane-died`/`pane-exited` hook signals a `wait-for` channel
    /// of this call's own when tmux reaps the process.
    ///
    /// The hooks are set in the same call as the first look, so tmux handles no exit between
    /// the two: a process not reaped at that look signals the channel exactly once (the hooks
    /// match its pane and pid), and one reaped already never does. The channel is never
    /// signalled by us: `wait-for -S` on a channel already signalled removes it, so a signal we
    /// did not consume is drained by waiting for it, briefly. One call at a time per process:
    /// the hooks' index is the process's.
    pub async fn reaped(
        &self,
        id: &str,
        pid: u32,
        limit: Option<std::time::Duration>,
    ) -> Result<Option<LivePane>, TmuxError> {
        use std::time::{Duration, Instant};
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let call = CALLS.fetch_add(1, Ordering::Relaxed);
        let channel = format!("ctmux-reaped-{}-{}-{call}", std::process::id(), id.trim_start_matches('%'));
        // A global hook, at an index of our own: a pane-level hook would hide the pane's global
        // ones (the daemon's and the user's) meanwhile. In `pane-exited` the pane is gone, so
        // only `hook_pane` names it (and no respawn can follow).
        let index = REAPED_HOOK + 1 + std::process::id();
        let died = format!("#{{&&:#{{==:#{{hook_pane}},{id}}},#{{==:#{{pane_pid}},{pid}}}}}");
        let exited = format!("#{{==:#{{hook_pane}},{id}}}");
        let signal = |cond: &str| format!("if-shell -F \"{cond}\" \"wait-for -S {channel}\"");
        let hooks =
            [(format!("pane-died[{index}]"), signal(&died)), (format!("pane-exited[{index}]"), signal(&exited))];
        let mut first: Vec<Cmd> =
            hooks.iter().map(|(h, c)| Cmd::new("set-hook").args(["-g", h.as_str(), c.as_str()])).collect();
        first.push(list_panes());
        let find = |live: Live| live.panes.into_iter().find(|p| p.pane_id == id);
        let unreaped =
            |p: &Option<LivePane>| p.as_ref().is_some_and(|p| p.pid == pid && (!p.dead || p.status_pending()));
        let mut pane = find(Live::parse(&self.run_listing(&first).await?));
        let owed = unreaped(&pane);
        if pane.as_ref().is_some_and(LivePane::status_pending) {
            // [`Tmux::list`] makes a tmux that missed the SIGCHLD reap.
            pane = find(self.list(&[]).await?.0);
        }
        let mut consumed = false;
        let start = Instant::now();
        // First a short look (tmux 3.3a can miss a SIGCHLD and then runs no hook until it is
        // made to reap), then until the limit.
        let mut wait = Duration::from_millis(100);
        while owed && !consumed && unreaped(&pane) {
            if let Some(limit) = limit {
                wait = wait.min(limit.saturating_sub(start.elapsed()));
            }
            match tokio::time::timeout(wait, self.wait_for(&channel)).await {
                Ok(true) => consumed = true,
                // The server went away: the look below says so (and removes the hooks if not).
                Ok(false) => break,
                Err(_) if limit.is_some_and(|l| start.elapsed() >= l) => break,
                Err(_) => wait = Duration::MAX,
            }
            pane = find(self.list(&[]).await?.0);
        }
        // Remove the hooks and look once more, together: a process reaped by then signalled.
        let mut last: Vec<Cmd> =
            hooks.iter().map(|(h, _)| Cmd::new("set-hook").args(["-g", "-u", h.as_str()])).collect();
        last.push(list_panes());
        let now = find(Live::parse(&self.run_listing(&last).await?));
        if owed && !consumed && !unreaped(&now) {
            let _ = tokio::time::timeout(Duration::from_millis(500), self.wait_for(&channel)).await;
        }
        // A pane reaped during the wait keeps what `list` made tmux say (its status); else the
        // last look is the news.
        Ok(if unreaped(&pane) { now } else { pane })
    }

    /// This server's identity as its panes' processes carry it ([`crate::process::ServerMark`]);
    /// unknown when the server cannot be asked.
    pub async fn server_mark(&self) -> crate::process::ServerMark {
        let ask = Cmd::query("display-message").args(["-p", "#{socket_path},#{pid}"]);
        self.run(&[ask])
            .await
            .map_or_else(|_| crate::process::ServerMark::unknown(), |t| crate::process::ServerMark::parse(&t))
    }

    /// Waits until `wait-for -S CHANNEL` (true), or the server goes away (false). Cancel-safe:
    /// the waiting tmux client is killed when the future is dropped.
    pub async fn wait_for(&self, channel: &str) -> bool {
        let mut waiter = tokio::process::Command::new(&self.binary);
        waiter.args(self.socket.client_flags()).args(["wait-for", channel]).kill_on_drop(true);
        waiter.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        if self.socket != Socket::Default {
            waiter.env_remove("TMUX");
        }
        // The waiter dies with us: a daemon killed with SIGKILL left one behind per kill.
        // SAFETY: prctl(2) and getppid(2) are async-signal-safe and touch no memory of ours.
        unsafe {
            waiter.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() == 1 {
                    return Err(std::io::Error::other("parent gone"));
                }
                Ok(())
            });
        }
        match waiter.spawn() {
            Ok(mut child) => child.wait().await.is_ok_and(|s| s.success()),
            Err(_) => false,
        }
    }

    /// `-v` summary of what was sent.
    pub fn summary(&self) -> String {
        format!(
            "tmux: {} call(s), {} command(s), {} mutating",
            self.counters.calls.load(Ordering::Relaxed),
            self.counters.commands.load(Ordering::Relaxed),
            self.counters.mutating.load(Ordering::Relaxed)
        )
    }
}

/// A batch of commands in a 0600 file of the private runtime directory, removed on drop.
struct ScriptFile(PathBuf);

impl ScriptFile {
    fn write(text: &str) -> std::io::Result<ScriptFile> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = crate::daemon::paths::runtime_dir()?;
        if N.load(Ordering::Relaxed) == 0 {
            sweep_scripts(&dir);
        }
        let name = format!(
            "tmux-{}-{}-{:x}.cmd",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            crate::reconcile::build::now_nanos() & 0xffff_ffff
        );
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        let file_guard = ScriptFile(path);
        file.write_all(text.as_bytes())?;
        Ok(file_guard)
    }

    /// The path as `source-file` reads it: a glob(3) pattern, so its special characters are
    /// escaped.
    fn glob_path(&self) -> String {
        let mut out = String::new();
        for c in self.0.to_string_lossy().chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\' | '{' | '}') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }
}

/// Removes the command files of ctmux processes that died before removing theirs (SIGKILL).
fn sweep_scripts(dir: &std::path::Path) {
    for e in crate::fs_safe::list(dir).unwrap_or_default() {
        let pid = e.name.strip_prefix("tmux-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok());
        if e.name.ends_with(".cmd") && pid.is_some_and(|p| !crate::process::alive(p)) {
            let _ = crate::fs_safe::remove(&e.path);
        }
    }
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `list-panes -a` in [`live::format`], for [`Live::parse`].
fn list_panes() -> Cmd {
    Cmd::query("list-panes").arg("-a").opt("-F", live::format())
}

/// Where ctmux's `pane-died` hooks sit in tmux's hook arrays (the daemon's at this index, a
/// waiting command's above it), so a user's hooks (index 0 unless they chose) stay untouched.
pub const REAPED_HOOK: u32 = 4242;

/// What can go wrong talking to tmux.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TmuxError {
    /// No `tmux` binary.
    #[error("tmux is not installed (or not on PATH)")]
    NotInstalled,
    /// The server is not running.
    #[error("no tmux server is running on this socket")]
    NoServer,
    /// The server died while we talked to it.
    #[error("the tmux server exited while ctmux was talking to it")]
    ServerLost,
    /// tmux refused a command.
    #[error("tmux: {message}")]
    Failed {
        /// tmux's message.
        message: String,
    },
}

impl TmuxError {
    /// The user-facing error, naming `context` (what we were doing).
    pub fn into_error(self, context: &str) -> Error {
        match self {
            TmuxError::NotInstalled => Error::TmuxUnavailable {
                message: "tmux is not installed (or not on PATH)".into(),
                hint: Some(
                    "install tmux ≥ 3.2: `apt-get install tmux`, `brew install tmux`, `dnf install tmux`".into(),
                ),
            },
            TmuxError::NoServer | TmuxError::ServerLost => Error::TmuxUnavailable {
                message: format!("{context}: {self}"),
                hint: Some("run `ctmux up` again: it reads tmux's state afresh and converges".into()),
            },
            TmuxError::Failed { message } => Error::failed(format!("{context}: tmux said: {message}"), None),
        }
    }
}
