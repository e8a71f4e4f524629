//! `up --watch`: stay in the foreground like `docker compose up`, print the daemon's events as
//! they happen, and bring tmux to the manifest again whenever it (or an env file beside it)
//! changes on disk — announced by inotify, debounced. Ctrl-C leaves the stack running, unless
//! `--down-on-exit`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::daemon::socket;
use crate::cli::args::{DownArgs, UpArgs};
use crate::cli::{Ctx, Result};
use crate::daemon::client;
use crate::error::Error;
use crate::exit::Exit;
use crate::store::Event;

/// Edits arrive as bursts (write, rename, chmod): reconcile once they have been quiet this long.
const DEBOUNCE: Duration = Duration::from_millis(300);

enum Msg {
    FileChanged,
    Event(String),
    Interrupt,
}

/// Whether a change to `path` concerns the stack: a file the manifest is composed of (every
/// `-f`, include and extends), or a dotenv file.
fn relevant(path: &Path, files: &[PathBuf]) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    files.iter().any(|f| f.file_name() == path.file_name() && f.parent() == path.parent())
        || name.starts_with(".env")
        || name.ends_with(".env")
}

/// Runs `up --watch`: `args` without `--watch` is the `up` to repeat.
pub fn run(ctx: &Ctx, args: &UpArgs) -> Result {
    let mut once = args.clone();
    once.watch = false;
    once.down_on_exit = false;
    // Events from here on, including those of the first `up`.
    let after = crate::store::Store::open().and_then(|s| s.last_id()).unwrap_or(0);
    let cwd = std::env::current_dir().map_err(|e| Error::failed(e.to_string(), None))?;
    let options = super::compose_options(ctx)?;
    let manifest: PathBuf = options.files[0].clone();
    let manifest = std::fs::canonicalize(&manifest).unwrap_or(manifest);
    // Every file the manifest is composed of, as the first load read them.
    let mut files: Vec<PathBuf> = options.files.iter().map(|f| std::fs::canonicalize(f).unwrap_or(f.clone())).collect();
    if let Ok(loaded) = crate::manifest::load_with(&options, &std::env::vars().collect()) {
        files.extend(loaded.read.iter().map(|f| std::fs::canonicalize(f).unwrap_or(f.clone())));
    }
    let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    dirs.dedup();
    dirs.sort();
    dirs.dedup();
    let dir = manifest.parent().map(Path::to_path_buf).unwrap_or(cwd);
    if !dirs.contains(&dir) {
        dirs.push(dir.clone());
    }
    let (tx, rx) = mpsc::channel();

    use notify::Watcher;
    let changes = tx.clone();
    let watched = files.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Writes, creations, renames and removals; not reads (inotify reports opens and
        // closes too, and `up` itself reads the manifest).
        if let Ok(event) = res
            && matches!(
                event.kind,
                notify::EventKind::Create(_)
                    | notify::EventKind::Remove(_)
                    | notify::EventKind::Modify(
                        notify::event::ModifyKind::Data(_)
                            | notify::event::ModifyKind::Name(_)
                            | notify::event::ModifyKind::Any
                    )
                    | notify::EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write))
            )
            && event.paths.iter().any(|p| relevant(p, &watched))
        {
            let _ = changes.send(Msg::FileChanged);
        }
    })
    .map_err(|e| Error::failed(format!("cannot watch {}: {e}", dir.display()), None))?;
    for dir in &dirs {
        watcher
            .watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| Error::failed(format!("cannot watch {}: {e}", dir.display()), None))?;
    }
    // Watched before the first `up`: a save while it runs (it starts the daemon after building,
    // which can take a while) is seen and applied next.
    let first = super::up::run_up(ctx, &once);
    if let Err(e) = &first {
        // A bad manifest or a failed start does not end watching: fix the file and save.
        crate::cli::output::print_error(ctx, e);
    }

    let interrupt = tx.clone();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
            let _ = interrupt.send(Msg::Interrupt);
        }
    });

    let sock = socket(ctx);
    let events = tx.clone();
    std::thread::spawn(move || {
        let mut after = after;
        loop {
            if let Ok(Some(feed)) = client::follow(&sock, after) {
                for line in feed {
                    if let Ok(e) = serde_json::from_str::<Event>(&line) {
                        after = after.max(e.id);
                    }
                    if events.send(Msg::Event(line)).is_err() {
                        return;
                    }
                }
            }
            // No daemon (yet, or any more): the next reconcile starts one.
            std::thread::sleep(Duration::from_secs(1));
        }
    });

    if !ctx.json() {
        ctx.warn(format!("watching {} — Ctrl-C detaches (the stack keeps running)", manifest.display()));
    }
    let mut project = project_name(&options);
    let ours = |line: &str, project: &Option<String>| {
        serde_json::from_str::<Event>(line)
            .ok()
            .filter(|e| e.project.is_empty() || project.as_deref().is_none_or(|p| p == e.project))
    };
    loop {
        match rx.recv() {
            Ok(Msg::Event(line)) => {
                if let Some(e) = ours(&line, &project) {
                    super::events::print_event(ctx, &e);
                }
            }
            Ok(Msg::FileChanged) => {
                // Debounce: wait for the edit to settle, keeping events flowing meanwhile.
                loop {
                    match rx.recv_timeout(DEBOUNCE) {
                        Ok(Msg::FileChanged) => continue,
                        Ok(Msg::Event(line)) => {
                            if let Some(e) = ours(&line, &project) {
                                super::events::print_event(ctx, &e);
                            }
                        }
                        Ok(Msg::Interrupt) => return finish(ctx, args),
                        Err(_) => break,
                    }
                }
                ctx.warn(format!("{} changed: reconciling", manifest.display()));
                if let Err(e) = super::up::run_up(ctx, &once) {
                    crate::cli::output::print_error(ctx, &e);
                }
                project = project_name(&options).or(project);
            }
            Ok(Msg::Interrupt) | Err(_) => return finish(ctx, args),
        }
    }
}

fn project_name(options: &crate::manifest::compose::Options) -> Option<String> {
    let env = std::env::vars().collect();
    crate::manifest::load_with(options, &env).ok().map(|l| l.project.name)
}

fn finish(ctx: &Ctx, args: &UpArgs) -> Result {
    if args.down_on_exit {
        ctx.warn("stopping the stack (--down-on-exit)");
        return super::down::run_down(ctx, &DownArgs { targets: Vec::new() });
    }
    ctx.warn("detached; the stack keeps running (`ctmux down` stops it)");
    Ok(Exit::Ok)
}
