//! Command-line syntax (clap derive). Meaning is given to these flags in `cli/mod.rs`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};

/// Declarative multi-process dev stacks in tmux.
#[derive(Debug, Parser)]
#[command(name = "ctmux", version, about, propagate_version = true)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The verb.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every verb accepts.
#[derive(Debug, Clone, ClapArgs)]
pub struct Global {
    /// Manifest file (default: ctmux.yaml, ctmux.yml or ctmux.toml here or in a parent
    /// directory); repeat to merge several in order, as compose does. After `logs`, `events` and
    /// `pane tail`, `-f` is `--follow`: use `--file` there.
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE", action = clap::ArgAction::Append)]
    pub file: Vec<PathBuf>,
    /// Enable sessions and panes with this profile (repeatable; default: CTMUX_PROFILES, comma
    /// separated). What has no `profiles:` is always on.
    #[arg(long = "profile", global = true, value_name = "NAME", action = clap::ArgAction::Append)]
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::profiles))]
    pub profile: Vec<String>,
    /// Read these env files for interpolation instead of the `.env` beside the (first) manifest
    /// (repeatable).
    #[arg(long = "env-file", global = true, value_name = "FILE", action = clap::ArgAction::Append)]
    pub env_file: Vec<PathBuf>,
    /// `up --scale`, parsed: replica counts by pane (not a flag of every verb).
    #[arg(skip)]
    pub scale: Vec<(String, u32)>,
    /// tmux socket name, like `tmux -L`.
    #[arg(short = 'L', long = "socket-name", global = true, value_name = "NAME", conflicts_with = "socket_path")]
    pub socket_name: Option<String>,
    /// tmux socket path, like `tmux -S`.
    #[arg(short = 'S', long = "socket-path", global = true, value_name = "PATH")]
    pub socket_path: Option<PathBuf>,
    /// Print one JSON document on stdout (JSON Lines for follow modes).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail (repeat for more); `-v` also reports the tmux commands sent.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never colour output (also: NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// Every verb.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest and report every problem.
    Validate,
    /// Print the normalized, fully resolved manifest.
    Config(ConfigArgs),
    /// Show the dependency graph as start waves, or as Graphviz.
    Graph(GraphArgs),
    /// Bring tmux to the manifest: create what is missing, recreate what drifted.
    Up(UpArgs),
    /// Show what `up` would do, without doing it.
    Plan(PlanArgs),
    /// Stop and remove the project's panes, in reverse dependency order.
    Down(DownArgs),
    /// Show the state of every managed pane.
    #[command(alias = "ps")]
    Status(StatusArgs),
    /// Start stopped or missing targets (and their dependencies).
    Start(TargetArgs),
    /// Stop targets, keeping their panes.
    Stop(TargetArgs),
    /// Restart targets in place.
    Restart(TargetArgs),
    /// Attach to the project's session (or switch to it inside tmux) and select a pane.
    Attach(AttachArgs),
    /// Sessions on the server, managed or not.
    Session {
        /// What to do.
        #[command(subcommand)]
        cmd: SessionCmd,
    },
    /// Panes: run commands, read output, wait, send keys and signals, metadata.
    Pane {
        /// What to do.
        #[command(subcommand)]
        cmd: PaneCmd,
    },
    /// Named groups of sessions or panes (from the manifest's `groups:` and the state store).
    Group {
        /// What to do.
        #[command(subcommand)]
        cmd: GroupCmd,
    },
    /// The per-server daemon: output logs, `on:` rules, restart policies.
    Daemon {
        /// What to do.
        #[command(subcommand)]
        cmd: DaemonCmd,
    },
    /// Print panes' output logs (written by the daemon), merged by time; `-f` follows.
    Logs(LogsArgs),
    /// Print the daemon's recorded events (pane started/exited, matches, health…); `-f` follows.
    Events(EventsArgs),
    /// Run a command on every matching event, from now until `unsubscribe` (kept across daemon
    /// restarts); `--list` shows them.
    Subscribe(SubscribeArgs),
    /// Resource use recorded by the daemon over time.
    Metrics {
        /// What to show.
        #[command(subcommand)]
        cmd: MetricsCmd,
    },
    /// Garbage-collect now what the manifest's `gc:` TTLs say is due (exited panes, idle
    /// sessions, old logs, orphans); `--dry-run` prints the plan, `gc status` what is due when.
    Gc(GcArgs),
    /// A live full-screen table of the project's panes: state, health, CPU, memory, restarts,
    /// uptime, last line; keys to sort, filter, restart, stop, start, follow logs, attach.
    Top(TopArgs),
    /// Remove a subscription.
    Unsubscribe {
        /// Its id (`subscribe --list`).
        id: i64,
    },
    /// Serve the verbs as Model Context Protocol tools on stdin/stdout, for AI agents.
    Mcp(McpArgs),
    /// Write what the tmux server runs now as a manifest (`ctmux restore` brings it back).
    Snapshot(SnapshotArgs),
    /// Bring a snapshot (or any manifest) back: `up -f FILE`, leaving existing sessions alone.
    Restore(RestoreArgs),
    /// Translate a tmuxp, tmuxinator, Procfile or process-compose file into a ctmux manifest.
    Import(ImportArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// `mcp` flags.
#[derive(Debug, ClapArgs)]
pub struct McpArgs {
    /// Offer only the tools that read (status, plan, validate, pane_wait, pane_capture,
    /// session_ls, logs, events).
    #[arg(long)]
    pub read_only: bool,
    /// Byte limit of one tool result; longer output is cut with a note saying how to continue.
    #[arg(long, default_value_t = 16384, value_name = "BYTES")]
    pub max_bytes: usize,
}

/// `top` flags.
#[derive(Debug, ClapArgs)]
pub struct TopArgs {
    /// Every pane on the tmux server, not only the project's.
    #[arg(long)]
    pub all_sessions: bool,
    /// Print the table once and exit (also without a terminal).
    #[arg(long)]
    pub once: bool,
}

/// `gc` flags.
#[derive(Debug, ClapArgs)]
pub struct GcArgs {
    /// Print what would be removed, and why, without removing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// `status`: everything GC would remove, now or later, and when.
    #[command(subcommand)]
    pub cmd: Option<GcCmd>,
}

impl GcArgs {
    /// Whether this is `gc status`.
    pub fn status(&self) -> bool {
        matches!(self.cmd, Some(GcCmd::Status))
    }
}

/// `gc` verbs.
#[derive(Debug, Subcommand)]
pub enum GcCmd {
    /// What GC would remove, now or later, and when each is due.
    Status,
}

/// `import` arguments.
#[derive(Debug, ClapArgs)]
pub struct ImportArgs {
    /// What FILE is.
    pub format: crate::import::Format,
    /// The file to translate.
    pub file: std::path::PathBuf,
    /// Write the manifest here (TOML when it ends in `.toml`) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// `snapshot` flags (or a store verb).
#[derive(Debug, ClapArgs)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SnapshotArgs {
    /// The snapshot store instead: `ls`, `show ID`, `rm ID`.
    #[command(subcommand)]
    pub cmd: Option<SnapshotCmd>,
    /// Also keep it in the snapshot store (`snapshot ls`), under the state directory.
    #[arg(long)]
    pub save: bool,
    /// Sessions to write; default: the sessions of the manifest's project here, else every one.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
    /// Write to FILE (TOML when it ends in `.toml`) instead of stdout; written atomically, 0600.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Every session on the server.
    #[arg(long, conflicts_with = "targets")]
    pub all_sessions: bool,
}

/// The snapshot store's verbs.
#[derive(Debug, Subcommand)]
pub enum SnapshotCmd {
    /// List stored snapshots, oldest first.
    Ls,
    /// Print a stored snapshot.
    Show {
        /// Its id (`snapshot ls`), or `PROJECT/ID`.
        id: String,
    },
    /// Remove a stored snapshot.
    Rm {
        /// Its id, or `PROJECT/ID`.
        id: String,
    },
}

/// `restore` flags.
#[derive(Debug, ClapArgs)]
pub struct RestoreArgs {
    /// The snapshot (any manifest) to bring back.
    #[arg(required_unless_present = "latest", conflicts_with = "latest")]
    pub file: Option<std::path::PathBuf>,
    /// The newest stored snapshot (of the manifest's project here, if it has one).
    #[arg(long)]
    pub latest: bool,
    /// Replace sessions of the snapshot that exist already but were not created from it
    /// (they are killed first); without it they are left alone and skipped.
    #[arg(long)]
    pub replace: bool,
    /// Show what would be created, and change nothing.
    #[arg(long)]
    pub plan: bool,
    /// Do not start the daemon.
    #[arg(long)]
    pub no_daemon: bool,
}

/// `daemon` verbs.
#[derive(Debug, Subcommand)]
pub enum DaemonCmd {
    /// Start the daemon for this tmux server (detached, under a supervisor that starts it again
    /// if it is killed) unless one runs.
    Start,
    /// Stop it (and its supervisor).
    Stop,
    /// Is it running, and what does it watch?
    Status,
    /// Print its log (its events, as JSON lines).
    Logs {
        /// Only the last N lines.
        #[arg(short = 'n', long = "lines", value_name = "N")]
        lines: Option<usize>,
    },
    /// Run it in the foreground (what `start` runs, detached, under its supervisor).
    #[command(hide = true)]
    Run,
}

/// `metrics` verbs.
#[derive(Debug, Subcommand)]
pub enum MetricsCmd {
    /// The daemon's samples of a pane it watches (every 10 s with limits, else every 60 s).
    History {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Only samples since then: a duration ago (`1h`) or a time.
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
}

/// `--file` without the `-f` short, for verbs whose `-f` is `--follow` (as in `compose logs -f`);
/// its value lands in [`Global::file`], since both have the id `file`.
#[derive(Debug, Clone, ClapArgs)]
pub struct LongFile {
    /// Manifest file (`-f` is `--follow` here); repeat to merge several.
    #[arg(long = "file", id = "file", value_name = "FILE", action = clap::ArgAction::Append)]
    pub file: Vec<PathBuf>,
}

/// `events` flags.
#[derive(Debug, ClapArgs)]
pub struct EventsArgs {
    /// Only events of these targets (session, `session/pane`, pane).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
    /// Print new events as they happen, from now on (JSON Lines with `--json`); with `--since`
    /// or `-n`, recorded events first.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// `--file` (`-f` is `--follow` here).
    #[command(flatten)]
    pub file: LongFile,
    /// Only events since then: a duration ago (`10m`) or a time (`2026-11-25T09:00:00Z`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only events of this kind (`pane.exited`, or a prefix: `pane`, `pane.*`); repeatable.
    #[arg(long, value_name = "KIND")]
    pub kind: Vec<String>,
    /// Only the last N events.
    #[arg(short = 'n', long)]
    pub lines: Option<usize>,
}

/// `subscribe` flags.
#[derive(Debug, ClapArgs)]
pub struct SubscribeArgs {
    /// Event kind (`pane.exited`, a prefix such as `pane.*`, or `*`).
    pub event: Option<String>,
    /// Only events of this target (session, `session/pane`, pane).
    #[arg(long, value_name = "TARGET")]
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub target: Option<String>,
    /// Only events whose text (or JSON) matches this regex.
    #[arg(long = "match", value_name = "REGEX")]
    pub pattern: Option<String>,
    /// List subscriptions instead.
    #[arg(long, conflicts_with_all = ["event", "target", "pattern"])]
    pub list: bool,
    /// The command: one argument runs in `sh -c`, several are an argv. It gets the event as
    /// `CTMUX_EVENT`, `CTMUX_PANE`, `CTMUX_DATA_<KEY>`… and as JSON on stdin.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `logs` flags.
#[derive(Debug, ClapArgs)]
pub struct LogsArgs {
    /// Targets; default every pane of the project.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
    /// Keep printing new lines as panes print them (across restarts and log rotation).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// `--file` (`-f` is `--follow` here).
    #[command(flatten)]
    pub file: LongFile,
    /// Only lines since then: a duration ago (`10m`) or a time (`2026-11-25T09:00:00Z`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Last N lines of each pane (`--tail N`, as in compose, is the same).
    #[arg(short = 'n', long, visible_alias = "tail")]
    pub lines: Option<usize>,
    /// Only lines matching this regex.
    #[arg(long)]
    pub grep: Option<String>,
    /// Prefix each line with its time.
    #[arg(long)]
    pub timestamps: bool,
    /// No `address |` prefix.
    #[arg(long)]
    pub no_prefix: bool,
    /// Keep ANSI escapes.
    #[arg(long)]
    pub ansi: bool,
}

/// `group` verbs.
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create an empty group.
    New {
        /// Group name.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::groups))]
        name: String,
    },
    /// Add sessions or panes (any target) to a group; each must exist.
    Add {
        /// Group name.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::groups))]
        name: String,
        /// Members.
        #[arg(required = true)]
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        members: Vec<String>,
    },
    /// Remove members from a group.
    Rm {
        /// Group name.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::groups))]
        name: String,
        /// Members.
        #[arg(required = true)]
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        members: Vec<String>,
    },
    /// List groups and their members (or one group).
    Ls {
        /// Only this group.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::groups))]
        name: Option<String>,
    },
    /// Type a command into the idle shell of every pane of the group (exit 1 unless every
    /// member ran it).
    Exec {
        /// Group name.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::groups))]
        name: String,
        /// Type even into panes that are not an idle shell.
        #[arg(long)]
        force: bool,
        /// The command, after `--`: one word is shell text, several are an argv.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Kill every session (or pane) of the group, and forget the group.
    Kill {
        /// Group name.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::groups))]
        name: String,
    },
}

/// `session` verbs.
#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Create a detached session.
    New {
        /// Session name.
        name: String,
        /// Working directory.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Layout of its window, kept for the panes `pane new` adds: a tmux layout name
        /// (`tiled`, `even-horizontal`, `main-vertical`…) or a layout string (`window_layout`).
        #[arg(long)]
        layout: Option<String>,
        /// Command of its first pane (default: a shell), after `--`.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// List sessions.
    Ls,
    /// Kill a session.
    Kill {
        /// Session name.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::sessions))]
        name: String,
    },
    /// healthy / degraded / unhealthy, with reasons.
    Health {
        /// Session name.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::sessions))]
        name: String,
    },
    /// Resource use of every pane of the session, and the total.
    Metrics {
        /// Session name.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::sessions))]
        name: String,
        /// CPU is measured over this long.
        #[arg(long, default_value = "500ms", value_name = "DURATION")]
        interval: String,
    },
}

/// `pane` verbs. T is a ctmux address (`session/pane`) or any tmux target (`%12`, `dev:0.1`).
#[derive(Debug, Subcommand)]
pub enum PaneCmd {
    /// Split a new pane into a session.
    New {
        /// Session.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::sessions))]
        session: String,
        /// Name (stored as `@ctmux-name`, shown as the pane title): address it as
        /// `SESSION/NAME`, or `NAME` when unique.
        #[arg(long)]
        name: Option<String>,
        /// Working directory.
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Command (default: a shell).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Kill a pane.
    Kill {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
    },
    /// Type a command into a pane's idle shell; with --wait, return its output and exit with its
    /// status.
    Exec {
        /// Target pane (running a POSIX shell).
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Wait for the command and report its status and output.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this long (exit 3; the command keeps running).
        #[arg(long)]
        timeout: Option<String>,
        /// On timeout, interrupt the command (SIGINT to the foreground process group).
        #[arg(long)]
        kill_on_timeout: bool,
        /// Type even when the pane is not an idle shell (the keys go to whatever runs there).
        #[arg(long)]
        force: bool,
        /// The command, after `--`: one word is shell text, several are an argv (each word
        /// quoted for the shell). Every word after `--` is the command's.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Print a pane's output.
    Capture {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Last N lines.
        #[arg(short = 'n', long)]
        lines: Option<usize>,
        /// The whole scrollback.
        #[arg(long)]
        all: bool,
        /// Keep ANSI escapes.
        #[arg(long)]
        ansi: bool,
    },
    /// State, pid, command, cwd, exit status of one pane.
    Status {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
    },
    /// CPU, memory, I/O, threads and uptime of the pane's whole process tree, measured now.
    Metrics {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// CPU is measured over this long.
        #[arg(long, default_value = "500ms", value_name = "DURATION")]
        interval: String,
    },
    /// Runtime limits on the pane's process tree, enforced by the daemon (over the manifest's).
    Limit {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Resident memory limit, e.g. `512MiB`.
        #[arg(long)]
        memory: Option<String>,
        /// CPU limit, e.g. `150%` or `1.5`.
        #[arg(long)]
        cpu: Option<String>,
        /// warn (an event), restart or kill.
        #[arg(long)]
        action: Option<String>,
        /// Remove the runtime limits.
        #[arg(long, conflicts_with_all = ["memory", "cpu", "action"])]
        clear: bool,
    },
    /// List panes (of SESSION, of the project, or --all-sessions).
    Ls {
        /// Session.
        session: Option<String>,
        /// Include metadata.
        #[arg(long)]
        detailed: bool,
        /// Every session on the server.
        #[arg(long)]
        all_sessions: bool,
    },
    /// Count panes.
    Count {
        /// Session.
        session: Option<String>,
        /// Every session on the server.
        #[arg(long)]
        all_sessions: bool,
    },
    /// Does the pane's output contain RE? (exit 0 yes, 1 no)
    Has {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Regex.
        pattern: String,
    },
    /// Panes whose output matches RE.
    Find {
        /// Regex.
        pattern: String,
        /// Every session on the server.
        #[arg(long)]
        all_sessions: bool,
    },
    /// Wait for a line matching RE, or for the pane's process to exit (event-driven).
    Wait {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Wait for the process to exit.
        #[arg(long, conflicts_with = "pattern")]
        exit: bool,
        /// Wait for an output line matching this regex.
        #[arg(long = "match", value_name = "RE")]
        pattern: Option<String>,
        /// Give up after this long (exit 3).
        #[arg(long)]
        timeout: Option<String>,
        /// Also match output printed before the call (the pane's scrollback).
        #[arg(long)]
        since_start: bool,
    },
    /// Print new output as it arrives (JSON Lines with --json).
    Stream {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Only lines matching this regex.
        #[arg(long)]
        grep: Option<String>,
        /// Stop after this long.
        #[arg(long)]
        timeout: Option<String>,
    },
    /// Print the last lines; with -f, keep printing new ones.
    Tail {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
        /// Follow.
        #[arg(short, long)]
        follow: bool,
        /// `--file` (`-f` is `--follow` here).
        #[command(flatten)]
        file: LongFile,
        /// Only lines matching this regex.
        #[arg(long)]
        grep: Option<String>,
        /// Stop following after this long.
        #[arg(long)]
        timeout: Option<String>,
    },
    /// Attach your terminal to the pane (this terminal's own client switches, inside tmux);
    /// returns when you detach.
    Interact {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
    },
    /// Send tmux keys (`C-c`, `Enter`) or, with --literal, text.
    SendKeys {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Keys.
        #[arg(required = true)]
        keys: Vec<String>,
        /// Send the text as is.
        #[arg(long)]
        literal: bool,
    },
    /// Send a signal to the pane's foreground process group.
    Signal {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Signal, e.g. SIGTERM or INT.
        signal: String,
    },
    /// Pane metadata (`@ctmux-meta-<key>`).
    Meta {
        /// What to do.
        #[command(subcommand)]
        cmd: MetaCmd,
    },
}

/// `pane meta` verbs.
#[derive(Debug, Subcommand)]
pub enum MetaCmd {
    /// Set a key.
    Set {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Get one key or all.
    Get {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Key.
        key: Option<String>,
    },
    /// Remove a key.
    Rm {
        /// Target pane.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
        target: String,
        /// Key.
        key: String,
    },
}

/// `config` flags.
#[derive(Debug, ClapArgs)]
pub struct ConfigArgs {
    /// Print the JSON Schema of the manifest instead.
    #[arg(long)]
    pub schema: bool,
}

/// `graph` flags.
#[derive(Debug, ClapArgs)]
pub struct GraphArgs {
    /// Graphviz dot output.
    #[arg(long)]
    pub dot: bool,
    /// Limit to these targets and their dependencies.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
}

/// `up` flags.
#[derive(Debug, Clone, ClapArgs)]
pub struct UpArgs {
    /// Targets (sessions, `session/pane`, panes, groups); default: everything.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
    /// Wait until every target with a health check is healthy and every other one runs (a
    /// one-shot that already exited 0 with `restart: no` counts as done).
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this long (exit 3), e.g. `60s`.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Also recreate the dependents of recreated panes.
    #[arg(long)]
    pub cascade: bool,
    /// Stop managed panes that are no longer in the manifest.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Recreate every target pane, changed or not.
    #[arg(long)]
    pub recreate: bool,
    /// Do not start the daemon.
    #[arg(long)]
    pub no_daemon: bool,
    /// Stay in the foreground: print events, and bring tmux to the manifest again whenever it
    /// (or an env file beside it) changes. Ctrl-C leaves the stack running.
    #[arg(long, conflicts_with = "no_daemon")]
    pub watch: bool,
    /// With `--watch`: take the stack down on Ctrl-C.
    #[arg(long, requires = "watch")]
    pub down_on_exit: bool,
    /// Run N replicas of a pane (`PANE=N`, repeatable; a pane name or `session/pane`),
    /// overriding its `replicas:`; panes past N are removed.
    #[arg(long, value_name = "PANE=N", value_parser = parse_scale)]
    pub scale: Vec<(String, u32)>,
}

/// Parses `--scale PANE=N`.
fn parse_scale(text: &str) -> Result<(String, u32), String> {
    let (pane, n) = text.split_once('=').ok_or_else(|| format!("`{text}`: write PANE=N, e.g. worker=3"))?;
    let n: u32 = n.trim().parse().map_err(|_| format!("`{n}` is not a whole number"))?;
    if n == 0 || n > crate::manifest::lower::MAX_REPLICAS {
        return Err(format!("{n} replicas: a pane has 1 to {}", crate::manifest::lower::MAX_REPLICAS));
    }
    Ok((pane.trim().to_string(), n))
}

/// `plan` flags.
#[derive(Debug, ClapArgs)]
pub struct PlanArgs {
    /// Targets; default everything.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
    /// Exit 0 when there is nothing to do, 6 when there are changes.
    #[arg(long)]
    pub exit_code: bool,
    /// Plan as `up --cascade` would.
    #[arg(long)]
    pub cascade: bool,
    /// Plan as `up --remove-orphans` would.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Plan as `up --recreate` would.
    #[arg(long)]
    pub recreate: bool,
}

/// `down` flags.
#[derive(Debug, ClapArgs)]
pub struct DownArgs {
    /// Targets; default the whole project.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
}

/// `status` flags.
#[derive(Debug, ClapArgs)]
pub struct StatusArgs {
    /// Targets; default everything.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
}

/// Verbs that take targets.
#[derive(Debug, ClapArgs)]
pub struct TargetArgs {
    /// Sessions, `session/pane`, panes or groups.
    #[arg(required = true)]
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub targets: Vec<String>,
}

/// `attach` flags.
#[derive(Debug, ClapArgs)]
pub struct AttachArgs {
    /// Pane or session to select; default the first session.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::cli::complete::targets))]
    pub target: Option<String>,
}

/// `completions` flags.
#[derive(Debug, ClapArgs)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Parses arguments; clap's own errors (and `--help`) come back as `Err`.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args)
}

impl UpArgs {
    /// `start TARGET…` is `up TARGET…` with defaults.
    pub fn start(targets: Vec<String>) -> UpArgs {
        UpArgs {
            targets,
            wait: false,
            timeout: None,
            cascade: false,
            remove_orphans: false,
            recreate: false,
            no_daemon: false,
            watch: false,
            down_on_exit: false,
            scale: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Cli {
        parse(std::iter::once("ctmux").chain(args.iter().copied()).map(OsString::from))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn global_flags_are_accepted_after_the_verb() {
        for args in [
            &["up", "-f", "x.yaml", "--json", "-q", "-v", "--no-color", "-S", "/tmp/s"][..],
            &["-f", "x.yaml", "up", "--json", "-q", "-v", "--no-color", "-S", "/tmp/s"],
            &["status", "--file", "x.yaml", "--json", "--quiet", "--verbose", "--no-color", "-S", "/tmp/s"],
            &["pane", "ls", "-f", "x.yaml", "--json", "-q", "-v", "--no-color", "-S", "/tmp/s"],
        ] {
            let cli = parse_ok(args);
            let g = &cli.global;
            assert_eq!(g.file, [std::path::PathBuf::from("x.yaml")], "{args:?}");
            assert!(g.json && g.quiet && g.no_color && g.verbose == 1, "{args:?}");
            assert_eq!(g.socket_path.as_deref(), Some(std::path::Path::new("/tmp/s")), "{args:?}");
        }
        let cli = parse_ok(&["down", "-L", "dev", "worker"]);
        assert_eq!(cli.global.socket_name.as_deref(), Some("dev"));
    }

    #[test]
    fn after_logs_events_and_pane_tail_dash_f_follows_and_file_is_long() {
        let cli = parse_ok(&["-f", "x.yaml", "logs", "-f", "--tail", "5"]);
        let Command::Logs(args) = cli.command else { panic!("not logs") };
        assert!(args.follow);
        assert_eq!(args.lines, Some(5));
        assert_eq!(cli.global.file, [std::path::PathBuf::from("x.yaml")]);

        let cli = parse_ok(&["logs", "--file", "y.yaml", "-f"]);
        assert_eq!(cli.global.file, [std::path::PathBuf::from("y.yaml")]);
        let cli = parse_ok(&["events", "-f", "--file", "y.yaml"]);
        let Command::Events(args) = cli.command else { panic!("not events") };
        assert!(args.follow);
        assert_eq!(cli.global.file, [std::path::PathBuf::from("y.yaml")]);
        let cli = parse_ok(&["pane", "tail", "app/web", "-f", "--file", "y.yaml"]);
        let Command::Pane { cmd: PaneCmd::Tail { follow, .. } } = cli.command else { panic!("not tail") };
        assert!(follow);
        assert_eq!(cli.global.file, [std::path::PathBuf::from("y.yaml")]);
    }
}
