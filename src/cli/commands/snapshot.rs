//! `ctmux snapshot` (live tmux → manifest) and `ctmux restore` (manifest → tmux, headless).

use std::io::Write as _;
use std::path::Path;

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
    sessions: usize,
    panes: usize,
    notes: &'a [String],
    /// The manifest text when no `-o` was given.
    manifest: Option<&'a str>,
}

/// Captures the server and writes the manifest.
pub fn run(ctx: &Ctx, args: &SnapshotArgs) -> Result {
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
    let fallback = server.project(ctx).map_or_else(|| "snapshot".to_string(), |p| p.name.clone());
    let snap = snapshot::build(&captured, &sessions, &fallback);
    let taken = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let toml = args.output.as_ref().is_some_and(|f| f.extension().is_some_and(|e| e == "toml"));
    let text = snap.render(&taken, toml).map_err(|e| Error::failed(e, None))?;
    if let Some(file) = &args.output {
        write_atomically(file, text.as_bytes())
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", file.display()), None))?;
    }
    if ctx.json() {
        ctx.print_json(&SnapshotDoc {
            schema_version: 1,
            file: args.output.as_ref().map(|f| f.display().to_string()),
            sessions: snap.sessions,
            panes: snap.panes,
            notes: &snap.notes,
            manifest: args.output.is_none().then_some(text.as_str()),
        });
    } else if let Some(file) = &args.output {
        if !ctx.global.quiet {
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

fn quoted(names: &[&String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// Writes `bytes` to `path` so a reader sees the old file or the whole new one, never a part:
/// a temporary file beside it (mode 0600), fsync, rename, fsync of the directory. An empty
/// document is refused, so a failed capture never replaces a good snapshot.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if bytes.is_empty() {
        return Err(std::io::Error::other("refusing to write an empty snapshot"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
    let file = args.file.clone();
    let mut ctx = ctx.clone();
    ctx.global.file = Some(file.clone());
    let stack = super::stack::Stack::open(&ctx)?;
    let rt = runtime()?;
    let live = rt.block_on(stack.tmux.live()).map_err(|e| e.into_error("reading tmux state"))?;
    let project = stack.project();
    let exists = |name: &str| live.panes.iter().any(|p| p.session == name);
    let (existing, missing): (Vec<&String>, Vec<&String>) = project.sessions.keys().partition(|s| exists(s));
    let to_create: Vec<&String> = if args.replace { project.sessions.keys().collect() } else { missing.clone() };
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
    if to_create.is_empty() {
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
    let targets = if to_create.len() == project.sessions.len() {
        Vec::new()
    } else {
        to_create.iter().map(|s| s.to_string()).collect()
    };
    let mut up = crate::cli::args::UpArgs::start(targets);
    up.no_daemon = args.no_daemon;
    super::up::run_up(&ctx, &up)
}

fn render_restore_plan(doc: &RestorePlan<'_>) -> String {
    let mut out = String::new();
    for s in &doc.replace {
        out.push_str(&format!("- replace  {s} (exists; killed first)\n"));
    }
    for s in &doc.create {
        out.push_str(&format!("+ create   {} ({} window(s), {} pane(s))\n", s.session, s.windows, s.panes));
    }
    for s in &doc.skip {
        out.push_str(&format!("= skip     {s} (exists; --replace replaces it)\n"));
    }
    if doc.create.is_empty() {
        out.push_str("nothing to restore\n");
    }
    out
}
