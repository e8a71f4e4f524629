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
/// symlink (`O_NOFOLLOW`): a planted `p.log -> elsewhere` would make ctmux write elsewhere.
pub fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Opens (creating, 0600) a lock file for reading and rewriting who holds it, never through a
/// planted symlink.
pub fn open_lock(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// A directory under the state dir, created with owner-only permissions.
pub fn subdir(name: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let path = dir().join(name);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&path)?;
    Ok(path)
}
