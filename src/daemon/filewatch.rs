//! Panes' `watch:` in the daemon: inotify (through `notify`) on the directories their globs
//! start in, a trailing debounce per pane, and the restart it leads to — then, with
//! `cascade: true`, a restart of the pane's dependents once it is up again (healthy, when it has
//! a check; respawned, when it has none).
//!
//! Promises: no polling (the kernel tells of every change); a storm of changes within the
//! pane's `debounce` of each other restarts it once, after they stop; a change is recorded as a
//! `watch.changed` event naming the files (the restart itself is the usual `pane.restarted`),
//! and a cascade as `watch.cascaded` naming the dependents it restarts. A pane stopped with
//! `ctmux stop`, or still waiting for its dependencies, is not restarted by a change.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Daemon, Msg};
use crate::manifest::model::Project;
use crate::manifest::watch::Matcher;

/// Files named in one `watch.changed` event at most (the count is always there).
const NAMED_FILES: usize = 20;

/// One watching pane, as the notify thread sees it.
struct Entry {
    project: String,
    address: String,
    matcher: Matcher,
    debounce: Duration,
}

/// Where a cascade is: waiting for its pane's respawn, then (with a check) for it to be healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Restarting,
    AwaitHealthy,
}

/// The daemon's file watches.
pub(super) struct FileWatch {
    /// Every watching pane of every project, shared with the notify callback.
    entries: Arc<Mutex<Vec<Entry>>>,
    /// Created with the first `watch:`.
    watcher: Option<notify::RecommendedWatcher>,
    /// Directories watched now, and whether recursively.
    watched: HashMap<PathBuf, bool>,
    /// Debounce per (project, address): the latest change's number and the files changed.
    pending: HashMap<(String, String), (u64, Vec<PathBuf>)>,
    seq: u64,
    /// Cascades under way, by tmux pane id.
    cascades: HashMap<String, Stage>,
    tx: mpsc::UnboundedSender<Msg>,
}

impl FileWatch {
    /// No watches yet; changes will be told to `tx` as [`Msg::WatchHit`].
    pub fn new(tx: mpsc::UnboundedSender<Msg>) -> FileWatch {
        FileWatch {
            entries: Arc::default(),
            watcher: None,
            watched: HashMap::new(),
            pending: HashMap::new(),
            seq: 0,
            cascades: HashMap::new(),
            tx,
        }
    }

    /// Follows `project`'s `watch:` entries from now on (replacing its earlier ones), and
    /// watches exactly the directories all projects' globs need.
    pub fn load(&mut self, project: &Project) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|e| e.project != project.name);
        for pane in project.panes() {
            let Some(watch) = &pane.watch else { continue };
            match Matcher::new(watch, &pane.cwd) {
                Ok(matcher) => entries.push(Entry {
                    project: project.name.clone(),
                    address: pane.address(),
                    matcher,
                    debounce: watch.debounce,
                }),
                Err(e) => eprintln!("ctmux daemon: {}: watch: {e}", pane.address()),
            }
        }
        let mut wanted: HashMap<PathBuf, bool> = HashMap::new();
        for (dir, recursive) in entries.iter().flat_map(|e| e.matcher.dirs()) {
            *wanted.entry(dir).or_default() |= recursive;
        }
        drop(entries);
        if wanted.is_empty() && self.watcher.is_none() {
            return;
        }
        if self.watcher.is_none() {
            self.watcher = self.make_watcher();
        }
        let Some(watcher) = self.watcher.as_mut() else { return };
        use notify::Watcher;
        for (dir, recursive) in &self.watched {
            if wanted.get(dir) != Some(recursive) {
                let _ = watcher.unwatch(dir);
            }
        }
        for (dir, recursive) in &wanted {
            if self.watched.get(dir) != Some(recursive) {
                let mode =
                    if *recursive { notify::RecursiveMode::Recursive } else { notify::RecursiveMode::NonRecursive };
                if let Err(e) = watcher.watch(dir, mode) {
                    eprintln!("ctmux daemon: cannot watch {}: {e}", dir.display());
                }
            }
        }
        self.watched = wanted;
    }

    fn make_watcher(&self) -> Option<notify::RecommendedWatcher> {
        let entries = self.entries.clone();
        let tx = self.tx.clone();
        let made = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            use notify::EventKind;
            use notify::event::{AccessKind, AccessMode, ModifyKind};
            // Writes, creations, renames and removals; not reads, opens or attribute changes.
            let Ok(event) = res else { return };
            if !matches!(
                event.kind,
                EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
                    | EventKind::Access(AccessKind::Close(AccessMode::Write))
            ) {
                return;
            }
            let entries = entries.lock().unwrap_or_else(|e| e.into_inner());
            for path in &event.paths {
                for e in entries.iter().filter(|e| e.matcher.matches(path)) {
                    let _ = tx.send(Msg::WatchHit(e.project.clone(), e.address.clone(), path.clone(), e.debounce));
                }
            }
        });
        made.map_err(|e| eprintln!("ctmux daemon: cannot watch files: {e}")).ok()
    }

    /// A change of `path` for a pane: (re)starts its debounce timer.
    pub fn hit(&mut self, project: String, address: String, path: PathBuf, debounce: Duration) {
        self.seq += 1;
        let seq = self.seq;
        let slot = self.pending.entry((project.clone(), address.clone())).or_default();
        slot.0 = seq;
        if !slot.1.contains(&path) {
            slot.1.push(path);
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(debounce).await;
            let _ = tx.send(Msg::WatchDue(project, address, seq));
        });
    }

    /// The files changed for a pane once its debounce is over (`None`: a later change restarted
    /// the timer, or nothing is pending).
    fn due(&mut self, project: &str, address: &str, seq: u64) -> Option<Vec<PathBuf>> {
        let key = (project.to_string(), address.to_string());
        if self.pending.get(&key).is_none_or(|(s, _)| *s != seq) {
            return None;
        }
        self.pending.remove(&key).map(|(_, files)| files)
    }
}

