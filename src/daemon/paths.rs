//! Where a daemon lives: its socket under `$XDG_RUNTIME_DIR/ctmux/` (else `/tmp/ctmux-$UID/`,
//! mode 0700), one per tmux server; its log and pane logs under the state directory (pane logs
//! per tmux server: `logs/<server>/<project>/<session>/<pane>.log`).

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

/// The root of every pane log (`$STATE/logs`); below it one directory per tmux server.
pub fn logs_root() -> PathBuf {
    let root = crate::state::dir().join("logs");
    // The sink runs in the tmux server's working directory.
    std::path::absolute(&root).unwrap_or(root)
}

/// A pane's log below its server's directory: `project/session/pane.log`.
pub fn log_rel(project: &str, address: &str) -> String {
    let (session, pane) = address.split_once('/').unwrap_or((address, address));
    format!("{project}/{session}/{pane}.log")
}

/// The socket path of `socket`'s server, as tmux names it (`#{socket_path}`): what names the
/// server's log directory.
pub fn socket_file(socket: &Socket) -> String {
    let label_dir = || {
        let base = std::env::var("TMUX_TMPDIR").ok().filter(|d| !d.is_empty()).unwrap_or_else(|| "/tmp".into());
        // SAFETY: getuid(2) cannot fail and touches no memory.
        let dir = PathBuf::from(format!("{base}/tmux-{}", unsafe { libc::getuid() }));
        std::fs::canonicalize(&dir).unwrap_or(dir)
    };
    match socket {
        Socket::Path(p) => p.display().to_string(),
        Socket::Name(n) => label_dir().join(n).display().to_string(),
        Socket::Default => std::env::var("TMUX")
            .ok()
            .and_then(|t| t.split(',').next().filter(|p| !p.is_empty()).map(str::to_string))
            .unwrap_or_else(|| label_dir().join("default").display().to_string()),
    }
}

/// The directory of `socket`'s server's pane logs (`logs/<server>/`).
pub fn server_logs(socket: &Socket) -> PathBuf {
    logs_root().join(crate::sink::server_name(&socket_file(socket)))
}

/// The output log of pane `address` of `project` on `socket`'s server (written by the pane's
/// sink, [`crate::sink`]).
pub fn pane_log(socket: &Socket, project: &str, address: &str) -> std::io::Result<PathBuf> {
    Ok(server_logs(socket).join(log_rel(project, address)))
}

/// Pane logs rotate to `<pane>.log.1` past this size (`CTMUX_LOG_MAX`, e.g. `16MiB`, read by
/// the ctmux that starts the pane's sink; default 64 MiB), so a pane keeps at most twice this.
pub fn log_cap() -> u64 {
    static CAP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| {
        std::env::var("CTMUX_LOG_MAX")
            .ok()
            .and_then(|v| crate::units::parse_size(&v).ok())
            .filter(|n| *n >= 4096)
            .unwrap_or(crate::sink::DEFAULT_MAX)
    })
}
