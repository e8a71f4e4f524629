//! `ctmux group …`: named sets of sessions or panes. Runtime groups live in the state store
//! (`groups` table; a `groups.json` from older versions is imported once); the manifest's
//! `groups:` are listed alongside and cannot be changed from here.

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

fn load() -> Result<Groups> {
    let store = crate::store::Store::open()?;
    let groups = store.groups()?;
    // Groups made before the store existed: import them once.
    let legacy = crate::state::dir().join("groups.json");
    if groups.is_empty()
        && let Ok(text) = std::fs::read_to_string(&legacy)
        && let Ok(old) = serde_json::from_str::<Groups>(&text)
    {
        save(&old)?;
        let _ = std::fs::rename(&legacy, legacy.with_extension("json.imported"));
        return Ok(old);
    }
    Ok(groups)
}

fn save(groups: &Groups) -> Result<()> {
    crate::store::Store::open()?.replace_groups(groups)?;
    Ok(())
}

fn not_found(name: &str, groups: &Groups) -> Error {
    Error::NotFound {
        message: format!("no group `{name}`"),
        hint: crate::suggest::hint(name, groups.keys().map(String::as_str))
            .or(Some("`ctmux group new NAME` creates one".into())),
    }
}

/// Panes of the members: a member is a session name, a ctmux address or a tmux pane target.
async fn member_panes(ctx: &Ctx, server: &Server, members: &[String]) -> Result<Vec<LivePane>> {
    let panes = server.panes().await?;
    let mut out: Vec<LivePane> = Vec::new();
    for m in members {
        let found: Vec<LivePane> = if panes.iter().any(|p| &p.session == m) {
            panes.iter().filter(|p| &p.session == m).cloned().collect()
        } else {
            match server.pane(ctx, m).await {
                Ok(p) => vec![p],
                Err(Error::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e),
            }
        };
        for p in found {
            if !out.iter().any(|o| o.pane_id == p.pane_id) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Runs a `group` verb.
pub fn run(ctx: &Ctx, cmd: GroupCmd) -> Result {
    let server = Server::open(ctx)?;
    let mut groups = load()?;
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
            groups.insert(name.clone(), Vec::new());
            save(&groups)?;
            say(format!("created group {name}"), serde_json::json!({ "ok": true, "group": name }));
        }
        GroupCmd::Add { name, members } => {
            if !groups.contains_key(&name) {
                return Err(not_found(&name, &groups));
            }
            let g = groups.entry(name.clone()).or_default();
            for m in members {
                if !g.contains(&m) {
                    g.push(m);
                }
            }
            save(&groups)?;
            say(
                format!("group {name}: {}", groups[&name].join(", ")),
                serde_json::json!({ "ok": true, "group": name, "members": groups[&name] }),
            );
        }
        GroupCmd::Rm { name, members } => {
            if !groups.contains_key(&name) {
                return Err(not_found(&name, &groups));
            }
            let g = groups.entry(name.clone()).or_default();
            g.retain(|m| !members.contains(m));
            save(&groups)?;
            say(
                format!("group {name}: {}", groups[&name].join(", ")),
                serde_json::json!({ "ok": true, "group": name, "members": groups[&name] }),
            );
        }
        GroupCmd::Ls => {
            let mut docs: Vec<GroupDoc> = manifest
                .iter()
                .map(|(n, m)| GroupDoc { name: n.clone(), members: m.clone(), source: "manifest" })
                .collect();
            docs.extend(groups.iter().map(|(n, m)| GroupDoc { name: n.clone(), members: m.clone(), source: "state" }));
            if ctx.json() {
                ctx.print_json(&GroupsDoc { groups: docs });
            } else {
                for d in &docs {
                    println!("{:<16} {:<9} {}", d.name, d.source, d.members.join(", "));
                }
            }
        }
        GroupCmd::Exec { name, command } => {
            let members =
                groups.get(&name).or_else(|| manifest.get(&name)).cloned().ok_or_else(|| not_found(&name, &groups))?;
            let rt = runtime()?;
            let panes = rt.block_on(member_panes(ctx, &server, &members))?;
            let line = format!(" {}", command.join(" "));
            let mut cmds = Vec::new();
            for p in panes.iter().filter(|p| !p.dead) {
                cmds.push(Cmd::new("send-keys").args(["-t", &p.pane_id, "-l", &line]));
                cmds.push(Cmd::new("send-keys").args(["-t", &p.pane_id, "Enter"]).sticky());
            }
            rt.block_on(server.tmux.run(&cmds)).map_err(|e| e.into_error("typing the command"))?;
            let ids: Vec<&str> = panes.iter().filter(|p| !p.dead).map(|p| p.pane_id.as_str()).collect();
            say(
                format!("sent to {} pane(s): {}", ids.len(), ids.join(" ")),
                serde_json::json!({ "ok": true, "group": name, "panes": ids }),
            );
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
                save(&groups)?;
            }
            say(format!("killed group {name}"), serde_json::json!({ "ok": true, "group": name }));
        }
    }
    Ok(Exit::Ok)
}
