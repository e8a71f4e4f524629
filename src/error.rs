//! ctmux's error type: every failure a user can see, with the exit code and hint it carries.

use crate::exit::Exit;
use crate::manifest::ManifestError;

/// A failure that ends a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest is invalid (exit 2).
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    /// Bad command-line usage (exit 2).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// A target matched nothing (exit 4).
    #[error("{message}")]
    NotFound {
        /// What was not found.
        message: String,
        /// Near matches.
        hint: Option<String>,
    },
    /// tmux is missing or its server cannot be reached (exit 5).
    #[error("{message}")]
    TmuxUnavailable {
        /// What happened.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// A wait timed out (exit 3).
    #[error("{message}")]
    Timeout {
        /// What did not become ready.
        message: String,
        /// Details (states, last lines).
        hint: Option<String>,
    },
    /// A refusal scripts tell apart by its own code (exit 1): `pane_busy`, `shell_exited`….
    #[error("{message}")]
    Refused {
        /// The stable `--json` code.
        code: &'static str,
        /// What was refused, and why.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// Anything else that failed (exit 1).
    #[error("{message}")]
    Failed {
        /// What failed.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
}

impl Error {
    /// A generic failure with a hint.
    pub fn failed(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Failed { message: message.into(), hint }
    }

    /// The exit code this error ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Manifest(_) | Error::Usage { .. } => Exit::Usage,
            Error::NotFound { .. } => Exit::NotFound,
            Error::TmuxUnavailable { .. } => Exit::TmuxUnavailable,
            Error::Timeout { .. } => Exit::Timeout,
            Error::Failed { .. } | Error::Refused { .. } => Exit::Failed,
        }
    }

    /// Stable machine-readable code for `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Manifest(m) => m.problems.first().map_or("invalid_manifest", |p| p.code),
            Error::Usage { .. } => "usage",
            Error::NotFound { .. } => "not_found",
            Error::TmuxUnavailable { .. } => "tmux_unavailable",
            Error::Timeout { .. } => "timeout",
            Error::Failed { .. } => "failed",
            Error::Refused { code, .. } => code,
        }
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Manifest(m) => m.problems.first().and_then(|p| p.help.clone()),
            Error::Usage { hint, .. }
            | Error::NotFound { hint, .. }
            | Error::TmuxUnavailable { hint, .. }
            | Error::Timeout { hint, .. }
            | Error::Failed { hint, .. }
            | Error::Refused { hint, .. } => hint.clone(),
        }
    }
}

/// Result with ctmux's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
