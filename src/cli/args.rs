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
    /// Manifest file (default: ctmux.yaml, ctmux.yml or ctmux.toml here or in a parent directory).
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub file: Option<PathBuf>,
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
    /// Print a shell completion script.
    Completions(CompletionsArgs),
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
    pub targets: Vec<String>,
}

/// `up` flags.
#[derive(Debug, ClapArgs)]
pub struct UpArgs {
    /// Targets (sessions, `session/pane`, panes, groups); default: everything.
    pub targets: Vec<String>,
    /// Wait until every target is healthy (or done, for one-shot panes).
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
}

/// `plan` flags.
#[derive(Debug, ClapArgs)]
pub struct PlanArgs {
    /// Targets; default everything.
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
    pub targets: Vec<String>,
}

/// `status` flags.
#[derive(Debug, ClapArgs)]
pub struct StatusArgs {
    /// Targets; default everything.
    pub targets: Vec<String>,
}

/// Verbs that take targets.
#[derive(Debug, ClapArgs)]
pub struct TargetArgs {
    /// Sessions, `session/pane`, panes or groups.
    #[arg(required = true)]
    pub targets: Vec<String>,
}

/// `attach` flags.
#[derive(Debug, ClapArgs)]
pub struct AttachArgs {
    /// Pane or session to select; default the first session.
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
        }
    }
}
