//! The resolved manifest: what every other part of ctmux works from.
//!
//! Lowering (`lower.rs`) produces it with every shorthand expanded, every variable interpolated,
//! every path absolute and every dependency expanded to pane addresses; nothing downstream
//! re-parses strings. `config.rs` renders it back as a long-form manifest.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;

/// A parsed, fully resolved `ctmux.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Project name; tags every tmux object ctmux creates (`@ctmux-project`).
    pub name: String,
    /// Absolute path of the manifest file.
    pub file: PathBuf,
    /// Optional private tmux socket name (`-L`) for this project.
    pub socket: Option<String>,
    /// Garbage-collection settings.
    pub gc: Gc,
    /// tmux `history-limit` of the project's panes (set before they are created: tmux fixes it
    /// then): the lines a daemon that was down can still recover.
    pub history_limit: u32,
    /// Autosave by the daemon (`snapshots:`); `None` is off.
    pub snapshots: Option<Autosave>,
    /// Named groups, each expanded to pane addresses.
    pub groups: IndexMap<String, Vec<String>>,
    /// Sessions in manifest order.
    pub sessions: IndexMap<String, Session>,
    /// How the manifest was composed (files, profiles, env files, as JSON) when it is more than
    /// one plain file; recorded on its sessions (`@ctmux-compose`) so a daemon reloads the same.
    pub compose: Option<String>,
    /// Replicated panes (`replicas:`, `up --scale`): `session/pane` → the addresses of its
    /// replicas `session/pane-1…N`, which a dependency or target naming the pane stands for.
    pub replicas: IndexMap<String, Vec<String>>,
    /// `ports:` of every pane, in manifest order.
    pub ports: Vec<Port>,
    /// tmux global (and server) options (`options:` at the top), name → value as tmux shows it.
    pub options: IndexMap<String, String>,
    /// Project hooks (`hooks:`): shell commands `up` and `down` run around their work.
    pub hooks: Hooks,
}

/// `hooks:`: shell commands run by `up` and `down` as ctmux's own children, with the project's
/// environment, working directory and shell (not in tmux: they prepare or clean up around it).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// Run by every `up` before anything changes; a failure stops `up`.
    pub before_up: Vec<String>,
    /// Run by `up` after `before_up` when no pane of the project was running; a failure stops `up`.
    pub first_up: Vec<String>,
    /// Run by `up` once the layout is built (with `--wait`: once what it waits for holds).
    pub after_up: Vec<String>,
    /// Run by a whole-project `down` before it stops anything.
    pub before_down: Vec<String>,
    /// Run by a whole-project `down` once everything is stopped and removed.
    pub after_down: Vec<String>,
    /// Working directory of the hooks: the project's `cwd`.
    pub cwd: PathBuf,
    /// The project's environment (`env_file:` and `env:` at the top level).
    pub env: IndexMap<String, String>,
    /// The shell that runs them (the project's `shell:`).
    pub shell: String,
}

/// Without hooks, where they would run does not make two projects different (`config` writes
/// the project's cwd, env and shell only when there are hooks).
impl PartialEq for Hooks {
    fn eq(&self, other: &Self) -> bool {
        let commands = |h: &Hooks| {
            (h.before_up.clone(), h.first_up.clone(), h.after_up.clone(), h.before_down.clone(), h.after_down.clone())
        };
        commands(self) == commands(other)
            && (self.is_empty() || (self.cwd == other.cwd && self.env == other.env && self.shell == other.shell))
    }
}

impl Hooks {
    /// Whether any hook is declared.
    pub fn is_empty(&self) -> bool {
        self.before_up.is_empty()
            && self.first_up.is_empty()
            && self.after_up.is_empty()
            && self.before_down.is_empty()
            && self.after_down.is_empty()
    }
}

/// One `ports:` entry: `PORT_<NAME>` in its pane's environment and in interpolation.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// The name as written (`http`); the variable is `PORT_HTTP`.
    pub name: String,
    /// The pane that declares it.
    pub pane: String,
    /// `auto`: allocated at the first `up`, kept in the state store until `down`.
    pub auto: bool,
    /// The port (0 for an `auto` one not allocated yet: `validate`, `config` before any `up`).
    pub port: u16,
}

impl Port {
    /// The environment variable that carries it.
    pub fn var(&self) -> String {
        format!("PORT_{}", self.name.to_ascii_uppercase())
    }
}

/// The default `history_limit`: 50,000 lines, what a pane may print while no daemon runs and
/// still be logged in full once one is back (tmux's own default is 2,000).
pub const DEFAULT_HISTORY_LIMIT: u32 = 50_000;

