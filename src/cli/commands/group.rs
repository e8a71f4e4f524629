//! `ctmux group …`: named sets of sessions or panes. Runtime groups live in the state store, each
//! on the tmux server it was made on (`groups` table keyed by the server's socket; a `groups.json`
//! from older versions is imported once); the manifest's `groups:` are listed alongside and
//! cannot be changed from here. Members must exist when added, and `exec` says which it skipped.

use std::collections::BTreeMap;

use serde::Serialize;

use super::stack::runtime;
use super::target::Server;
use crate::cli::args::GroupCmd;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::{Cmd, LivePane};

#[derive(Serialize)]
struct GroupDoc {
    name: String,
    members: Vec<String>,
    source: &'static str,
}

#[derive(Serialize)]
struct GroupsDoc {
    groups: Vec<GroupDoc>,
}

type Groups = BTreeMap<String, Vec<String>>;

/// The runtime groups of this tmux server.
fn load(key: &str) -> Result<Groups> {
    let store = crate::store::Store::open()?;
    let groups = store.groups(key)?;
    // Groups made before the store existed: import them once, into the server in use.
    let legacy = crate::state::dir().join("groups.json");
    if groups.is_empty()
        && let Ok(text) = std::fs::read_to_string(&legacy)
        && let Ok(old) = serde_json::from_str::<Groups>(&text)
    {
        for (name, members) in &old {
            store.set_group(key, name, Some(members))?;
        }
        let _ = std::fs::rename(&legacy, legacy.with_extension("json.imported"));
        return Ok(old);
    }
    Ok(groups)
}

/// Stores (or, with `None`, forgets) one group of this tmux server.
fn save(key: &str, name: &str, members: Option<&[String]>) -> Result<()> {
    crate::store::Store::open()?.set_group(key, name, members)?;
    Ok(())
}

fn not_found(name: &str, groups: &Groups) -> Error {
    Error::NotFound {
        message: format!("no group `{name}`"),
        hint: crate::suggest::hint(name, groups.keys().map(String::as_str))
            .or(Some("`ctmux group new NAME` creates one".into())),
    }
}

