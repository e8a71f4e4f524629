//! One file per verb; `dispatch` routes a parsed command to it.

pub mod attach;
mod config;
mod daemon;
mod down;
mod events;
mod exec_shell;
mod exec_turn;
mod gc;
mod graph;
mod group;
mod import;
mod logs;
mod mcp;
mod metrics;
mod pane;
mod pane_exec;
mod pane_stream;
mod pane_wait;
mod session;
mod snapshot;
mod snapshot_store;
mod stack;
pub mod status;
mod supervise;
mod target;
mod top;
mod up;
mod validate;
mod watch;

use std::collections::HashMap;

use super::args::Command;
use super::{Ctx, Result};
use crate::manifest::{self, Loaded};

/// Runs one verb.
pub fn dispatch(ctx: &Ctx, command: Command) -> Result {
    // Verbs about a running stack restart a daemon that died (see `supervise`); `up` and
    // `start` start it themselves, `status` reports what it found, `down` takes things away.
    if matches!(
        command,
        Command::Stop(_)
            | Command::Restart(_)
            | Command::Attach(_)
            | Command::Session { .. }
            | Command::Pane { .. }
            | Command::Group { .. }
            | Command::Logs(_)
            | Command::Events(_)
            | Command::Subscribe(_)
            | Command::Unsubscribe { .. }
            | Command::Metrics { .. }
    ) {
        supervise::before(ctx);
    }
    match command {
        Command::Validate => validate::run(ctx),
        Command::Config(args) => config::run(ctx, &args),
        Command::Graph(args) => graph::run(ctx, &args),
        Command::Up(args) => {
            // `--scale` is part of what the manifest is composed into, for this run and the daemon.
            let mut ctx = ctx.clone();
            ctx.global.scale = args.scale.clone();
            if args.watch { watch::run(&ctx, &args) } else { up::run_up(&ctx, &args) }
        }
        Command::Plan(args) => up::run_plan(ctx, &args),
        Command::Down(args) => down::run_down(ctx, &args),
        Command::Status(args) => status::run(ctx, &args),
        Command::Start(args) => up::run_up(ctx, &super::args::UpArgs::start(args.targets)),
        Command::Stop(args) => down::run_stop(ctx, &args),
        Command::Restart(args) => down::run_restart(ctx, &args),
        Command::Attach(args) => attach::run(ctx, &args),
        Command::Session { cmd } => session::run(ctx, cmd),
        Command::Pane { cmd } => pane::run(ctx, cmd),
        Command::Group { cmd } => group::run(ctx, cmd),
        Command::Daemon { cmd } => daemon::run(ctx, cmd),
        Command::Logs(args) => logs::run(ctx, &args),
        Command::Events(args) => events::run(ctx, &args),
        Command::Subscribe(args) => events::subscribe(ctx, &args),
        Command::Unsubscribe { id } => events::unsubscribe(ctx, id),
        Command::Gc(args) => gc::run(ctx, &args),
        Command::Top(args) => top::run(ctx, &args),
        Command::Metrics { cmd: super::args::MetricsCmd::History { target, since } } => {
            let server = target::Server::open(ctx)?;
            let rt = stack::runtime()?;
            let lp = rt.block_on(server.pane(ctx, &target))?;
            metrics::history(ctx, &server, &lp, since.as_deref())
        }
        Command::Mcp(args) => mcp::run(ctx, &args),
        Command::Snapshot(args) => snapshot::run(ctx, &args),
        Command::Restore(args) => snapshot::restore(ctx, &args),
        Command::Import(args) => import::run(ctx, &args),
        Command::Completions(args) => {
            let mut script = Vec::new();
            // Dynamic where the shell has it: the script calls `ctmux` back at each TAB, so
            // targets, sessions, groups and profiles come from the manifest and server here.
            let shell = args.shell.to_string();
            let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "ctmux".into());
            match clap_complete::env::Shells::builtins().completer(&shell) {
                Some(dynamic) => dynamic
                    .write_registration("COMPLETE", "ctmux", "ctmux", &exe, &mut script)
                    .map_err(|e| crate::error::Error::failed(format!("cannot write the completions: {e}"), None))?,
                None => {
                    let mut cmd = <super::args::Cli as clap::CommandFactory>::command();
                    clap_complete::generate(args.shell, &mut cmd, "ctmux", &mut script);
                }
            }
            super::output::write_stdout(&script)
                .map_err(|e| crate::error::Error::failed(format!("cannot print the completions: {e}"), None))?;
            Ok(crate::exit::Exit::Ok)
        }
    }
}

/// Finds and loads the manifest named by `-f` (or discovered), printing its warnings.
pub fn load(ctx: &Ctx) -> Result<Loaded> {
    load_ports(ctx, false)
}

/// [`load`], with the ports of `ports: {NAME: auto}` from the state store: allocated now when
/// `allocate` (`up`), else those allocated by an earlier `up` (0 when there are none).
pub fn load_ports(ctx: &Ctx, allocate: bool) -> Result<Loaded> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut options = compose_options(ctx)?;
    let mut loaded = manifest::load_with(&options, &env)?;
    let auto: Vec<String> = loaded.project.ports.iter().filter(|p| p.auto).map(|p| p.name.clone()).collect();
    if !auto.is_empty() {
        let socket = crate::tmux::Socket::choose(
            ctx.global.socket_name.as_deref(),
            ctx.global.socket_path.as_deref(),
            std::env::var("CTMUX_TMUX_SOCKET").ok().as_deref(),
            loaded.project.socket.as_deref(),
        );
        let (server, project) = (socket.key(), loaded.project.name.clone());
        let ports = if allocate {
            let mut store = crate::store::Store::open()
                .map_err(|e| crate::error::Error::failed(format!("cannot allocate ports: {e}"), None))?;
            store
                .claim_ports(&server, &project, &auto)
                .map_err(|e| crate::error::Error::failed(format!("cannot allocate ports: {e}"), None))?
        } else {
            crate::store::Store::open().and_then(|s| s.ports(&server, &project)).unwrap_or_default()
        };
        if !ports.is_empty() {
            options.ports = ports;
            loaded = manifest::load_with(&options, &env)?;
        }
    }
    super::output::print_warnings(ctx, &loaded.warnings);
    Ok(loaded)
}

/// What `-f` (or discovery), `--profile` and `--env-file` ask to compose.
pub fn compose_options(ctx: &Ctx) -> Result<manifest::compose::Options> {
    let cwd = std::env::current_dir()
        .map_err(|e| crate::error::Error::failed(format!("cannot read the current directory: {e}"), None))?;
    let files = manifest::discover_all(&ctx.global.file, &cwd)?;
    let env_files = (!ctx.global.env_file.is_empty()).then(|| ctx.global.env_file.clone());
    let env: HashMap<String, String> = std::env::vars().collect();
    let options = manifest::compose::Options {
        files,
        profiles: ctx.global.profile.clone(),
        env_files,
        scale: ctx.global.scale.clone(),
        ports: Vec::new(),
    };
    Ok(options.with_env_profiles(&env))
}
