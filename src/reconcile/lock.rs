//! Serializes `up`/`down` on one project and tmux server with an advisory file lock, so ten
//! concurrent `up`s leave exactly one set of sessions. The daemon takes the same lock to start
//! waiting panes, so it never races an `up` that is starting them itself.
//!
//! The holder writes who it is into the lock file; a caller kept waiting more than a second is
//! told what it waits for (`waiting for ctmux up (pid 123) to finish with shop on …`).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use crate::error::Error;

/// How long a caller waits quietly before it says what it waits for.
const QUIET_WAIT: Duration = Duration::from_secs(1);

/// Held while the lock is taken; released on drop (and by the OS if we die).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    /// The lock file.
    pub path: PathBuf,
}

/// Blocks until the lock for `project` on `server_key` is ours; `holder` says who we are
/// (`ctmux up`) to whoever waits after us. `notice` gets one line if we wait over a second.
pub fn acquire(
    server_key: &str,
    project: &str,
    holder: &str,
    notice: impl Fn(&str) + Send + 'static,
) -> Result<Lock, Error> {
    let dir = crate::state::subdir("locks").map_err(|e| {
        Error::failed(
            format!("cannot create the state directory: {e}"),
            Some("set CTMUX_STATE_DIR to a writable directory".into()),
        )
    })?;
    let path = dir.join(format!("{server_key}--{project}.lock"));
    let mut file = crate::state::open_lock(&path)
        .map_err(|e| Error::failed(format!("cannot open lock {}: {e}", path.display()), None))?;
    if file.try_lock().is_err() {
        let mut who = String::new();
        let _ = file.read_to_string(&mut who);
        let who = who.trim().to_string();
        let (done, waited) = mpsc::channel::<()>();
        let project = project.to_string();
        // Told after a second, unless the lock came sooner (`done` is dropped then).
        std::thread::spawn(move || {
            if waited.recv_timeout(QUIET_WAIT) == Err(mpsc::RecvTimeoutError::Timeout) {
                let who = if who.is_empty() { "another ctmux up/down".to_string() } else { who };
                notice(&format!("waiting for {who} to finish with {project}"));
            }
        });
        let locked = file.lock();
        drop(done);
        locked.map_err(|e| Error::failed(format!("cannot lock {}: {e}", path.display()), None))?;
    }
    // Who holds it now, for the next one waiting.
    let _ = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(format!("{holder} (pid {})", std::process::id()).as_bytes()));
    Ok(Lock { _file: file, path })
}