/// Panes of one member: a session name, a ctmux address or any tmux pane target.
async fn panes_of(ctx: &Ctx, server: &Server, panes: &[LivePane], member: &str) -> Result<Vec<LivePane>> {
    if panes.iter().any(|p| p.session == member) {
        return Ok(panes.iter().filter(|p| p.session == member).cloned().collect());
    }
    match server.pane(ctx, member).await {
        Ok(p) => Ok(vec![p]),
        Err(Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[derive(Serialize)]
struct Skipped {
    target: String,
    reason: String,
}

/// Runs a `group` verb.
pub fn run(ctx: &Ctx, cmd: GroupCmd) -> Result {
    let server = Server::open(ctx)?;
    let key = server.tmux.socket.key();
    let mut groups = load(&key)?;
    let manifest: Groups =
        server.project(ctx).map(|p| p.groups.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let say = |text: String, doc: serde_json::Value| {
        if ctx.json() {
            ctx.print_json(&doc);
        } else {
            ctx.say(text);
        }
    };
    match cmd {
        GroupCmd::New { name } => {
            if manifest.contains_key(&name) || groups.contains_key(&name) {
                return Err(Error::Usage { message: format!("group `{name}` already exists"), hint: None });
            }
            save(&key, &name, Some(&[]))?;
            say(format!("created group {name}"), serde_json::json!({ "ok": true, "group": name }));
        }
        GroupCmd::Add { name, members } => {
            let Some(mut g) = groups.remove(&name) else {
                return Err(not_found(&name, &groups));
            };
            // Every member must exist now: a typo would otherwise sit in the group silently.
            let rt = runtime()?;
            let panes = rt.block_on(server.panes())?;
            let mut missing = Vec::new();
            for m in &members {
                if rt.block_on(panes_of(ctx, &server, &panes, m))?.is_empty() {
                    missing.push(m.clone());
                }
            }
            if !missing.is_empty() {
                let mut sessions: Vec<&str> = panes.iter().map(|p| p.session.as_str()).collect();
                sessions.dedup();
                return Err(Error::NotFound {
                    message: format!("no session or pane `{}` on {}", missing.join("`, `"), server.tmux.command_line()),
                    hint: crate::suggest::hint(&missing[0], sessions.iter().copied())
                        .or(Some(format!("sessions: {}", sessions.join(", ")))),
                });
            }
            for m in members {
                if !g.contains(&m) {
                    g.push(m);
                }
            }
            save(&key, &name, Some(&g))?;
            say(
                format!("group {name}: {}", g.join(", ")),
                serde_json::json!({ "ok": true, "group": name, "members": g }),
            );
        }
        GroupCmd::Rm { name, members } => {
            let Some(mut g) = groups.remove(&name) else {
                return Err(not_found(&name, &groups));
            };
            g.retain(|m| !members.contains(m));
            save(&key, &name, Some(&g))?;
            say(
                format!("group {name}: {}", g.join(", ")),
                serde_json::json!({ "ok": true, "group": name, "members": g }),
            );
        }
        GroupCmd::Ls { name } => {
            let mut docs: Vec<GroupDoc> = manifest
                .iter()
                .map(|(n, m)| GroupDoc { name: n.clone(), members: m.clone(), source: "manifest" })
                .collect();
            docs.extend(groups.iter().map(|(n, m)| GroupDoc { name: n.clone(), members: m.clone(), source: "state" }));
            if let Some(only) = &name {
                docs.retain(|d| &d.name == only);
                if docs.is_empty() {
                    let mut all = groups.clone();
                    all.extend(manifest.clone());
                    return Err(not_found(only, &all));
                }
            }
            if ctx.json() {
                ctx.print_json(&GroupsDoc { groups: docs });
            } else {
                for d in &docs {
                    println!("{:<16} {:<9} {}", d.name, d.source, d.members.join(", "));
                }
            }
        }
        GroupCmd::Exec { name, force, command } => {
            let members =
                groups.get(&name).or_else(|| manifest.get(&name)).cloned().ok_or_else(|| not_found(&name, &groups))?;
            let text = super::exec_shell::shell_text(&command);
            let rt = runtime()?;
            let panes = rt.block_on(server.panes())?;
            let mut targets: Vec<LivePane> = Vec::new();
            let mut skipped: Vec<Skipped> = Vec::new();
            for m in &members {
                let found = rt.block_on(panes_of(ctx, &server, &panes, m))?;
                if found.is_empty() {
                    skipped.push(Skipped { target: m.clone(), reason: "no such session or pane".into() });
                }
                for p in found {
                    if targets.iter().any(|t| t.pane_id == p.pane_id) {
                        continue;
                    }
                    let label = format!("{m} ({})", p.pane_id);
                    if p.dead {
                        skipped.push(Skipped { target: label, reason: "its process has exited".into() });
                    } else if let (false, Err(e)) = (force, super::exec_shell::idle_shell(&p)) {
                        skipped.push(Skipped { target: label, reason: e.to_string() });
                    } else {
                        targets.push(p);
                    }
                }
            }
            for p in &targets {
                if crate::shell_hook::hooked(crate::process::command_of(p.pid)).is_some() {
                    // A shell ctmux started: just the command, as typed (it lands in history).
                    rt.block_on(super::pane_exec::type_text(&server, &p.pane_id, &text))?;
                } else {
                    let d = super::exec_shell::plain(&text, server.tmux.binary(), &super::pane_exec::buffer_name());
                    rt.block_on(super::pane_exec::deliver(&server, &p.pane_id, &d))?;
                }
            }
            let ids: Vec<&str> = targets.iter().map(|p| p.pane_id.as_str()).collect();
            let all_ran = skipped.is_empty();
            if ctx.json() {
                ctx.print_json(&serde_json::json!({ "ok": all_ran, "group": name, "panes": ids, "skipped": skipped }));
            } else {
                ctx.say(format!("sent to {} pane(s): {}", ids.len(), ids.join(" ")));
                for s in &skipped {
                    eprintln!("skipped {}: {}", s.target, s.reason);
                }
            }
            if !all_ran {
                return Ok(Exit::Failed);
            }
        }
        GroupCmd::Kill { name } => {
            let members =
                groups.get(&name).or_else(|| manifest.get(&name)).cloned().ok_or_else(|| not_found(&name, &groups))?;
            let rt = runtime()?;
            let panes = rt.block_on(server.panes()).unwrap_or_default();
            let mut cmds = Vec::new();
            for m in &members {
                if panes.iter().any(|p| &p.session == m) {
                    cmds.push(Cmd::new("kill-session").opt("-t", format!("={m}")));
                } else if let Ok(p) = rt.block_on(server.pane(ctx, m)) {
                    cmds.push(Cmd::new("kill-pane").opt("-t", p.pane_id));
                }
            }
            rt.block_on(server.tmux.run(&cmds)).map_err(|e| e.into_error("killing the group"))?;
            if groups.remove(&name).is_some() {
                save(&key, &name, None)?;
            }
            say(format!("killed group {name}"), serde_json::json!({ "ok": true, "group": name }));
        }
    }
    Ok(Exit::Ok)
}