/// The largest `history_limit` accepted: 10 million lines (a pane's history costs memory in
/// tmux; tmux itself refuses more than `INT_MAX`).
pub const MAX_HISTORY_LIMIT: u32 = 10_000_000;

/// Garbage-collection policy for the daemon and `ctmux gc` (project level; sessions and panes
/// override `exited`/`idle` and opt out with `keep: true` through [`GcOverride`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Gc {
    /// How long recorded events are kept.
    pub event_retention: Duration,
    /// Remove a managed pane this long after its process exited (no restart will bring it
    /// back); `None` (the default) never does.
    pub exited: Option<Duration>,
    /// Remove a managed session idle this long (no output, no client, nothing running);
    /// `None` (the default) never does.
    pub idle: Option<Duration>,
    /// What to do with panes tagged by ctmux whose manifest no longer declares them.
    pub orphans: Orphans,
    /// Age limit of the project's pane logs; `None` keeps them.
    pub logs_max_age: Option<Duration>,
    /// Size limit of all the project's pane logs together; `None` has none.
    pub logs_max_size: Option<u64>,
}

impl Default for Gc {
    fn default() -> Self {
        Gc {
            event_retention: Duration::from_secs(7 * 24 * 3600),
            exited: None,
            idle: None,
            orphans: Orphans::Report,
            logs_max_age: None,
            logs_max_size: None,
        }
    }
}

/// What GC does with orphans: panes ctmux tagged that their manifest no longer declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orphans {
    /// List them in `ctmux gc` and `gc status` only (the default).
    #[default]
    Report,
    /// Remove the dead ones too (running ones are only reported).
    Remove,
}

impl Orphans {
    /// Every accepted spelling.
    pub const NAMES: [&'static str; 2] = ["report", "remove"];

    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// A session's or pane's own GC settings: overrides of the project's TTLs, or `keep: true`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcOverride {
    /// Overrides the project's `gc.exited` for these panes.
    pub exited: Option<Duration>,
    /// Overrides the project's `gc.idle` (sessions only).
    pub idle: Option<Duration>,
    /// Never collected by GC.
    pub keep: bool,
}

/// Autosave: the daemon stores a snapshot of the project's sessions every `interval`, and a
/// few seconds after any structural change, keeping the newest `keep`.
#[derive(Debug, Clone, PartialEq)]
pub struct Autosave {
    /// Time between periodic saves.
    pub interval: Duration,
    /// Snapshots kept per project (older ones are removed after a save).
    pub keep: u32,
}

impl Default for Autosave {
    fn default() -> Self {
        Autosave { interval: Duration::from_secs(15 * 60), keep: 20 }
    }
}

/// A tmux session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Session name (also the tmux session name).
    pub name: String,
    /// Windows in manifest order.
    pub windows: IndexMap<String, Window>,
    /// Its GC settings (`gc:`, `keep:`).
    pub gc: GcOverride,
    /// Size (columns, rows) the session is created at, so saved layout strings fit exactly;
    /// `None` is [`DEFAULT_SESSION_SIZE`].
    pub size: Option<(u16, u16)>,
    /// tmux session options and session user options (`options:`); window and pane options
    /// written on a session are in each of its windows' `options`.
    pub options: IndexMap<String, String>,
}

/// The size of a session created without `size:` (wide enough for several panes side by side).
pub const DEFAULT_SESSION_SIZE: (u16, u16) = (240, 60);

/// A tmux window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Window name (also the tmux window name).
    pub name: String,
    /// Layout applied once the window's panes exist.
    pub layout: Option<String>,
    /// Select this window when the session is attached.
    pub focus: bool,
    /// tmux window index (`index:`); `None` takes the next free one (from `base-index`).
    pub index: Option<u32>,
    /// tmux window options (and pane options for all its panes, and user options), name → value.
    pub options: IndexMap<String, String>,
    /// Panes in manifest order.
    pub panes: IndexMap<String, Pane>,
}

