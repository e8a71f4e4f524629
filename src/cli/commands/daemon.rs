//! `ctmux daemon start|stop|status|logs|run` and `ctmux logs`.

use super::stack::Stack;
use crate::cli::args::{DaemonCmd, LogsArgs};
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

/// Runs `logs`: the daemon's pane logs, merged by time like `docker compose logs`.
pub fn logs(ctx: &Ctx, args: &LogsArgs) -> Result {
    let stack = Stack::open(ctx)?;
    let grep = args
        .grep
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| Error::Usage { message: format!("--grep: {e}"), hint: None })?;
    let addresses = stack.addresses(&args.targets)?;
    let mut merged: Vec<(u64, usize, String, String)> = Vec::new();
    for (order, address) in addresses.iter().enumerate() {
        let Ok(path) = paths::pane_log(&stack.project().name, address) else { continue };
        let text = std::fs::read(&path).unwrap_or_default();
        let mut lines: Vec<(u64, String)> = String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| l.split_once('\t').map(|(ts, line)| (ts.parse().unwrap_or(0), line.to_string())))
            .map(|(ts, line)| (ts, if args.ansi { line } else { crate::ansi::strip(&line) }))
            .filter(|(_, line)| grep.as_ref().is_none_or(|g| g.is_match(line)))
            .collect();
        if let Some(n) = args.lines {
            lines = lines.split_off(lines.len().saturating_sub(n));
        }
        merged.extend(lines.into_iter().map(|(ts, line)| (ts, order, address.clone(), line)));
    }
    merged.sort_by_key(|(ts, order, _, _)| (*ts, *order));
    let width = addresses.iter().map(|a| a.len()).max().unwrap_or(0);
    for (ts, _, address, line) in &merged {
        if ctx.json() {
            println!("{}", serde_json::json!({ "schema_version": 1, "ts": ts, "address": address, "line": line }));
            continue;
        }
        let mut out = String::new();
        if !args.no_prefix {
            out.push_str(&format!("{address:<width$} | "));
        }
        if args.timestamps {
            out.push_str(&format!("{}.{:03} ", ts / 1000, ts % 1000));
        }
        out.push_str(line);
        println!("{out}");
    }
    Ok(Exit::Ok)
}
