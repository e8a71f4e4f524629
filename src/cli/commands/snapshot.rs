//! `ctmux snapshot` (live tmux → manifest) and `ctmux restore` (manifest → tmux, headless).

use serde::Serialize;

use super::stack::runtime;
use super::target;
use crate::cli::args::{RestoreArgs, SnapshotArgs};
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::snapshot::{self, Selection};

#[derive(Serialize)]
struct SnapshotDoc<'a> {
    schema_version: u32,
    file: Option<String>,
    /// Its id in the store, with `--save`.
    id: Option<String>,
    sessions: usize,
    panes: usize,
    notes: &'a [String],
    /// The manifest text when no `-o` was given.
    manifest: Option<&'a str>,
}

/// Captures the server and writes the manifest (or runs a store verb).
pub fn run(ctx: &Ctx, args: &SnapshotArgs) -> Result {
    if let Some(cmd) = &args.cmd {
        return super::snapshot_store::run(ctx, cmd);
    }
    let server = target::Server::open(ctx)?;
    let rt = runtime()?;
    let captured =
        rt.block_on(snapshot::capture::capture(&server.tmux)).map_err(|e| server.error(e, "reading tmux"))?;
    let selection = if args.all_sessions {
        Selection::All
    } else if !args.targets.is_empty() {
        Selection::Sessions(args.targets.clone())
    } else {
        match server.project(ctx) {
            Some(p) => Selection::Project(p.name.clone()),
            None => Selection::All,
        }
    };
    if let Selection::Sessions(names) = &selection {
        let missing: Vec<&String> = names.iter().filter(|n| !captured.sessions.iter().any(|s| &s.name == *n)).collect();
        if !missing.is_empty() {
            let known: Vec<&str> = captured.sessions.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::NotFound {
                message: format!("no session {} on this server", quoted(&missing)),
                hint: Some(format!("sessions here: {}", known.join(", "))),
            });
        }
    }
    let sessions = snapshot::select(&captured, &selection);
    if sessions.is_empty() {
        return Err(Error::NotFound {
            message: match &selection {
                Selection::Project(p) => format!("no session of project `{p}` runs on this server"),
                _ => "no session to snapshot on this server".into(),
            },
            hint: Some("name sessions to snapshot, or pass --all-sessions".into()),
        });
    }
    let fallback = fallback_name(&captured, &selection);
    let snap = snapshot::build(&captured, &sessions, &fallback);
    let taken = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let toml = args.output.as_ref().is_some_and(|f| f.extension().is_some_and(|e| e == "toml"));
    let text = snap.render(&taken, toml).map_err(|e| Error::failed(e, None))?;
    let saved = if args.save {
        Some(
            snapshot::store::save(&name_of(&snap), &text)
                .map_err(|e| Error::failed(format!("cannot store the snapshot: {e}"), None))?,
        )
    } else {
        None
    };
    if let Some(file) = &args.output {
        // Beside its file, paths beneath the file's directory are relative (a checked-in file).
        let dir = match file.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => p.to_path_buf(),
            None => std::path::PathBuf::from("."),
        };
        let text = snap.relative_to(&dir).render(&taken, toml).map_err(|e| Error::failed(e, None))?;
        snapshot::store::write_atomically(file, text.as_bytes())
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", file.display()), None))?;
    }
    if ctx.json() {
        ctx.print_json(&SnapshotDoc {
            schema_version: 1,
            file: args.output.as_ref().map(|f| f.display().to_string()),
            id: saved.as_ref().map(|e| e.id.clone()),
            sessions: snap.sessions,
            panes: snap.panes,
            notes: &snap.notes,
            manifest: (args.output.is_none() && saved.is_none()).then_some(text.as_str()),
        });
    } else if args.output.is_some() || saved.is_some() {
        if let Some(e) = saved.as_ref().filter(|_| !ctx.global.quiet) {
            eprintln!("saved snapshot {} of {} ({})", e.id, e.project, e.path.display());
        }
        if let Some(file) = args.output.as_ref().filter(|_| !ctx.global.quiet) {
            eprintln!("wrote {} ({} session(s), {} pane(s))", file.display(), snap.sessions, snap.panes);
            for note in &snap.notes {
                eprintln!("note: {note}");
            }
        }
    } else {
        crate::cli::output::write_stdout(text.as_bytes())
            .map_err(|e| Error::failed(format!("cannot print the snapshot: {e}"), None))?;
    }
    Ok(Exit::Ok)
}