/// A pane: one process, with everything needed to start, watch and stop it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pane {
    /// Pane name, unique within its session.
    pub name: String,
    /// Owning session name.
    pub session: String,
    /// Owning window name.
    pub window: String,
    /// What the pane runs; `None` gives an interactive shell.
    pub command: Option<Command>,
    /// The command as the manifest writes it, before interpolation: what `status` and
    /// `pane ls` show, so values from the environment or an `env_file` (secrets) are not shown.
    pub command_text: ShownText,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// Environment set for the process (merged from project, session, window and pane).
    pub env: IndexMap<String, String>,
    /// Shell that runs string commands.
    pub shell: String,
    /// Dependencies, expanded to pane addresses.
    pub depends_on: Vec<Dependency>,
    /// Output regex that marks the pane healthy.
    pub ready_when: Option<Pattern>,
    /// Health check.
    pub health: Option<Health>,
    /// Restart policy.
    pub restart: Restart,
    /// Upper bound on automatic restarts; `None` is unbounded.
    pub max_restarts: Option<u32>,
    /// How to stop the pane.
    pub stop: Stop,
    /// Resource limits enforced by the daemon.
    pub limits: Option<Limits>,
    /// Output rules.
    pub on: Vec<Rule>,
    /// User metadata, stored as `@ctmux-meta-<key>`.
    pub metadata: IndexMap<String, String>,
    /// Pane title (`select-pane -T`), set when the pane is created.
    pub title: Option<String>,
    /// tmux pane options and user options of the pane (name → value), set when the pane is
    /// created and again when they drift.
    pub options: IndexMap<String, String>,
    /// Select this pane in its window.
    pub focus: bool,
    /// Leave an interactive shell after the command ends.
    pub keep_shell: bool,
    /// Declared a job (`job: true`): runs to completion, so `up --wait` waits for its exit 0.
    /// A pane is also a job when another depends on it with `completed[_successfully]`
    /// ([`Project::is_job`]).
    pub job: bool,
    /// Its GC settings (`gc: { exited }`, `keep:`).
    pub gc: GcOverride,
    /// `watch:`: files whose change makes the daemon restart the pane.
    pub watch: Option<Watch>,
}

/// A pane's `watch:`: the daemon restarts the pane when a file matching `paths` (and not
/// `ignore`) changes, once changes have been quiet for `debounce`.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// Globs as written; relative ones are relative to the pane's `cwd`.
    pub paths: Vec<String>,
    /// Globs of paths not to react to (same rules as `paths`).
    pub ignore: Vec<String>,
    /// How long changes must be quiet before the restart (an edit storm restarts once).
    pub debounce: Duration,
    /// Once the pane is up again (healthy, when it has a check), restart its dependents.
    pub cascade: bool,
}

/// The default `watch.debounce`.
pub const DEFAULT_WATCH_DEBOUNCE: Duration = Duration::from_millis(500);

impl Pane {
    /// The pane's ctmux address, `session/pane`.
    pub fn address(&self) -> String {
        format!("{}/{}", self.session, self.name)
    }
}

/// A pane's command: a shell string or an argv list executed directly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// Run by the pane's shell with `-c`.
    Shell(String),
    /// Executed directly, no shell.
    Argv(Vec<String>),
}

/// Text kept for display only (a command as the manifest wrote it): it never makes two panes
/// different, so it is equal to any other (a `config` round trip writes the expanded command).
#[derive(Debug, Clone, Default)]
pub struct ShownText(pub Option<String>);

impl PartialEq for ShownText {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Command {
    /// A one-line rendering for tables and plans.
    pub fn display(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Argv(v) => v.join(" "),
        }
    }
}

/// One edge of the dependency graph: this pane waits on `target` reaching `condition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// Pane address (`session/pane`) waited on.
    pub target: String,
    /// What must hold before the dependent starts.
    pub condition: Condition,
}

/// What a dependency waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// The pane's process exists.
    Started,
    /// The health check (or `ready_when`) passes.
    Healthy,
    /// The process exited, whatever its status.
    Completed,
    /// The process exited with status 0.
    CompletedSuccessfully,
}

impl Condition {
    /// Every accepted spelling, for errors and suggestions.
    pub const NAMES: [&'static str; 4] = ["started", "healthy", "completed", "completed_successfully"];

    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed",
            Condition::CompletedSuccessfully => "completed_successfully",
        }
    }

    /// Parses the manifest spelling (compose's `service_` prefixes are accepted too).
    pub fn parse(s: &str) -> Option<Condition> {
        match s.strip_prefix("service_").unwrap_or(s) {
            "started" => Some(Condition::Started),
            "healthy" => Some(Condition::Healthy),
            "completed" => Some(Condition::Completed),
            "completed_successfully" => Some(Condition::CompletedSuccessfully),
            _ => None,
        }
    }
}

/// A compiled regex that remembers its source, so models compare and print by text.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The regex as written.
    pub source: String,
    /// The compiled regex.
    pub regex: Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// A health check and its timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// What is probed.
    pub check: Check,
    /// Time between probes once healthy (or once `start_period` is over).
    pub interval: Duration,
    /// Time between probes until the first success.
    pub start_interval: Duration,
    /// How long one probe may take.
    pub timeout: Duration,
    /// Consecutive failures before the pane is unhealthy.
    pub retries: u32,
    /// Grace period after start during which failures do not count.
    pub start_period: Duration,
}

