//! Where a daemon lives: its socket under `$XDG_RUNTIME_DIR/ctmux/` (else `/tmp/ctmux-$UID/`,
//! mode 0700), one per tmux server; its log and pane logs under the state directory.

use std::path::PathBuf;

use crate::tmux::Socket;

/// The runtime directory, created with mode 0700.
pub fn runtime_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("ctmux"),
        // SAFETY: getuid(2) cannot fail and touches no memory.
        None => PathBuf::from(format!("/tmp/ctmux-{}", unsafe { libc::getuid() })),
    };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
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
