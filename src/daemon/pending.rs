//! The daemon's half of pending panes: `up` builds placeholders for panes whose dependencies do
//! not hold yet and hands them over; the daemon starts each in place the moment its conditions
//! hold ([`crate::reconcile::pending`]), whether `up` returned, is still waiting, or was killed.
//!
//! A pass runs after anything that can make a condition hold (a health change, an exit, a pane
//! started or gone, a manifest loaded), off the daemon's loop, under the project's lock: `up`
//! and `down` hold it while they work, so a pane is never started twice, and a killed `up`
//! releases it (the kernel drops the lock), which lets the pass go ahead at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::Msg;
use crate::manifest::model::Project;
use crate::reconcile::lock;
use crate::tmux::Tmux;

/// Runs one pass over the projects named in `projects` (in its own task). `queued` is cleared
/// once the pass is about to look, so whatever happens after that queues another pass. Each
/// project's manifest is taken from `latest` only once its lock is held: an `up` that held the
/// lock handed the daemon its version before releasing it, so a pane is started with the
/// command that `up` read (a copy taken when the pass was queued started the previous one).
pub(super) fn pass(
    tmux: Arc<Tmux>,
    projects: Vec<String>,
    latest: Arc<std::sync::Mutex<std::collections::HashMap<String, Project>>>,
    queued: Arc<AtomicBool>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    tokio::spawn(async move {
        for name in projects {
            let key = tmux.socket.key();
            // A plain thread, not the runtime's blocking pool: a lock held for long (an
            // `up --wait`) must not keep the daemon from exiting.
            let (give, lock) = oneshot::channel();
            let locked = name.clone();
            std::thread::spawn(move || {
                let _ = give.send(lock::acquire(&key, &locked, "the ctmux daemon", |_| {}));
            });
            let Ok(Ok(_lock)) = lock.await else { continue };
            queued.store(false, Ordering::SeqCst);
            let Some(project) = latest.lock().ok().and_then(|l| l.get(&name).cloned()) else { continue };
            let Ok((live, _)) = tmux.list(&[]).await else { continue };
            let (cmds, started) = crate::reconcile::pending::start_ready(&project, &live);
            if started.is_empty() {
                continue;
            }
            match tmux.run(&cmds).await {
                Ok(_) => eprintln!("ctmux daemon: started {} (its dependencies hold)", started.join(", ")),
                Err(e) => eprintln!("ctmux daemon: starting {}: {e}", started.join(", ")),
            }
            let _ = tx.send(Msg::Changed);
        }
        queued.store(false, Ordering::SeqCst);
    });
}