/// The kinds of health probe.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Run a shell command in the pane's cwd and env; exit 0 is healthy.
    Exec(String),
    /// HTTP GET; a 2xx or 3xx status is healthy.
    Http(String),
    /// TCP connect to `host:port`.
    Tcp(String),
    /// A regex seen in the pane's output.
    Log(Pattern),
}

/// Restart policy, as in compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Never restart.
    #[default]
    No,
    /// Restart when the process exits non-zero.
    OnFailure,
    /// Restart whenever the process exits.
    Always,
    /// Restart unless a user stopped it.
    UnlessStopped,
}

impl Restart {
    /// Every accepted spelling.
    pub const NAMES: [&'static str; 4] = ["no", "on-failure", "always", "unless-stopped"];

    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Parses the manifest spelling.
    pub fn parse(s: &str) -> Option<Restart> {
        match s {
            "no" | "false" => Some(Restart::No),
            "on-failure" => Some(Restart::OnFailure),
            "always" => Some(Restart::Always),
            "unless-stopped" => Some(Restart::UnlessStopped),
            _ => None,
        }
    }
}

/// How a pane is stopped by `down`/`stop`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// Signal sent to the pane's process group.
    pub signal: String,
    /// Grace time before the process tree is killed.
    pub timeout: Duration,
    /// A shell command run instead of sending the signal.
    pub command: Option<String>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop { signal: "SIGTERM".into(), timeout: Duration::from_secs(10), command: None }
    }
}

/// Resource limits watched by the daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Resident memory of the pane's process tree, in bytes.
    pub memory: Option<u64>,
    /// CPU use in cores (1.5 = 150 %).
    pub cpu: Option<f64>,
    /// What happens when a limit is exceeded.
    pub action: LimitAction,
}

/// Response to an exceeded limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitAction {
    /// Record a `limit.exceeded` event only.
    #[default]
    Warn,
    /// Restart the pane.
    Restart,
    /// Kill the pane's process tree.
    Kill,
}

impl LimitAction {
    /// Every accepted spelling.
    pub const NAMES: [&'static str; 3] = ["warn", "restart", "kill"];

    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// An output rule: when a line matches, do something.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Regex over each output line (ANSI stripped).
    pub pattern: Pattern,
    /// What to do.
    pub action: Action,
    /// Minimum time between two firings.
    pub cooldown: Option<Duration>,
    /// Fire at most once per pane start.
    pub once: bool,
}

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Restart the pane.
    Restart,
    /// Stop the pane gracefully.
    Stop,
    /// Kill the pane's process tree.
    Kill,
    /// Record a `pattern.matched` event only.
    Event,
    /// Send a signal to the pane's process group.
    Signal(String),
    /// Send tmux keys to the pane.
    SendKeys(String),
    /// Run a shell command with the match in `CTMUX_MATCH*` variables.
    Run(String),
}

/// Signals accepted by `stop.signal` and `signal:` actions.
pub const SIGNALS: [&str; 12] = [
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGCONT", "SIGSTOP", "SIGTSTP",
    "SIGWINCH", "SIGALRM",
];

/// Normalizes `INT`/`sigint`/`SIGINT` to `SIGINT`, or `None` if unknown.
pub fn normalize_signal(s: &str) -> Option<String> {
    let upper = s.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    SIGNALS.contains(&name.as_str()).then_some(name)
}

impl Project {
    /// Every pane in manifest order.
    pub fn panes(&self) -> impl Iterator<Item = &Pane> {
        self.sessions.values().flat_map(|s| s.windows.values()).flat_map(|w| w.panes.values())
    }

    /// Whether `address` is a replica this manifest no longer has (`session/web-3` after
    /// `replicas: 2`): scaling down removes it as compose does, `--remove-orphans` or not.
    pub fn is_scaled_away(&self, address: &str) -> bool {
        let Some((base, n)) = address.rsplit_once('-') else { return false };
        n.parse::<u32>().is_ok() && self.replicas.contains_key(base) && self.pane(address).is_none()
    }

    /// Looks a pane up by its `session/pane` address.
    pub fn pane(&self, address: &str) -> Option<&Pane> {
        let (session, pane) = address.split_once('/')?;
        self.sessions.get(session)?.windows.values().find_map(|w| w.panes.get(pane))
    }

    /// Whether the pane at `address` is a job — it runs to completion rather than serving: it
    /// says `job: true`, or another pane waits for it to be `completed[_successfully]`.
    pub fn is_job(&self, address: &str) -> bool {
        self.pane(address).is_some_and(|p| p.job)
            || self.panes().flat_map(|p| &p.depends_on).any(|d| {
                d.target == address && matches!(d.condition, Condition::Completed | Condition::CompletedSuccessfully)
            })
    }
}
