//! `ctmux session …`: sessions on the server, managed or not.

use std::collections::BTreeMap;

use serde::Serialize;

use super::stack::runtime;
use super::target::Server;
use crate::cli::args::SessionCmd;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::command::literal;
use crate::tmux::{Cmd, LivePane};

#[derive(Serialize)]
struct SessionDoc {
    name: String,
    id: String,
    windows: usize,
    panes: usize,
    dead_panes: usize,
    project: Option<String>,
}

#[derive(Serialize)]
struct SessionsDoc {
    sessions: Vec<SessionDoc>,
}

#[derive(Serialize)]
struct HealthDoc {
    session: String,
    health: &'static str,
    reasons: Vec<String>,
}

fn sessions(panes: &[LivePane]) -> Vec<SessionDoc> {
    let mut by: BTreeMap<&str, Vec<&LivePane>> = BTreeMap::new();
    for p in panes {
        by.entry(&p.session).or_default().push(p);
    }
    by.into_iter()
        .map(|(name, ps)| {
            let mut windows: Vec<&str> = ps.iter().map(|p| p.window_id.as_str()).collect();
            windows.dedup();
            SessionDoc {
                name: name.to_string(),
                id: ps[0].session_id.clone(),
                windows: windows.len(),
                panes: ps.len(),
                dead_panes: ps.iter().filter(|p| p.dead).count(),
                project: ps.iter().find(|p| !p.project.is_empty()).map(|p| p.project.clone()),
            }
        })
        .collect()
}

/// tmux's layout names.
pub const LAYOUTS: &[&str] = crate::tmux::layout::NAMES;

/// A layout name or a layout string tmux 3.3a applies without crashing ([`crate::tmux::layout`]).
fn check_layout(layout: &str) -> Result<()> {
    crate::tmux::layout::check(layout).map(|_| ()).map_err(|message| Error::Usage {
        message,
        hint: crate::suggest::hint(layout, LAYOUTS.iter().copied())
            .or(Some(format!("layouts: {}, or a layout string from `#{{window_layout}}`", LAYOUTS.join(", ")))),
    })
}

/// Runs a `session` verb.
pub fn run(ctx: &Ctx, cmd: SessionCmd) -> Result {
    let server = Server::open(ctx)?;
    let rt = runtime()?;
    rt.block_on(async {
        match cmd {
            SessionCmd::New { name, cwd, layout, command } => {
                if name.is_empty() || name.contains([':', '.']) {
                    return Err(Error::Usage {
                        message: format!("invalid session name `{name}`"),
                        hint: Some("tmux reserves `:` and `.`".into()),
                    });
                }
                let mut c = Cmd::new("new-session").args(["-d", "-s", &literal(&name), "-x", "240", "-y", "60"]);
                if let Some(cwd) = cwd {
                    c = c.opt("-c", literal(&std::path::absolute(&cwd).unwrap_or(cwd).to_string_lossy()));
                }
                if let Some(l) = &layout {
                    check_layout(l)?;
                }
                let command =
                    if command.is_empty() { super::pane::hooked_default_shell(&server).await } else { command };
                let mut cmds = vec![
                    c.args(command),
                    Cmd::new("set-option").args(["-w", "-t", &format!("={name}:"), "remain-on-exit", "on"]).sticky(),
                ];
                if let Some(l) = &layout {
                    cmds.push(Cmd::new("set-option").args(["-t", &format!("={name}:"), "@ctmux-layout", l]).sticky());
                }
                server.tmux.run(&cmds).await.map_err(|e| e.into_error(&format!("creating session `{name}`")))?;
                if let Some(l) = &layout {
                    // A layout string describing more panes than one fits later, as panes come.
                    let _ = server.tmux.run(&[Cmd::new("select-layout").args(["-t", &format!("={name}:"), l])]).await;
                }
                let panes = server.panes().await?;
                let doc = sessions(&panes).into_iter().find(|s| s.name == name);
                if ctx.json() {
                    ctx.print_json(&serde_json::json!({ "session": doc }));
                } else {
                    ctx.say(format!("created session {name}"));
                }
                Ok(Exit::Ok)
            }
            SessionCmd::Ls => {
                let panes = match server.panes().await {
                    Ok(p) => p,
                    Err(Error::TmuxUnavailable { .. }) => Vec::new(),
                    Err(e) => return Err(e),
                };
                let docs = sessions(&panes);
                if ctx.json() {
                    ctx.print_json(&SessionsDoc { sessions: docs });
                } else {
                    for s in &docs {
                        println!(
                            "{:<20} {:>3} windows {:>3} panes{}",
                            s.name,
                            s.windows,
                            s.panes,
                            s.project.as_ref().map_or(String::new(), |p| format!("  (project {p})"))
                        );
                    }
                }
                Ok(Exit::Ok)
            }
            SessionCmd::Kill { name } => {
                let panes = server.panes().await?;
                if !panes.iter().any(|p| p.session == name) {
                    let names: Vec<String> = sessions(&panes).into_iter().map(|s| s.name).collect();
                    return Err(Error::NotFound {
                        message: format!("no session `{name}`"),
                        hint: crate::suggest::hint(&name, names.iter().map(String::as_str))
                            .or(Some(format!("sessions: {}", names.join(", ")))),
                    });
                }
                server
                    .tmux
                    .run(&[Cmd::new("kill-session").opt("-t", format!("={name}"))])
                    .await
                    .map_err(|e| e.into_error("killing the session"))?;
                if ctx.json() {
                    ctx.print_json(&serde_json::json!({ "ok": true, "session": name }));
                } else {
                    ctx.say(format!("killed session {name}"));
                }
                Ok(Exit::Ok)
            }
            SessionCmd::Metrics { name, interval } => {
                super::metrics::session(ctx, &server, &name, super::pane::interval_of(&interval)?).await
            }
            SessionCmd::Health { name } => {
                let panes: Vec<LivePane> = server.panes().await?.into_iter().filter(|p| p.session == name).collect();
                if panes.is_empty() {
                    return Err(Error::NotFound { message: format!("no session `{name}`"), hint: None });
                }
                let mut reasons = Vec::new();
                let mut bad = 0;
                for p in &panes {
                    let label = if p.address.is_empty() { p.pane_id.clone() } else { p.address.clone() };
                    if p.dead {
                        match p.exit_status {
                            Some(0) => {}
                            Some(s) => {
                                bad += 1;
                                reasons.push(format!("{label} exited with status {s}"));
                            }
                            None => {
                                bad += 1;
                                reasons.push(format!("{label} was killed by signal {}", p.exit_signal.unwrap_or(0)));
                            }
                        }
                    }
                }
                // What the daemon knows: failing checks, and restarts.
                for p in panes.iter().filter(|p| !p.dead) {
                    let label = if p.address.is_empty() { p.pane_id.clone() } else { p.address.clone() };
                    if p.health == "unhealthy" {
                        bad += 1;
                        reasons.push(format!("{label} is failing its health check"));
                    } else if p.restarts > 0 {
                        reasons.push(format!("{label} has restarted {} time(s)", p.restarts));
                    }
                }
                let health = if bad == 0 && reasons.is_empty() {
                    "healthy"
                } else if bad < panes.len() {
                    "degraded"
                } else {
                    "unhealthy"
                };
                if ctx.json() {
                    ctx.print_json(&HealthDoc { session: name, health, reasons });
                } else {
                    println!("{health}");
                    for r in &reasons {
                        println!("  {r}");
                    }
                }
                Ok(if health == "healthy" { Exit::Ok } else { Exit::Failed })
            }
        }
    })
}
