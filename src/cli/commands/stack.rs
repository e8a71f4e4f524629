//! What the declarative verbs share: the loaded manifest, the tmux server it lives on, a runtime.

use std::time::Duration;

use super::graph::resolve_targets;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::graph::DepGraph;
use crate::manifest::Loaded;
use crate::tmux::{Socket, Tmux};

/// A loaded project and its tmux server.
pub struct Stack {
    /// The manifest.
    pub loaded: Loaded,
    /// The server.
    pub tmux: Tmux,
    /// Dependency graph of the manifest.
    pub graph: DepGraph,
}

impl Stack {
    /// Loads the manifest and picks the server (flags, `CTMUX_TMUX_SOCKET`, manifest `socket:`).
    pub fn open(ctx: &Ctx) -> Result<Stack> {
        Stack::open_ports(ctx, false)
    }

    /// [`Stack::open`] for `up`: `ports: {NAME: auto}` without a port yet are allocated.
    pub fn open_ports(ctx: &Ctx, allocate: bool) -> Result<Stack> {
        let loaded = super::load_ports(ctx, allocate)?;
        let env = std::env::var("CTMUX_TMUX_SOCKET").ok();
        let socket = Socket::choose(
            ctx.global.socket_name.as_deref(),
            ctx.global.socket_path.as_deref(),
            env.as_deref(),
            loaded.project.socket.as_deref(),
        );
        let graph = DepGraph::new(&loaded.project);
        Ok(Stack { loaded, tmux: Tmux::new(socket), graph })
    }

    /// The project.
    pub fn project(&self) -> &crate::manifest::model::Project {
        &self.loaded.project
    }

    /// Targets resolved to pane addresses; every pane when `targets` is empty.
    pub fn addresses(&self, targets: &[String]) -> Result<Vec<String>> {
        if targets.is_empty() {
            Ok(self.project().panes().map(|p| p.address()).collect())
        } else {
            resolve_targets(self.project(), targets)
        }
    }

    /// Prints the `-v` summary of tmux traffic on stderr.
    pub fn report_traffic(&self, ctx: &Ctx) {
        if ctx.global.verbose > 0 {
            eprintln!("{}", self.tmux.summary());
        }
    }
}

/// A single-threaded runtime: the CLI waits on I/O, it does not compute.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}"), None))
}

/// Parses a `--timeout` value.
pub fn parse_timeout(text: Option<&str>) -> Result<Option<Duration>> {
    text.map(|t| {
        crate::units::parse_duration(t)
            .map_err(|e| Error::Usage { message: format!("--timeout: {e}"), hint: Some("e.g. --timeout 60s".into()) })
    })
    .transpose()
}
