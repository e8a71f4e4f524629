//! `ctmux pane …`: the imperative verbs scripts and agents use on any pane, managed or not.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;

use super::stack::{parse_timeout, runtime};
use super::status::PaneDoc;
use super::target::Server;
use crate::cli::args::{MetaCmd, PaneCmd};
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::command::literal;
use crate::tmux::{Cmd, LivePane};

#[derive(Serialize)]
struct PanesDoc {
    panes: Vec<PaneDoc>,
}

#[derive(Serialize)]
struct PaneOne {
    pane: PaneDoc,
}

#[derive(Serialize)]
struct CaptureDoc<'a> {
    tmux_id: &'a str,
    address: Option<&'a str>,
    output: String,
}

#[derive(Serialize)]
struct CountDoc {
    count: usize,
}

#[derive(Serialize)]
struct HasDoc {
    matched: Option<String>,
}

#[derive(Serialize)]
struct FindDoc {
    panes: Vec<FoundDoc>,
}

#[derive(Serialize)]
struct FoundDoc {
    #[serde(flatten)]
    pane: PaneDoc,
    matches: Vec<String>,
}

#[derive(Serialize)]
struct MetaDoc<'a> {
    tmux_id: &'a str,
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct OkDoc<'a> {
    ok: bool,
    tmux_id: &'a str,
}

/// A name `pane new --name` can give: addressable (`SESSION/NAME`, so no `/ : . %`), and not
/// taken by another pane of the session.
async fn check_name(server: &Server, session: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(Error::Usage {
            message: format!("invalid pane name `{name}`"),
            hint: Some("names use letters, digits, `-` and `_`".into()),
        });
    }
    let taken = server
        .tmux
        .run(&[Cmd::query("list-panes").args(["-s", "-t", &format!("={session}"), "-F", "#{@ctmux-name}"])])
        .await
        .map_err(|e| e.into_error(&format!("listing the panes of `{session}`")))?;
    if taken.lines().any(|n| n == name) {
        return Err(Error::Usage {
            message: format!("session `{session}` already has a pane named `{name}`"),
            hint: Some(format!("address it as `{session}/{name}`; pick another name for a new one")),
        });
    }
    Ok(())
}

/// Runs a `pane` verb.
pub fn run(ctx: &Ctx, cmd: PaneCmd) -> Result {
    let server = Server::open(ctx)?;
    let rt = runtime()?;
    rt.block_on(dispatch(ctx, &server, cmd))
}

fn doc(ctx: &Ctx, server: &Server, lp: &LivePane, meta: BTreeMap<String, String>) -> PaneDoc {
    let manifest = server.project(ctx).filter(|p| p.name == lp.project).and_then(|p| p.pane(&lp.address));
    PaneDoc::from_live(lp, manifest, meta)
}

/// Names `pane new --name` gave (`@ctmux-name`), by pane id; none when tmux has no pane to
/// list (an empty server answers "no current target").
async fn names(server: &Server) -> BTreeMap<String, String> {
    server.named().await.unwrap_or_default().into_iter().map(|(id, _, name)| (id, name)).collect()
}

/// `doc` for a pane that `pane new --name` named: its address is `SESSION/NAME`, by which every
/// verb finds it, and its name is that name (a manifest's pane keeps its own address).
fn named_doc(mut d: PaneDoc, name: Option<&String>) -> PaneDoc {
    if let Some(name) = name.filter(|_| d.address.is_none()) {
        d.address = Some(format!("{}/{name}", d.session));
        d.pane = name.clone();
    }
    d
}

/// Whether tmux refused a split because the window has no room left for another pane.
fn no_space(e: &crate::tmux::TmuxError) -> bool {
    let text = e.to_string();
    text.contains("no space for new pane") || text.contains("pane too small")
}

/// Parses a `--interval` value.
pub fn interval_of(text: &str) -> Result<std::time::Duration> {
    crate::units::parse_duration(text).map_err(|e| Error::Usage { message: format!("--interval: {e}"), hint: None })
}

fn regex(pattern: &str) -> Result<Regex> {
    crate::manifest::reader::bounded_regex(pattern)
        .map_err(|e| Error::Usage { message: format!("invalid regex `{pattern}`: {e}"), hint: None })
}