impl Daemon {
    /// A pane's debounce is over: record the change and restart the pane (its dependents
    /// follow once it is up again, with `cascade`).
    pub(super) async fn watch_due(&mut self, project: &str, address: &str, seq: u64) {
        let Some(files) = self.filewatch.due(project, address, seq) else { return };
        let Some((id, pane)) =
            self.panes.iter().find(|(_, p)| p.project == project && p.address == address && !p.placeholder)
        else {
            return;
        };
        let id = id.clone();
        let spec = pane.spec.clone();
        let cascade = spec.as_ref().and_then(|s| s.watch.as_ref()).is_some_and(|w| w.cascade);
        let shown: Vec<String> = files
            .iter()
            .take(NAMED_FILES)
            .map(|f| match spec.as_ref().and_then(|s| f.strip_prefix(&s.cwd).ok()) {
                Some(rel) => rel.display().to_string(),
                None => f.display().to_string(),
            })
            .collect();
        let data = serde_json::json!({ "files": shown, "changed": files.len(), "cascade": cascade });
        self.events.emit("watch.changed", project, address, data);
        if cascade {
            self.filewatch.cascades.insert(id.clone(), Stage::Restarting);
        }
        self.watch_restart(&id);
    }

    /// Restarts pane `id` for a watch: a running process is stopped as `stop:` says and
    /// respawned at its exit; an exited one is respawned now (not one `ctmux stop` stopped).
    fn watch_restart(&mut self, id: &str) {
        let Some(pane) = self.panes.get(id) else { return };
        let (pid, tx) = (pane.pid, self.tx.clone());
        if pane.watched.is_none() {
            let _ = tx.send(Msg::RestartDue(id.to_string(), pid));
            return;
        }
        let (project, address, spec, tmux, id) =
            (pane.project.clone(), pane.address.clone(), pane.spec.clone(), self.tmux.clone(), id.to_string());
        tokio::spawn(async move {
            let stop = spec.as_ref().map(|p| p.stop.clone()).unwrap_or_default();
            let server = tmux.server_mark().await;
            crate::reconcile::stop::stop_tree(&server, &project, &address, pid, &stop, spec.as_ref()).await;
            let _ = tx.send(Msg::RestartRequested(id, pid));
        });
    }

    /// Called when pane `id` was respawned: a cascade it carries goes on (now, or once healthy).
    pub(super) fn watch_respawned(&mut self, id: &str) {
        if self.filewatch.cascades.get(id) != Some(&Stage::Restarting) {
            return;
        }
        if self.panes.get(id).is_some_and(|p| p.checked()) {
            self.filewatch.cascades.insert(id.to_string(), Stage::AwaitHealthy);
        } else {
            self.filewatch.cascades.remove(id);
            self.cascade(id);
        }
    }

    /// Called when pane `id` turned healthy: a cascade waiting for that goes on.
    pub(super) fn watch_healthy(&mut self, id: &str) {
        if self.filewatch.cascades.get(id) == Some(&Stage::AwaitHealthy) {
            self.filewatch.cascades.remove(id);
            self.cascade(id);
        }
    }

    /// Restarts every pane that depends on pane `id` (directly or not) and has a process.
    fn cascade(&mut self, id: &str) {
        let Some(pane) = self.panes.get(id) else { return };
        let (project_name, address) = (pane.project.clone(), pane.address.clone());
        let Some(project) = self.projects.get(&project_name) else { return };
        let graph = crate::graph::DepGraph::new(project);
        let dependents: Vec<String> =
            graph.with_dependents(std::slice::from_ref(&address)).into_iter().filter(|a| *a != address).collect();
        let ids: Vec<(String, String)> = self
            .panes
            .iter()
            .filter(|(_, p)| p.project == project_name && dependents.contains(&p.address) && !p.placeholder)
            .map(|(id, p)| (id.clone(), p.address.clone()))
            .collect();
        let data = serde_json::json!({ "dependents": ids.iter().map(|(_, a)| a).collect::<Vec<_>>() });
        self.events.emit("watch.cascaded", &project_name, &address, data);
        for (dependent, _) in ids {
            self.watch_restart(&dependent);
        }
    }
}
