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
            // Before the runtime starts threads: the supervisor's "ready" pipe, if any.
            crate::daemon::registry::adopt_ready_fd();
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
                    let supervisor = s.supervisor.map_or("not supervised".to_string(), |p| format!("supervisor {p}"));
                    ctx.say(format!(
                        "running: pid {} ({supervisor}), up {}s, {} pane(s), projects: {}{}",
                        s.pid,
                        s.uptime_secs,
                        s.panes,
                        s.projects.join(", "),
                        s.socket.map(|p| format!(", socket {p}")).unwrap_or_default()
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
        DaemonCmd::Logs { lines } => {
            let path = paths::log_path(&socket).map_err(|e| Error::failed(e.to_string(), None))?;
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Exit::Ok),
                Err(e) => return Err(Error::failed(format!("cannot read {}: {e}", path.display()), None)),
            };
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for line in tail(std::io::BufReader::new(file), lines) {
                let _ = writeln!(out, "{line}");
            }
            Ok(Exit::Ok)
        }
    }
}

/// The lines of `reader`, or only its last `n` (read once, keeping at most `n`).
fn tail(reader: impl std::io::BufRead, n: Option<usize>) -> std::collections::VecDeque<String> {
    let mut kept = std::collections::VecDeque::new();
    for line in reader.lines().map_while(|l| l.ok()) {
        if n == Some(0) {
            break;
        }
        if n == Some(kept.len()) {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    kept
}

#[cfg(test)]
mod tests {
    #[test]
    fn tail_keeps_the_last_n_lines() {
        let text = "a\nb\nc\n";
        assert_eq!(super::tail(text.as_bytes(), Some(2)), ["b", "c"]);
        assert_eq!(super::tail(text.as_bytes(), Some(0)), Vec::<String>::new());
        assert_eq!(super::tail(text.as_bytes(), Some(9)), ["a", "b", "c"]);
        assert_eq!(super::tail(text.as_bytes(), None), ["a", "b", "c"]);
    }
}