/// Captured text of a pane, joined wrapped lines, trailing blank lines dropped, and without
/// `pane exec`'s typed wrapper ([`crate::exec_marks`]): tmux has already applied `\r` and
/// backspace to its screen.
pub async fn capture(server: &Server, id: &str, start: Option<String>, ansi: bool) -> Result<String> {
    let mut cmd = Cmd::query("capture-pane").args(["-p", "-J", "-t", id]);
    if ansi {
        cmd = cmd.arg("-e");
    }
    if let Some(s) = start {
        cmd = cmd.opt("-S", s);
    }
    let text = server.tmux.run(&[cmd]).await.map_err(|e| e.into_error("capturing the pane"))?;
    let text = crate::exec_marks::strip_lines(&text);
    let mut rows: Vec<&str> = text.lines().collect();
    crate::terminal::tidy_rows(&mut rows);
    Ok(rows.join("\n"))
}

/// The argv that starts the server's default shell with ctmux's shell-integration hook, as a
/// pane without a command would get it (a login shell); empty (tmux's own default) when the
/// server runs a `default-command` or its shell cannot be hooked.
pub async fn hooked_default_shell(server: &Server) -> Vec<String> {
    let query = [
        Cmd::query("show-options").args(["-gv", "default-command"]),
        Cmd::query("show-options").args(["-gv", "default-shell"]),
    ];
    let (command, shell) = match server.tmux.run(&query).await {
        Ok(out) => {
            let mut lines = out.lines();
            (lines.next().unwrap_or_default().trim().to_string(), lines.next().unwrap_or_default().trim().to_string())
        }
        // No server yet: it will take `$SHELL`, as tmux does.
        Err(_) => (String::new(), std::env::var("SHELL").unwrap_or_default()),
    };
    if !command.is_empty() || shell.is_empty() {
        return Vec::new();
    }
    crate::shell_hook::kind(&shell).and_then(|k| crate::shell_hook::argv(k, &shell, true)).unwrap_or_default()
}

fn ok(ctx: &Ctx, lp: &LivePane, human: &str) -> Result {
    if ctx.json() {
        ctx.print_json(&OkDoc { ok: true, tmux_id: &lp.pane_id });
    } else {
        ctx.say(human);
    }
    Ok(Exit::Ok)
}

async fn scope(ctx: &Ctx, server: &Server, session: Option<&str>, all: bool) -> Result<Vec<LivePane>> {
    let panes = server.panes().await?;
    Ok(match (session, all, server.project(ctx)) {
        (Some(s), _, _) => {
            let v: Vec<LivePane> = panes.into_iter().filter(|p| p.session == s).collect();
            if v.is_empty() {
                return Err(Error::NotFound {
                    message: format!("no session `{s}`"),
                    hint: Some("`ctmux session ls` lists sessions".into()),
                });
            }
            v
        }
        (None, false, Some(project)) => panes.into_iter().filter(|p| p.project == project.name).collect(),
        _ => panes,
    })
}

