//! The JSON Schema of `ctmux.yaml`, generated from these types with schemars (draft 7, which
//! yaml-language-server understands). These types describe the file's shape for editors only;
//! lowering reads the file, and a test keeps both in step (same keys at every level).

// Only the schema derive reads these fields.
#![allow(dead_code)]

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

/// A ctmux manifest: sessions, windows and panes of a multi-process dev stack.
#[derive(JsonSchema)]
#[schemars(title = "ctmux.yaml", extend("patternProperties" = { "^x-": {} }))]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version; must be 1.
    version: u32,
    /// Project name; default: the manifest directory's name. Tags everything ctmux creates.
    name: Option<String>,
    /// Private tmux socket name (like `tmux -L NAME`) for this project.
    socket: Option<String>,
    /// Dotenv files read for interpolation and pane environment, relative to the manifest.
    env_file: Option<StringOrList>,
    /// Environment for every pane.
    env: Option<Env>,
    /// Working directory for every pane; relative to the manifest's directory.
    cwd: Option<String>,
    /// Shell that runs string commands; default `$SHELL`, then `/bin/sh`.
    shell: Option<String>,
    /// Garbage collection: TTLs of exited panes and idle sessions, orphans, logs, events.
    gc: Option<Gc>,
    /// tmux `history-limit` of the project's panes (default 50000): what a daemon that was down
    /// can still log once it is back.
    history_limit: Option<u32>,
    /// Autosave by the daemon: a snapshot of the project's sessions every `interval` and after
    /// each structural change, the newest `keep` kept; off when absent.
    snapshots: Option<Snapshots>,
    /// Named sets of sessions or `session/pane` addresses, usable as targets and dependencies.
    groups: Option<IndexMap<String, StringOrList>>,
    /// The tmux sessions, in order.
    sessions: IndexMap<String, SessionOrCommand>,
    /// Manifest files merged under this one, in order (relative to this file; their relative
    /// paths resolve against their own directory).
    include: Option<StringOrList>,
    /// tmux global options (`base-index`, `status-left`, `main-pane-width`, …) and server
    /// options (`default-terminal`, `escape-time`, …), set at `up` and set again when they drift.
    options: Option<IndexMap<String, Scalar>>,
    /// Shell commands `up` and `down` run around their work, with the project's cwd, env and shell.
    hooks: Option<Hooks>,
}

/// `watch:`: a list of globs, or a map with `paths` and options.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum WatchSpec {
    /// Globs (relative to the pane's cwd; `*` stays in one directory, `**` crosses them).
    Paths(StringOrList),
    /// The long form.
    Long(Box<WatchLong>),
}

/// `watch:` in its long form.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchLong {
    /// Globs of the files that restart the pane (relative to its cwd).
    paths: StringOrList,
    /// Globs of files never to react to; one without `/` matches a name at any depth.
    ignore: Option<StringOrList>,
    /// How long changes must be quiet before the restart (default `500ms`).
    debounce: Option<DurationStr>,
    /// Once the pane is up again (healthy, when it has a check), restart what depends on it.
    cascade: Option<bool>,
}

/// Project hooks: each a shell command or a list run in order (the first failure stops the rest).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Every `up`, before anything changes; a failure stops `up` (exit 1) with nothing changed.
    before_up: Option<StringOrList>,
    /// `up` when no pane of the project was running, after `before_up`; a failure stops `up`.
    first_up: Option<StringOrList>,
    /// `up`, once the layout is built (with `--wait`, once what it waits for holds).
    after_up: Option<StringOrList>,
    /// A whole-project `down`, before it stops anything (a failure is reported; `down` goes on).
    before_down: Option<StringOrList>,
    /// A whole-project `down`, once everything is stopped and removed.
    after_down: Option<StringOrList>,
}

/// Garbage-collection settings.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gc {
    /// Remove a managed pane this long after its process exited, when no restart policy will
    /// bring it back (default: never).
    exited: Option<DurationStr>,
    /// Remove a managed session with no output, no attached client and nothing running this
    /// long (default: never).
    idle: Option<DurationStr>,
    /// Panes ctmux tagged that the manifest no longer declares: `report` (default) or `remove`
    /// (dead ones; running ones are only reported).
    orphans: Option<OrphansPolicy>,
    /// Limits on the project's pane logs.
    logs: Option<GcLogs>,
    /// Keep recorded events and metric samples this long (default `7d`).
    event_retention: Option<DurationStr>,
}

