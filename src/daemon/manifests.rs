//! Which version of each project's manifest the daemon acts on, and how it stays current.
//!
//! A verb that read the manifest hands the daemon the text it read (`Load { content }`), so
//! the daemon acts on exactly what that verb acted on — never on a file read a moment later,
//! and never on the copy it was handed earlier. The daemon also follows each manifest file
//! (`notify` on its directory: editors save by rename) and reads it again when it changes, and
//! right before a GC pass, so `ctmux gc --dry-run` (which reads the file) and the daemon plan
//! from the same input. A version is named by the FNV-1a hash of its text; reading a file
//! whose hash is the one held is a no-op. A file that does not load (saved half-way, a typo)
//! leaves the held version in place.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::Msg;
use crate::manifest::model::Project;

/// Where a project's manifest came from, to read it again.
struct Source {
    /// Absolute manifest path.
    file: PathBuf,
    /// The environment it was interpolated with (the last verb's).
    env: HashMap<String, String>,
    /// Hash of the text the held version was lowered from.
    hash: String,
}

/// The manifests the daemon holds, by project, and the watch on their directories.
pub(super) struct Sources {
    sources: HashMap<String, Source>,
    /// The held projects, shared with the pending-pane pass, which reads them only once it
    /// holds the project's lock (so it starts panes with the version the last `up` handed
    /// over, not the one current when the pass was queued).
    latest: Arc<Mutex<HashMap<String, Project>>>,
    /// The directory watch, created off the loop ([`Sources::follow`]).
    watcher: Arc<Mutex<Option<notify::RecommendedWatcher>>>,
    watched: HashSet<PathBuf>,
    tx: mpsc::UnboundedSender<Msg>,
}

/// Stable hash of a manifest's text (FNV-1a, 16 hex digits).
pub fn text_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Sources {
    /// No manifests yet; file changes will be told to `tx` as [`Msg::ManifestSaved`].
    pub fn new(tx: mpsc::UnboundedSender<Msg>) -> Sources {
        Sources {
            sources: HashMap::new(),
            latest: Arc::default(),
            watcher: Arc::default(),
            watched: HashSet::new(),
            tx,
        }
    }

    /// The held projects, for the pending-pane pass.
    pub fn latest(&self) -> Arc<Mutex<HashMap<String, Project>>> {
        self.latest.clone()
    }

    /// Lowers `content` (the text a verb read from `file`), or reads `file` when no content is
    /// given (an older client, or adoption after a restart); remembers where it came from and
    /// follows the file.
    pub fn load(
        &mut self,
        file: &Path,
        env: HashMap<String, String>,
        content: Option<String>,
    ) -> Result<Project, String> {
        let text = match content {
            Some(text) => text,
            None => std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?,
        };
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let loaded = crate::manifest::parse(&text, file, &absolute, &env).map_err(|e| e.to_string())?;
        let project = loaded.project;
        self.follow(&absolute);
        self.sources.insert(project.name.clone(), Source { file: absolute, env, hash: text_hash(&text) });
        self.held(&project);
        Ok(project)
    }

    /// Records `project` as the version held (also for a project installed from elsewhere).
    pub fn held(&self, project: &Project) {
        if let Ok(mut latest) = self.latest.lock() {
            latest.insert(project.name.clone(), project.clone());
        }
    }

    /// Forgets `project` (`up --no-daemon`): no version of it is acted on any more.
    pub fn forget(&mut self, project: &str) {
        self.sources.remove(project);
        if let Ok(mut latest) = self.latest.lock() {
            latest.remove(project);
        }
    }

    /// Reads every followed manifest (or only those at `path`) again; returns the projects
    /// whose text changed and that load. One that does not load keeps its held version (and
    /// the daemon's log says why).
    pub fn reread(&mut self, path: Option<&Path>) -> Vec<Project> {
        let mut changed = Vec::new();
        let names: Vec<String> =
            self.sources.iter().filter(|(_, s)| path.is_none_or(|p| s.file == p)).map(|(n, _)| n.clone()).collect();
        for name in names {
            let Some(source) = self.sources.get(&name) else { continue };
            let Ok(text) = std::fs::read_to_string(&source.file) else { continue };
            let hash = text_hash(&text);
            if hash == source.hash {
                continue;
            }
            match crate::manifest::parse(&text, &source.file, &source.file, &source.env) {
                Ok(loaded) if loaded.project.name == name => {
                    if let Some(s) = self.sources.get_mut(&name) {
                        s.hash = hash;
                    }
                    self.held(&loaded.project);
                    changed.push(loaded.project);
                }
                Ok(loaded) => eprintln!(
                    "ctmux daemon: {} now names project {}, not {name}: keeping the version `ctmux up` handed over",
                    source.file.display(),
                    loaded.project.name
                ),
                Err(e) => eprintln!(
                    "ctmux daemon: {} changed but does not load; keeping the version held: {e}",
                    source.file.display()
                ),
            }
        }
        changed
    }

    /// Watches `file`'s directory (editors replace files by rename), debounced: a burst of
    /// events within 150 ms is one [`Msg::ManifestSaved`]. The watch is set up on a thread of
    /// its own: creating it took up to a second on a busy machine, and `up` waits for `Load`.
    fn follow(&mut self, file: &Path) {
        use notify::Watcher;
        let Some(dir) = file.parent().map(Path::to_path_buf) else { return };
        if !self.watched.insert(dir.clone()) {
            return;
        }
        let (tx, watcher) = (self.tx.clone(), self.watcher.clone());
        std::thread::spawn(move || {
            let Ok(mut slot) = watcher.lock() else { return };
            if slot.is_none() {
                let queued: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
                *slot = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                    let Ok(event) = res else { return };
                    if matches!(event.kind, notify::EventKind::Access(_)) {
                        return;
                    }
                    for path in event.paths {
                        let Ok(mut q) = queued.lock() else { return };
                        if !q.insert(path.clone()) {
                            continue;
                        }
                        let (tx, queued) = (tx.clone(), queued.clone());
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(150));
                            if let Ok(mut q) = queued.lock() {
                                q.remove(&path);
                            }
                            let _ = tx.send(Msg::ManifestSaved(path));
                        });
                    }
                })
                .ok();
            }
            if let Some(w) = slot.as_mut() {
                let _ = w.watch(&dir, notify::RecursiveMode::NonRecursive);
            }
        });
    }

    /// Whether `path` is a followed manifest.
    pub fn follows(&self, path: &Path) -> bool {
        self.sources.values().any(|s| s.file == path)
    }
}

#[cfg(test)]
mod tests {
    use super::text_hash;

    #[test]
    fn hash_names_the_text() {
        assert_eq!(text_hash("a"), text_hash("a"));
        assert_ne!(text_hash("command: v4"), text_hash("command: v5"));
    }
}
