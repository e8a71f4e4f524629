//! The exit-code contract (docs/cli.md), decided in one place.

/// Why ctmux exits; [`Exit::code`] is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok,
    /// The operation failed.
    Failed,
    /// Bad usage or an invalid manifest; nothing was applied.
    Usage,
    /// A wait ran out of time.
    Timeout,
    /// A target does not exist.
    NotFound,
    /// tmux is missing or its server is unreachable.
    TmuxUnavailable,
    /// `plan --exit-code`: there are changes to apply.
    Changes,
    /// `pane exec --wait` passes on the status of the command it ran, as `docker exec` and `ssh`
    /// do, so `ctmux pane exec T --wait -- make && deploy` chains.
    Command(u8),
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Timeout => 3,
            Exit::NotFound => 4,
            Exit::TmuxUnavailable => 5,
            Exit::Changes => 6,
            Exit::Command(status) => i32::from(status),
        }
    }
}