/// What GC does with orphaned panes.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OrphansPolicy {
    /// List them only.
    Report,
    /// Remove the dead ones.
    Remove,
}

/// Limits on the project's pane logs.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcLogs {
    /// Delete log files not written for this long.
    max_age: Option<DurationStr>,
    /// Delete the oldest log files until all of the project's logs fit in this size (`500M`, `1GiB`).
    max_size: Option<String>,
}

/// A session's own GC TTLs (override the project's).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionGc {
    /// Overrides the project's `gc.exited` for this session's panes.
    exited: Option<DurationStr>,
    /// Overrides the project's `gc.idle` for this session.
    idle: Option<DurationStr>,
}

/// A pane's own GC TTL (overrides the session's and project's).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaneGc {
    /// Overrides `gc.exited` for this pane.
    exited: Option<DurationStr>,
}

/// Autosave settings.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshots {
    /// Time between periodic saves (default `15m`).
    interval: Option<DurationStr>,
    /// Snapshots kept for the project (default 20).
    keep: Option<u32>,
}

/// A session: a map of settings, or a command string for a one-pane session.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum SessionOrCommand {
    /// A full session.
    Session(Box<Session>),
    /// Shorthand: one window and one pane named after the session, running this command.
    Command(CommandSpec),
}

/// A tmux session.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// Windows in order (use this or `panes`).
    windows: Option<IndexMap<String, WindowOrCommand>>,
    /// Shorthand: the panes of one window named after the session.
    panes: Option<IndexMap<String, PaneOrCommand>>,
    /// Layout of the shorthand window (with `panes`).
    layout: Option<String>,
    /// Working directory for the session's panes.
    cwd: Option<String>,
    /// Environment for the session's panes.
    env: Option<Env>,
    /// Shell for the session's panes.
    shell: Option<String>,
    /// What every pane of this session waits for.
    depends_on: Option<DependsOn>,
    /// This session's GC TTLs.
    gc: Option<SessionGc>,
    /// Never garbage-collect this session or its panes.
    keep: Option<bool>,
    /// Size the session is created at, `COLUMNSxROWS` (default `240x60`); snapshots record it so
    /// saved layouts fit exactly.
    size: Option<String>,
    /// On only when one of these profiles is active (`--profile`, `CTMUX_PROFILES`).
    profiles: Option<Vec<String>>,
    /// tmux session options (`base-index`, `status-left`, …) of this session, and window or pane
    /// options for each of its windows; set at `up` and set again when they drift.
    options: Option<IndexMap<String, Scalar>>,
}

/// A window: a map of settings, or a command string for a one-pane window.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum WindowOrCommand {
    /// A full window.
    Window(Box<Window>),
    /// Shorthand: one pane named after the window, running this command.
    Command(CommandSpec),
}

/// A tmux window.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Panes in order.
    panes: IndexMap<String, PaneOrCommand>,
    /// tmux layout name (`tiled`, `even-horizontal`, `main-vertical`, …) or a saved layout string.
    layout: Option<String>,
    /// Working directory for the window's panes.
    cwd: Option<String>,
    /// Environment for the window's panes.
    env: Option<Env>,
    /// Shell for the window's panes.
    shell: Option<String>,
    /// What every pane of this window waits for.
    depends_on: Option<DependsOn>,
    /// Select this window when attaching.
    focus: Option<bool>,
    /// tmux window index, kept as written (default: the next free index from `base-index`).
    index: Option<u32>,
    /// tmux window options (`main-pane-width`, `synchronize-panes`, …) of this window, and pane
    /// options for each of its panes; set at `up` and set again when they drift.
    options: Option<IndexMap<String, Scalar>>,
}

/// A pane: a map of settings, a command string, an argv list, or null for a shell.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum PaneOrCommand {
    /// A full pane.
    Pane(Box<Pane>),
    /// Shorthand: the pane's command.
    Command(CommandSpec),
    /// An interactive shell.
    Shell(()),
}

