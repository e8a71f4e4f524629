//! Serializes `up`/`down` on one project and tmux server with an advisory file lock, so ten
//! concurrent `up`s leave exactly one set of sessions.

use std::fs::File;
use std::path::PathBuf;

use crate::error::Error;

/// Held while the lock is taken; released on drop (and by the OS if we die).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    /// The lock file.
    pub path: PathBuf,
}

/// Blocks until the lock for `project` on `server_key` is ours.
pub fn acquire(server_key: &str, project: &str) -> Result<Lock, Error> {
    let dir = crate::state::subdir("locks").map_err(|e| {
        Error::failed(
            format!("cannot create the state directory: {e}"),
            Some("set CTMUX_STATE_DIR to a writable directory".into()),
        )
    })?;
    let path = dir.join(format!("{server_key}--{project}.lock"));
    let file = crate::state::open_append(&path)
        .map_err(|e| Error::failed(format!("cannot open lock {}: {e}", path.display()), None))?;
    file.lock().map_err(|e| Error::failed(format!("cannot lock {}: {e}", path.display()), None))?;
    Ok(Lock { _file: file, path })
}
