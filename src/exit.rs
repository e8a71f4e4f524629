//! The exit-code contract (SPEC §6), decided in one place.

/// Why ctmux exits; the discriminant is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// The operation failed.
    Failed = 1,
    /// Bad usage or an invalid manifest; nothing was applied.
    Usage = 2,
    /// A wait ran out of time.
    Timeout = 3,
    /// A target does not exist.
    NotFound = 4,
    /// tmux is missing or its server is unreachable.
    TmuxUnavailable = 5,
    /// `plan --exit-code`: there are changes to apply.
    Changes = 6,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}
