//! Keeping the daemon up when its supervisor is gone too (it restarts a killed daemon by
//! itself): a ctmux command that finds panes managed by ctmux on its server but no daemon (and
//! no supervisor bringing one back) starts one (the daemon then handles the exits it missed), unless every such
//! pane's project was brought up with `up --no-daemon` (recorded as the session option
//! `@ctmux-no-daemon`).

use crate::cli::Ctx;
use crate::tmux::{Cmd, Socket, Tmux};

/// The session option `up --no-daemon` sets (and a plain `up` clears): no daemon for the
/// project's sessions unless the user starts one.
pub const NO_DAEMON: &str = "@ctmux-no-daemon";

/// What the daemon of a server was found doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// A daemon answered.
    Running,
    /// None answered although ctmux manages panes there: one was started just now.
    Restarted,
    /// None answers and none could be started.
    Down,
    /// None runs, by choice (`up --no-daemon`), or nothing is managed there.
    Off,
}

impl Daemon {
    /// The `status --json` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Daemon::Running => "running",
            Daemon::Restarted => "restarted",
            Daemon::Down => "down",
            Daemon::Off => "off",
        }
    }
}

/// Starts `socket`'s daemon when panes are managed there and none answers; says so on stderr
/// (unless `--json` or `-q`). Never fails the command it runs before.
pub fn supervise(ctx: &Ctx, socket: &Socket) -> Daemon {
    use crate::daemon::client;
    if matches!(client::request(socket, crate::daemon::protocol::Request::Status), Ok(Some(_))) {
        return Daemon::Running;
    }
    let Ok(rt) = super::stack::runtime() else { return Daemon::Down };
    let tmux = Tmux::new(socket.clone());
    let format = format!("#{{@ctmux-project}}\t#{{{NO_DAEMON}}}");
    let Ok(out) = rt.block_on(tmux.run(&[Cmd::query("list-panes").args(["-a", "-F", &format])])) else {
        return Daemon::Off;
    };
    let wanted =
        out.lines().any(|l| l.split_once('\t').is_some_and(|(project, off)| !project.is_empty() && off != "1"));
    if !wanted {
        return Daemon::Off;
    }
    match client::ensure_started(socket) {
        // Its supervisor brought it back meanwhile.
        Ok(false) => Daemon::Running,
        Ok(true) => {
            if !ctx.json() {
                ctx.warn("the daemon was not running (killed?): started it again; it handles what exited meanwhile");
            }
            Daemon::Restarted
        }
        Err(e) => {
            if !ctx.json() {
                ctx.warn(format!("the daemon is down and could not be started: {e}"));
            }
            Daemon::Down
        }
    }
}

/// [`supervise`] for a command that names no manifest's server itself: the server the flags,
/// `CTMUX_TMUX_SOCKET` or the manifest here choose.
pub fn before(ctx: &Ctx) {
    if let Ok(server) = super::target::Server::open(ctx) {
        supervise(ctx, &server.tmux.socket);
    }
}
