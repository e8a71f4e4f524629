//! Where a daemon lives: its socket under `$XDG_RUNTIME_DIR/ctmux/` (else `/tmp/ctmux-$UID/`,
//! mode 0700), one per tmux server; its log and pane logs under the state directory.

use std::path::PathBuf;

use crate::tmux::Socket;

/// The runtime directory, created with mode 0700. One that is a symlink, owned by someone
/// else, or group/world writable is refused: whoever controls it could plant a socket that
/// impersonates the daemon (in `/tmp` anyone can create `ctmux-$UID` first).
pub fn runtime_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("ctmux"),
        // SAFETY: getuid(2) cannot fail and touches no memory.
        None => PathBuf::from(format!("/tmp/ctmux-{}", unsafe { libc::getuid() })),
    };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    let meta = std::fs::symlink_metadata(&dir)?;
    // SAFETY: getuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let refuse = |why: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("refusing the runtime directory {}: {why}", dir.display()),
        ))
    };
    if !meta.is_dir() {
        return refuse("it is not a directory (a symlink?)".into());
    }
    if meta.uid() != uid {
        return refuse(format!("it is owned by uid {}, not by you ({uid})", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!("it is group or world writable (mode {:o})", meta.mode() & 0o777));
    }
    Ok(dir)
}

/// The error for a runtime directory that cannot be used, with what to do about it.
pub fn runtime_error(e: std::io::Error) -> crate::error::Error {
    crate::error::Error::failed(
        format!("cannot use the runtime directory: {e}"),
        Some("make it yours with mode 0700, or point XDG_RUNTIME_DIR elsewhere".into()),
    )
}

/// The daemon socket for `socket`'s server.
pub fn socket_path(socket: &Socket) -> std::io::Result<PathBuf> {
    Ok(runtime_dir()?.join(format!("{}.sock", socket.key())))
}

/// The daemon's own log.
pub fn log_path(socket: &Socket) -> std::io::Result<PathBuf> {
    Ok(crate::state::subdir("daemon")?.join(format!("{}.log", socket.key())))
}

/// The output log of pane `address` of `project`.
pub fn pane_log(project: &str, address: &str) -> std::io::Result<PathBuf> {
    let (session, pane) = address.split_once('/').unwrap_or((address, address));
    Ok(crate::state::subdir(&format!("logs/{project}/{session}"))?.join(format!("{pane}.log")))
}