async fn dispatch(ctx: &Ctx, server: &Server, cmd: PaneCmd) -> Result {
    match cmd {
        PaneCmd::New { session, name, cwd, command } => {
            if session.trim().is_empty() {
                return Err(super::target::empty_target());
            }
            if let Some(n) = &name {
                check_name(server, &session, n).await?;
            }
            let cwd = cwd.map(|cwd| literal(&std::path::absolute(&cwd).unwrap_or(cwd).to_string_lossy()));
            let command = if command.is_empty() { hooked_default_shell(server).await } else { command };
            // `verb` is `split-window` into the session's current window, or `new-window` when
            // that window has no room left (as tmuxp does).
            let create = |verb: &str| {
                let mut c = Cmd::new(verb).args(["-t", &format!("={session}:"), "-P", "-F", "#{pane_id}"]);
                if let Some(cwd) = &cwd {
                    c = c.opt("-c", cwd.clone());
                }
                let c = c.args(command.clone());
                // The layout `session new --layout` chose, else tiled.
                let layout = Cmd::query("show-options").args(["-qv", "-t", &format!("={session}:"), "@ctmux-layout"]);
                [c, layout]
            };
            let out = match server.tmux.run(&create("split-window")).await {
                Err(e) if no_space(&e) => server.tmux.run(&create("new-window")).await,
                other => other,
            }
            .map_err(|e| e.into_error(&format!("creating a pane in `{session}`")))?;
            let mut lines = out.lines();
            let id = lines.next().unwrap_or_default().trim().to_string();
            let layout = lines.next().map(str::trim).filter(|l| !l.is_empty()).unwrap_or("tiled").to_string();
            let keep = Cmd::new("set-option").args(["-w", "-t", &id, "remain-on-exit", "on"]);
            let arrange = Cmd::new("select-layout").args(["-t", &id, &layout]);
            if server.tmux.run(&[keep, arrange]).await.is_err() {
                // A layout string for more panes than there are yet.
                let tiled = Cmd::new("select-layout").args(["-t", &id, "tiled"]);
                server.tmux.run(&[tiled]).await.map_err(|e| e.into_error("arranging the panes"))?;
            }
            let mut cmds = Vec::new();
            if let Some(n) = &name {
                cmds.push(Cmd::new("set-option").args(["-p", "-t", &id, "@ctmux-name", n]));
                cmds.push(Cmd::new("select-pane").args(["-t", &id, "-T", &literal(n)]));
            }
            server.tmux.run(&cmds).await.map_err(|e| e.into_error("configuring the pane"))?;
            let lp = server.pane(ctx, &id).await?;
            if ctx.json() {
                ctx.print_json(&PaneOne { pane: named_doc(doc(ctx, server, &lp, BTreeMap::new()), name.as_ref()) });
            } else {
                ctx.say(&id);
            }
            Ok(Exit::Ok)
        }
        PaneCmd::Kill { target } => {
            let lp = server.pane(ctx, &target).await?;
            server
                .tmux
                .run(&[Cmd::new("kill-pane").opt("-t", lp.pane_id.clone())])
                .await
                .map_err(|e| e.into_error("killing the pane"))?;
            ok(ctx, &lp, &format!("killed {}", lp.pane_id))
        }
        PaneCmd::Exec { target, wait, timeout, kill_on_timeout, force, command } => {
            // Every word after `--` is the command's, even one that looks like our flag.
            let timeout = parse_timeout(timeout.as_deref())?;
            let lp = server.pane(ctx, &target).await?;
            let args = super::pane_exec::ExecArgs { command, wait, timeout, kill_on_timeout, force };
            super::pane_exec::run(ctx, server, &lp, args).await
        }
        PaneCmd::Capture { target, lines, all, ansi } => {
            let lp = server.pane(ctx, &target).await?;
            let start = if all { Some("-".to_string()) } else { lines.map(|_| "-".to_string()) };
            let mut text = capture(server, &lp.pane_id, start, ansi).await?;
            if let Some(n) = lines {
                let v: Vec<&str> = text.lines().collect();
                text = v[v.len().saturating_sub(n)..].join("\n");
            }
            if ctx.json() {
                let address = (!lp.address.is_empty()).then_some(lp.address.as_str());
                ctx.print_json(&CaptureDoc { tmux_id: &lp.pane_id, address, output: text });
            } else {
                println!("{text}");
            }
            Ok(Exit::Ok)
        }
        PaneCmd::Status { target } => {
            let lp = server.pane(ctx, &target).await?;
            let meta =
                server.metadata(std::slice::from_ref(&lp.pane_id)).await?.remove(&lp.pane_id).unwrap_or_default();
            let mut d = named_doc(doc(ctx, server, &lp, meta), names(server).await.get(&lp.pane_id));
            // Measured on the spot, as `status` does for a pane without a recent sample.
            if d.state == "running"
                && let Some(u) =
                    super::metrics::measure(std::slice::from_ref(&lp), std::time::Duration::from_millis(250))
                        .await
                        .pop()
                        .and_then(|m| m.usage)
            {
                d.cpu_percent = Some(u.cpu_percent);
                d.memory_bytes = Some(u.memory_bytes);
            }
            if ctx.json() {
                ctx.print_json(&PaneOne { pane: d });
            } else {
                println!(
                    "{} {} {} pid={} exit={} cwd={} command={}",
                    d.tmux_id.as_deref().unwrap_or("-"),
                    d.address.as_deref().unwrap_or("-"),
                    d.state,
                    d.pid.map_or("-".into(), |p| p.to_string()),
                    d.exit_status.map_or("-".into(), |s| s.to_string()),
                    d.cwd,
                    d.command.as_deref().unwrap_or("-")
                );
            }
            Ok(Exit::Ok)
        }
        PaneCmd::Ls { session, detailed, all_sessions } => {
            let panes = scope(ctx, server, session.as_deref(), all_sessions).await?;
            let meta = if detailed {
                server.metadata(&panes.iter().map(|p| p.pane_id.clone()).collect::<Vec<_>>()).await?
            } else {
                BTreeMap::new()
            };
            let names = names(server).await;
            let docs: Vec<PaneDoc> = panes
                .iter()
                .map(|p| {
                    named_doc(
                        doc(ctx, server, p, meta.get(&p.pane_id).cloned().unwrap_or_default()),
                        names.get(&p.pane_id),
                    )
                })
                .collect();
            if ctx.json() {
                ctx.print_json(&PanesDoc { panes: docs });
            } else {
                for d in &docs {
                    let meta = if detailed && !d.metadata.is_empty() {
                        format!(
                            "  {}",
                            d.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
                        )
                    } else {
                        String::new()
                    };
                    println!(
                        "{:<6} {:<24} {:<20} {:<8} {:>8}  {}{meta}",
                        d.tmux_id.as_deref().unwrap_or("-"),
                        d.address.as_deref().unwrap_or("-"),
                        format!("{}:{}", d.session, d.window),
                        d.state,
                        d.pid.map_or("-".into(), |p| p.to_string()),
                        d.command.as_deref().unwrap_or("-").lines().next().unwrap_or_default()
                    );
                }
            }
            Ok(Exit::Ok)
        }
        PaneCmd::Count { session, all_sessions } => {
            let count = scope(ctx, server, session.as_deref(), all_sessions).await?.len();
            if ctx.json() {
                ctx.print_json(&CountDoc { count });
            } else {
                println!("{count}");
            }
            Ok(Exit::Ok)
        }
        PaneCmd::Has { target, pattern } => {
            let re = regex(&pattern)?;
            let lp = server.pane(ctx, &target).await?;
            let text = capture(server, &lp.pane_id, Some("-".into()), false).await?;
            let matched = text.lines().find(|l| re.is_match(l)).map(str::to_string);
            let found = matched.is_some();
            if ctx.json() {
                ctx.print_json(&HasDoc { matched });
            } else if let Some(m) = &matched {
                ctx.say(m);
            }
            Ok(if found { Exit::Ok } else { Exit::Failed })
        }
        PaneCmd::Find { pattern, all_sessions } => {
            let re = regex(&pattern)?;
            let panes = scope(ctx, server, None, all_sessions).await?;
            let mut found = Vec::new();
            for p in &panes {
                let text = capture(server, &p.pane_id, Some("-".into()), false).await?;
                let matches: Vec<String> = text.lines().filter(|l| re.is_match(l)).map(str::to_string).collect();
                if !matches.is_empty() {
                    found.push(FoundDoc { pane: doc(ctx, server, p, BTreeMap::new()), matches });
                }
            }
            if ctx.json() {
                ctx.print_json(&FindDoc { panes: found });
            } else {
                for f in &found {
                    println!(
                        "{} {}: {}",
                        f.pane.tmux_id.as_deref().unwrap_or("-"),
                        f.pane.address.as_deref().unwrap_or("-"),
                        f.matches.last().map_or("", |s| s)
                    );
                }
            }
            Ok(Exit::Ok)
        }
        PaneCmd::Wait { target, exit, pattern, timeout, since_start } => {
            let timeout = parse_timeout(timeout.as_deref())?;
            let lp = server.pane(ctx, &target).await?;
            let pattern = match pattern.as_deref() {
                Some(p) => Some(regex(p)?),
                None if exit => None,
                None => {
                    return Err(Error::Usage { message: "pane wait needs --exit or --match RE".into(), hint: None });
                }
            };
            super::pane_wait::run(ctx, server, &lp, pattern, timeout, since_start).await
        }
        PaneCmd::Stream { target, grep, timeout } => {
            let grep = grep.as_deref().map(regex).transpose()?;
            let timeout = parse_timeout(timeout.as_deref())?;
            let lp = server.pane(ctx, &target).await?;
            super::pane_stream::run(ctx, server, &lp, 0, true, grep, timeout).await
        }
        PaneCmd::Tail { target, lines, follow, grep, timeout, .. } => {
            let grep = grep.as_deref().map(regex).transpose()?;
            let timeout = parse_timeout(timeout.as_deref())?;
            let lp = server.pane(ctx, &target).await?;
            super::pane_stream::run(ctx, server, &lp, lines, follow, grep, timeout).await
        }
        PaneCmd::Interact { target } => {
            let lp = server.pane(ctx, &target).await?;
            super::attach::attach_to(&server.tmux, &lp).await
        }
        PaneCmd::SendKeys { target, keys, literal } => {
            let lp = server.pane(ctx, &target).await?;
            let mut c = Cmd::new("send-keys").opt("-t", lp.pane_id.clone());
            if literal {
                c = c.arg("-l");
            }
            // `--` ends tmux's options (tmux 3.3a's args_parse stops at it): a key such as `-t`,
            // `-N` or `-X` is then a key (or typed text), never a flag that picks another pane.
            server.tmux.run(&[c.arg("--").args(keys)]).await.map_err(|e| e.into_error("sending keys"))?;
            ok(ctx, &lp, &format!("sent to {}", lp.pane_id))
        }
        PaneCmd::Metrics { target, interval } => {
            let lp = server.pane(ctx, &target).await?;
            super::metrics::pane(ctx, &lp, interval_of(&interval)?).await
        }
        PaneCmd::Limit { target, memory, cpu, action, clear } => {
            let lp = server.pane(ctx, &target).await?;
            super::metrics::limit(ctx, server, &lp, memory.as_deref(), cpu.as_deref(), action.as_deref(), clear).await
        }
        PaneCmd::Signal { target, signal } => {
            let lp = server.pane(ctx, &target).await?;
            let Some(name) = crate::manifest::model::normalize_signal(&signal) else {
                return Err(Error::Usage {
                    message: format!("unknown signal `{signal}`"),
                    hint: Some(format!("signals: {}", crate::manifest::model::SIGNALS.join(", "))),
                });
            };
            if lp.dead {
                return Err(Error::failed(format!("{} has exited; there is nothing to signal", lp.pane_id), None));
            }
            let group = crate::process::foreground_group(lp.pid).unwrap_or(lp.pid);
            crate::process::signal_group(group, &name);
            ok(ctx, &lp, &format!("sent {name} to process group {group} of {}", lp.pane_id))
        }
        PaneCmd::Meta { cmd } => meta(ctx, server, cmd).await,
    }
}