/// A string runs in the pane's shell (`shell -c`); a list is executed directly.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum CommandSpec {
    /// Run by the shell.
    Shell(String),
    /// argv, executed without a shell.
    Argv(Vec<String>),
}

/// A pane: one process and how ctmux starts, watches and stops it.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pane {
    /// What runs; omitted gives an interactive shell.
    command: Option<CommandSpec>,
    /// Working directory; relative to the enclosing level's.
    cwd: Option<String>,
    /// Environment, merged over the enclosing levels'.
    env: Option<Env>,
    /// Shell that runs a string command.
    shell: Option<String>,
    /// What this pane waits for before it starts.
    depends_on: Option<DependsOn>,
    /// Regex on the pane's output that marks it healthy.
    ready_when: Option<String>,
    /// A health check.
    health: Option<Health>,
    /// When to restart the process after it exits.
    restart: Option<RestartPolicy>,
    /// Upper bound on automatic restarts (backoff doubles from 1s to 30s).
    max_restarts: Option<u32>,
    /// How `down`/`stop` end the process.
    stop: Option<Stop>,
    /// Resource limits the daemon enforces.
    limits: Option<Limits>,
    /// Output rules: when a line matches, act.
    on: Option<Vec<Rule>>,
    /// Free-form labels, stored as `@ctmux-meta-<key>` on the pane.
    metadata: Option<BTreeMap<String, Scalar>>,
    /// Pane title (`select-pane -T`), set when the pane is created.
    title: Option<String>,
    /// tmux pane options (`remain-on-exit-format`, `window-style`, …) and user options
    /// (`@name`) of this pane, set at `up` and set again when they drift.
    options: Option<IndexMap<String, Scalar>>,
    /// Select this pane in its window.
    focus: Option<bool>,
    /// Leave an interactive shell after the command ends.
    keep_shell: Option<bool>,
    /// A job runs to completion: `up --wait` waits for it to exit 0 (also implied when another
    /// pane depends on it with `completed` or `completed_successfully`).
    job: Option<bool>,
    /// This pane's GC TTL.
    gc: Option<PaneGc>,
    /// Never garbage-collect this pane.
    keep: Option<bool>,
    /// Start from another pane's spec (`session/pane`, or `{file, pane}`) and merge this one over it.
    extends: Option<Extends>,
    /// On only when one of these profiles is active (`--profile`, `CTMUX_PROFILES`).
    profiles: Option<Vec<String>>,
    /// Run N copies (1 to 100), panes `NAME-1`…`NAME-N` with `CTMUX_REPLICA`; a dependency on
    /// NAME waits for all of them. `up --scale NAME=N` overrides it.
    #[schemars(range(min = 1, max = 100))]
    replicas: Option<u32>,
    /// Ports by name: `auto` (a free port allocated at the first `up`, stable until `down`) or a
    /// number; the pane gets `PORT_<NAME>`, and `${PORT_<NAME>}` works anywhere in the manifest.
    ports: Option<IndexMap<String, PortSpec>>,
    /// Restart the pane when files matching these globs change (relative to the pane's cwd).
    watch: Option<WatchSpec>,
}

/// A port: `auto` or a number.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum PortSpec {
    /// `auto`.
    Auto(AutoWord),
    /// A fixed port, 1 to 65535.
    Number(u16),
}

/// The word `auto`.
#[derive(JsonSchema)]
pub enum AutoWord {
    /// Allocate a free port.
    #[serde(rename = "auto")]
    Auto,
}

/// The pane an `extends:` starts from.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum Extends {
    /// A pane of this manifest: `session/pane`, or a pane name unique in it.
    Address(String),
    /// A pane of another file.
    File(ExtendsFile),
}

/// `extends: {file, pane}`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendsFile {
    /// The file, relative to the one that names it.
    file: String,
    /// The pane's address in that file.
    pane: String,
}

/// Restart policy, as in compose.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart.
    No,
    /// Restart after a non-zero exit.
    OnFailure,
    /// Always restart.
    Always,
    /// Restart unless stopped by a user.
    UnlessStopped,
}

