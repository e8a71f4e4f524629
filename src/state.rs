//! Where ctmux keeps state on disk (docs/architecture.md): `$CTMUX_STATE_DIR`, else
//! `$XDG_STATE_HOME/ctmux`, else `~/.local/state/ctmux`.

use std::path::PathBuf;

/// The state directory (not created).
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CTMUX_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("ctmux");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".local/state/ctmux")
}

/// Opens a state file (a log, a lock) for appending, creating it owner-only — never through a
/// symlink, in any component ([`crate::fs_safe`]): a planted `p.log -> elsewhere` or
/// `logs/p -> /tmp/victim` would make ctmux write elsewhere.
pub fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    crate::fs_safe::open_append(path)
}

/// Opens (creating, 0600) a lock file for reading and rewriting who holds it, never through a
/// planted symlink ([`crate::fs_safe`]).
pub fn open_lock(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    crate::fs_safe::open_lock(path)
}

/// A directory under the state dir, created with owner-only permissions, no symlink followed
/// on the way ([`crate::fs_safe`]); a state dir that is not private is refused.
pub fn subdir(name: &str) -> std::io::Result<PathBuf> {
    crate::fs_safe::create_dir_all(&dir().join(name))
}

/// Writes `bytes` to `path` owner-only, never through a symlink, replacing it atomically (a
/// temporary file of this process, synced, then renamed), so a reader never sees half a file.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(path, bytes, true)
}

/// [`write_atomic`] without the sync: a reader still never sees half a file, but a machine crash
/// may lose the write. For records that do not outlive the process that reads them back (an
/// fsync costs 4–25 ms on this machine under load, several per MCP exec).
pub fn write_atomic_unsynced(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(path, bytes, false)
}

fn write_replacing(path: &std::path::Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("{}.{}.tmp", std::process::id(), crate::reconcile::build::now_nanos()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