async fn meta(ctx: &Ctx, server: &Server, cmd: MetaCmd) -> Result {
    let valid = |k: &str| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    match cmd {
        MetaCmd::Set { target, key, value } => {
            if !valid(&key) {
                return Err(Error::Usage {
                    message: format!("invalid metadata key `{key}`"),
                    hint: Some("keys use letters, digits, `-` and `_`".into()),
                });
            }
            let lp = server.pane(ctx, &target).await?;
            let c = Cmd::new("set-option").args(["-p", "-t", &lp.pane_id, &format!("@ctmux-meta-{key}"), &value]);
            server.tmux.run(&[c]).await.map_err(|e| e.into_error("setting metadata"))?;
            ok(ctx, &lp, &format!("{key}={value}"))
        }
        MetaCmd::Rm { target, key } => {
            let lp = server.pane(ctx, &target).await?;
            let c = Cmd::new("set-option").args(["-p", "-u", "-t", &lp.pane_id, &format!("@ctmux-meta-{key}")]);
            server.tmux.run(&[c]).await.map_err(|e| e.into_error("removing metadata"))?;
            ok(ctx, &lp, &format!("removed {key}"))
        }
        MetaCmd::Get { target, key } => {
            let lp = server.pane(ctx, &target).await?;
            let mut all =
                server.metadata(std::slice::from_ref(&lp.pane_id)).await?.remove(&lp.pane_id).unwrap_or_default();
            if let Some(k) = &key {
                let Some(v) = all.remove(k) else {
                    return Err(Error::NotFound {
                        message: format!("{} has no metadata `{k}`", lp.pane_id),
                        hint: None,
                    });
                };
                all = BTreeMap::from([(k.clone(), v)]);
            }
            if ctx.json() {
                ctx.print_json(&MetaDoc { tmux_id: &lp.pane_id, metadata: all });
            } else {
                for (k, v) in &all {
                    println!("{}", if key.is_some() { v.clone() } else { format!("{k}={v}") });
                }
            }
            Ok(Exit::Ok)
        }
    }
}
