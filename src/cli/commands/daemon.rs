//! `ctmux daemon start|stop|status|logs|run`.

use crate::cli::args::DaemonCmd;
use crate::cli::{Ctx, Result};
use crate::daemon::{client, paths, protocol::Request};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::Socket;

/// The tmux server the daemon verbs talk about: flags, env, then the manifest's `socket:`.
pub fn socket(ctx: &Ctx) -> Socket {
    let env = std::env::var("CTMUX_TMUX_SOCKET").ok();
    let manifest = if ctx.global.socket_name.is_none() && ctx.global.socket_path.is_none() && env.is_none() {
        super::load(ctx).ok().and_then(|l| l.project.socket)
    } else {
        None
    };
    Socket::choose(
        ctx.global.socket_name.as_deref(),
        ctx.global.socket_path.as_deref(),
        env.as_deref(),
        manifest.as_deref(),
    )
}

/// Runs a `daemon` verb.
pub fn run(ctx: &Ctx, cmd: DaemonCmd) -> Result {
    let socket = socket(ctx);
    match cmd {
        DaemonCmd::Run => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::failed(e.to_string(), None))?;
            rt.block_on(crate::daemon::run(socket))?;
            Ok(Exit::Ok)
        }
        DaemonCmd::Start => {
            let started = client::ensure_started(&socket)?;
            if ctx.json() {
                ctx.print_json(&serde_json::json!({ "ok": true, "started": started }));
            } else {
                ctx.say(if started { "daemon started" } else { "daemon already running" });
            }
            Ok(Exit::Ok)
        }
        DaemonCmd::Stop => {
            let answered = client::stop(&socket)?;
            if ctx.json() {
                ctx.print_json(&serde_json::json!({ "ok": true, "was_running": answered }));
            } else {
                ctx.say(if answered { "daemon stopped" } else { "no daemon was running" });
            }
            Ok(Exit::Ok)
        }
        DaemonCmd::Status => match client::request(&socket, Request::Status)? {
            Some(r) => {
                if ctx.json() {
                    ctx.print_json(&serde_json::json!({ "running": true, "status": r.status }));
                } else if let Some(s) = r.status {
                    ctx.say(format!(
                        "running: pid {}, up {}s, {} pane(s), projects: {}",
                        s.pid,
                        s.uptime_secs,
                        s.panes,
                        s.projects.join(", ")
                    ));
                }
                Ok(Exit::Ok)
            }
            None => {
                if ctx.json() {
                    ctx.print_json(&serde_json::json!({ "running": false }));
                } else {
                    ctx.say("not running");
                }
                Ok(Exit::Failed)
            }
        },
        DaemonCmd::Logs => {
            let path = paths::log_path(&socket).map_err(|e| Error::failed(e.to_string(), None))?;
            print!("{}", std::fs::read_to_string(&path).unwrap_or_default());
            Ok(Exit::Ok)
        }
    }
}