/// A list of names (condition `started`) or a map of name to condition.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum DependsOn {
    /// Each name must be started.
    List(Vec<String>),
    /// Each name must reach its condition.
    Map(IndexMap<String, ConditionSpec>),
}

/// A condition, or compose's `{condition: …}` form.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum ConditionSpec {
    /// The condition.
    Name(ConditionName),
    /// Compose's long form.
    Long {
        /// The condition.
        condition: ConditionName,
    },
}

/// What a dependency waits for.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConditionName {
    /// The process exists.
    Started,
    /// Health check passing or `ready_when` matched.
    Healthy,
    /// Exited, any status.
    Completed,
    /// Exited with status 0.
    CompletedSuccessfully,
}

/// One probe (exec, http, tcp or log) and its timing.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Shell command run in the pane's cwd and env; exit 0 is healthy.
    exec: Option<String>,
    /// URL fetched with GET; 2xx/3xx is healthy.
    http: Option<String>,
    /// `host:port` that must accept a TCP connection.
    tcp: Option<String>,
    /// Regex that must appear in the pane's output.
    log: Option<String>,
    /// Time between probes (default 2s).
    interval: Option<DurationStr>,
    /// Time between probes until the first success (default 250ms).
    start_interval: Option<DurationStr>,
    /// Time one probe may take (default 2s).
    timeout: Option<DurationStr>,
    /// Consecutive failures before unhealthy (default 3).
    retries: Option<u32>,
    /// Grace period after start in which failures do not count (default 0s).
    start_period: Option<DurationStr>,
}

/// How to stop a pane.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    /// Signal sent to the process group (default SIGTERM).
    signal: Option<String>,
    /// Grace time before the process tree is killed (default 10s).
    timeout: Option<DurationStr>,
    /// Shell command run instead of sending the signal.
    command: Option<String>,
}

/// Resource limits.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory of the process tree, e.g. `512MiB`, `1GB`.
    memory: Option<String>,
    /// CPU, e.g. `150%` or `1.5` cores.
    cpu: Option<Scalar>,
    /// What to do when exceeded (default warn).
    action: Option<LimitActionName>,
}

/// Response to an exceeded limit.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitActionName {
    /// Record an event.
    Warn,
    /// Restart the pane.
    Restart,
    /// Kill the process tree.
    Kill,
}

/// An output rule.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Regex matched against each output line (ANSI stripped); named groups are passed on.
    #[serde(rename = "match")]
    pattern: String,
    /// The action.
    #[serde(rename = "do")]
    action: ActionSpec,
    /// Minimum time between firings.
    cooldown: Option<DurationStr>,
    /// Fire at most once per start.
    once: Option<bool>,
}

/// `restart`, `stop`, `kill`, `event`, or a map `signal:`/`send_keys:`/`run:`.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum ActionSpec {
    /// A word action.
    Word(ActionWord),
    /// A keyed action.
    Keyed(KeyedAction),
}

/// Word actions.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionWord {
    /// Restart the pane.
    Restart,
    /// Stop it.
    Stop,
    /// Kill its process tree.
    Kill,
    /// Record an event only.
    Event,
}

/// Keyed actions (exactly one key).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyedAction {
    /// Send this signal to the process group.
    signal: Option<String>,
    /// Send these tmux keys (`C-c`, `Enter`).
    send_keys: Option<String>,
    /// Run this shell command with `CTMUX_MATCH*` in its environment.
    run: Option<String>,
}

/// A duration: `500ms`, `2s`, `5m`, `1h30m`, `7d`.
#[derive(JsonSchema)]
#[schemars(extend("pattern" = r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d)\s*)+$"))]
pub struct DurationStr(String);

/// A string or a list of strings.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum StringOrList {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// Environment: a map, or compose's `["NAME=value"]` list.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum Env {
    /// `NAME: value`.
    Map(IndexMap<String, Option<Scalar>>),
    /// `NAME=value`.
    List(Vec<String>),
}

/// A string, number or boolean (kept as written).
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// Text.
    String(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// The schema document.
pub fn schema() -> Schema {
    SchemaSettings::draft07().into_generator().into_root_schema_for::<Manifest>()
}

/// The schema as pretty JSON with a trailing newline, as checked in at `schema/ctmux.schema.json`.
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}
