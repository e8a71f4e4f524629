//! Autosave (`snapshots: { interval, keep }`): the daemon stores a snapshot of a project's
//! sessions every `interval`, and two seconds after a structural change (a pane, window or
//! session created or killed, a layout changed — what tmux's control clients report), so a
//! crash loses at most the last seconds of structure. A save that would be identical to the
//! previous one is skipped, and nothing is written when the project has no session (after
//! `down`) or the capture fails: a good snapshot is never followed by an empty one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::Msg;
use crate::manifest::model::Project;
use crate::snapshot::{self, Selection};
use crate::tmux::Tmux;

/// How long a burst of changes is waited out before one save.
pub const DEBOUNCE: Duration = Duration::from_secs(2);

/// Autosave state per project.
#[derive(Default)]
pub struct Autosave {
    /// The periodic timer's generation and interval, per project.
    timers: HashMap<String, (Arc<AtomicU64>, Duration)>,
    /// Projects with a debounced save queued.
    queued: HashSet<String>,
    /// The document last saved, per project (a save identical to it is skipped).
    last: HashMap<String, String>,
}

/// What a save did.
pub struct Saved {
    /// Store entry.
    pub entry: snapshot::store::Entry,
    /// Why (`interval`, `change`, `load`).
    pub reason: String,
}

impl Autosave {
    /// A manifest was loaded: (re)arms the periodic timer when its interval changed, or stops
    /// it when `snapshots:` is gone; queues a save.
    pub fn loaded(&mut self, project: &Project, tx: &mpsc::UnboundedSender<Msg>) {
        let Some(settings) = &project.snapshots else {
            if let Some((generation, _)) = self.timers.remove(&project.name) {
                generation.fetch_add(1, Ordering::SeqCst);
            }
            return;
        };
        let rearm = self.timers.get(&project.name).is_none_or(|(_, every)| *every != settings.interval);
        if rearm {
            let generation = match self.timers.get(&project.name) {
                Some((g, _)) => g.clone(),
                None => Arc::new(AtomicU64::new(0)),
            };
            let mine = generation.fetch_add(1, Ordering::SeqCst) + 1;
            self.timers.insert(project.name.clone(), (generation.clone(), settings.interval));
            let (name, every, tx) = (project.name.clone(), settings.interval, tx.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if generation.load(Ordering::SeqCst) != mine
                        || tx.send(Msg::Autosave(name.clone(), "interval".into())).is_err()
                    {
                        return;
                    }
                }
            });
        }
        self.queue(&project.name, "load", tx);
    }

    /// tmux's structure changed: queues a debounced save of every autosaved project.
    pub fn changed(&mut self, tx: &mpsc::UnboundedSender<Msg>) {
        let names: Vec<String> = self.timers.keys().cloned().collect();
        for name in names {
            self.queue(&name, "change", tx);
        }
    }

    fn queue(&mut self, project: &str, reason: &str, tx: &mpsc::UnboundedSender<Msg>) {
        if !self.queued.insert(project.to_string()) {
            return;
        }
        let (name, reason, tx) = (project.to_string(), reason.to_string(), tx.clone());
        tokio::spawn(async move {
            tokio::time::sleep(DEBOUNCE).await;
            let _ = tx.send(Msg::Autosave(name, reason));
        });
    }

    /// Takes and stores a snapshot of `project` unless nothing changed since the last one;
    /// prunes to its `keep`. `None` when nothing was written.
    pub async fn save(&mut self, tmux: &Tmux, project: &Project, reason: &str) -> Option<Saved> {
        self.queued.remove(&project.name);
        let settings = project.snapshots.as_ref()?;
        let captured = snapshot::capture::capture(tmux).await.ok()?;
        let sessions = snapshot::select(&captured, &Selection::Project(project.name.clone()));
        if sessions.is_empty() {
            return None;
        }
        let snap = snapshot::build(&captured, &sessions, &project.name);
        if snap.panes == 0 {
            return None;
        }
        let body = snap.render("", false).ok()?;
        let body = body.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
        if self.last.get(&project.name) == Some(&body) {
            return None;
        }
        let taken = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let text = snap.render(&taken, false).ok()?;
        let entry = snapshot::store::save(&project.name, &text).ok()?;
        self.last.insert(project.name.clone(), body);
        snapshot::store::prune(&project.name, settings.keep as usize);
        Some(Saved { entry, reason: reason.to_string() })
    }
}