/// The project name of a snapshot that holds no managed pane: its own, never the name of the
/// manifest in the current directory (restoring it, then `down -f` of it, would treat that
/// project's panes as its own) nor of any project on the server. Named after the sessions it
/// holds (`snapshot scratch` is project `scratch`), `snapshot` for `--all-sessions`.
fn fallback_name(captured: &snapshot::capture::Captured, selection: &Selection) -> String {
    let base = match selection {
        Selection::Project(p) => return p.clone(),
        Selection::Sessions(names) => crate::manifest::lower::sanitize_name(&names.join("-")),
        Selection::All => "snapshot".to_string(),
    };
    let taken = |name: &str| {
        captured.sessions.iter().flat_map(|s| &s.windows).flat_map(|w| &w.panes).any(|p| p.project == name)
    };
    if !taken(&base) {
        return base;
    }
    (1..)
        .map(|i| if i == 1 { format!("{base}-snapshot") } else { format!("{base}-snapshot-{i}") })
        .find(|n| !taken(n))
        .unwrap_or(base)
}

/// The project name a snapshot document carries.
fn name_of(snap: &snapshot::Snapshot) -> String {
    snap.document["name"].as_str().unwrap_or("snapshot").to_string()
}

fn quoted(names: &[&String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[derive(Serialize)]
struct RestorePlan<'a> {
    schema_version: u32,
    project: &'a str,
    file: String,
    /// Sessions that would be created: name, windows, panes.
    create: Vec<SessionSummary>,
    /// Sessions that exist and are left alone (without `--replace`).
    skip: Vec<String>,
    /// Sessions that exist and would be killed first (`--replace`).
    replace: Vec<String>,
    /// Sessions of this snapshot's project that exist (a restore that was stopped part way, or
    /// an earlier restore): brought to the snapshot as `up` would, finishing what is missing.
    complete: Vec<String>,
}

#[derive(Serialize)]
struct SessionSummary {
    session: String,
    windows: usize,
    panes: usize,
}

/// `restore FILE`: `up -f FILE` for the sessions of FILE that do not exist on the server (the
/// others are left alone, or killed first with `--replace`); `--plan` only says what it would do.
/// Headless: tmux needs no attached client for any of it.
pub fn restore(ctx: &Ctx, args: &RestoreArgs) -> Result {
    let file = match (&args.file, args.latest) {
        (Some(f), _) => f.clone(),
        (None, _) => latest(ctx)?,
    };
    let mut ctx = ctx.clone();
    ctx.global.file = vec![file.clone()];
    let stack = super::stack::Stack::open(&ctx)?;
    let rt = runtime()?;
    let live = rt.block_on(stack.tmux.live()).map_err(|e| e.into_error("reading tmux state"))?;
    let project = stack.project();
    let exists = |name: &str| live.panes.iter().any(|p| p.session == name);
    // A session holding this project's panes is the snapshot's own (a restore stopped part way
    // leaves it half built): it is completed as `up` would, not skipped as someone else's.
    let ours = |name: &str| live.panes.iter().any(|p| p.session == name && p.project == project.name);
    let (existing, missing): (Vec<&String>, Vec<&String>) = project.sessions.keys().partition(|s| exists(s));
    let (complete, existing): (Vec<&String>, Vec<&String>) =
        existing.into_iter().partition(|s| !args.replace && ours(s));
    let to_create: Vec<&String> = if args.replace { project.sessions.keys().collect() } else { missing.clone() };
    // A session to create may wait on a pane of a session left alone: that pane must be this
    // project's, live, or `up` would build it into the session it promised not to touch.
    if !args.replace {
        let addresses: Vec<String> = project
            .panes()
            .filter(|p| to_create.contains(&&p.session) || complete.contains(&&p.session))
            .map(|p| p.address())
            .collect();
        for dep in stack.graph.with_dependencies(&addresses) {
            let session = dep.split_once('/').map_or(dep.as_str(), |(s, _)| s);
            let live_ours = live.panes.iter().any(|p| p.address == dep && p.project == project.name);
            if existing.iter().any(|e| e.as_str() == session) && !live_ours {
                return Err(Error::Usage {
                    message: format!(
                        "a session to restore depends on {dep}, but session `{session}` exists and is not this snapshot's"
                    ),
                    hint: Some("restore with --replace, or bring that session back first".into()),
                });
            }
        }
    }
    let summary = |name: &String| {
        let s = &project.sessions[name];
        SessionSummary {
            session: name.clone(),
            windows: s.windows.len(),
            panes: s.windows.values().map(|w| w.panes.len()).sum(),
        }
    };
    let doc = RestorePlan {
        schema_version: 1,
        project: &project.name,
        file: file.display().to_string(),
        create: to_create.iter().map(|n| summary(n)).collect(),
        skip: if args.replace { Vec::new() } else { existing.iter().map(|s| s.to_string()).collect() },
        replace: if args.replace { existing.iter().map(|s| s.to_string()).collect() } else { Vec::new() },
        complete: complete.iter().map(|s| s.to_string()).collect(),
    };
    if args.plan {
        if ctx.json() {
            ctx.print_json(&doc);
        } else {
            print!("{}", render_restore_plan(&doc));
        }
        return Ok(Exit::Ok);
    }
    if !ctx.json() && !ctx.global.quiet {
        for s in &doc.skip {
            eprintln!("= skip     {s} (exists; --replace replaces it)");
        }
    }
    if to_create.is_empty() && complete.is_empty() {
        if ctx.json() {
            ctx.print_json(&doc);
        } else {
            ctx.say(format!("nothing to restore: every session of {} exists already", file.display()));
        }
        return Ok(Exit::Ok);
    }
    if args.replace && !existing.is_empty() {
        let kills: Vec<crate::tmux::Cmd> =
            existing.iter().map(|s| crate::tmux::Cmd::new("kill-session").args(["-t", &format!("={s}")])).collect();
        rt.block_on(stack.tmux.run(&kills)).map_err(|e| e.into_error("replacing sessions"))?;
        if !ctx.json() && !ctx.global.quiet {
            for s in &existing {
                eprintln!("- replace  {s}");
            }
        }
    }
    drop(rt);
    let targets = if to_create.len() + complete.len() == project.sessions.len() {
        Vec::new()
    } else {
        to_create.iter().chain(&complete).map(|s| s.to_string()).collect()
    };
    let mut up = crate::cli::args::UpArgs::start(targets);
    up.no_daemon = args.no_daemon;
    super::up::run_up(&ctx, &up)
}

/// The newest stored snapshot: of the manifest's project here if it has any, else of any.
fn latest(ctx: &Ctx) -> Result<std::path::PathBuf> {
    let here = super::compose_options(ctx)
        .ok()
        .and_then(|o| crate::manifest::load_with(&o, &std::env::vars().collect()).ok())
        .map(|l| l.project.name);
    let mine = here.as_deref().map(|p| snapshot::store::list(Some(p))).unwrap_or_default();
    let all = if mine.is_empty() { snapshot::store::list(None) } else { mine };
    all.iter().max_by(|a, b| a.id.cmp(&b.id)).map(|e| e.path.clone()).ok_or_else(|| Error::NotFound {
        message: format!("no stored snapshot in {}", snapshot::store::root().display()),
        hint: Some("`ctmux snapshot --save` stores one; the daemon does with `snapshots:` in the manifest".into()),
    })
}

fn render_restore_plan(doc: &RestorePlan<'_>) -> String {
    let mut out = String::new();
    for s in &doc.replace {
        out.push_str(&format!("- replace  {s} (exists; killed first)\n"));
    }
    for s in &doc.create {
        out.push_str(&format!("+ create   {} ({} window(s), {} pane(s))\n", s.session, s.windows, s.panes));
    }
    for s in &doc.complete {
        out.push_str(&format!("~ complete {s} (this snapshot's; brought to it as `up` would)\n"));
    }
    for s in &doc.skip {
        out.push_str(&format!("= skip     {s} (exists; --replace replaces it)\n"));
    }
    if doc.create.is_empty() && doc.complete.is_empty() {
        out.push_str("nothing to restore\n");
    }
    out
}
