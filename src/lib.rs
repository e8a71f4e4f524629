//! ctmux: declarative multi-process dev stacks in tmux.
//!
//! The pipeline reads top to bottom: [`manifest`] (find, parse, lower, diagnose) →
//! [`graph`] (dependency order) → [`tmux`] (one engine talking to a server) → [`reconcile`]
//! (plan, apply, wait) → [`cli`] (verbs and rendering). `main.rs` only calls [`cli::run`] (or
//! [`supervise::main`], the daemon's supervisor, when asked for it).

pub mod address;
pub mod ansi;
pub mod cli;
pub mod daemon;
pub mod error;
pub mod exec_marks;
pub mod exit;
pub mod fs_safe;
pub mod gc;
pub mod graph;
pub mod hooks;
pub mod import;
pub mod manifest;
pub mod mcp;
pub mod metrics;
pub mod process;
pub mod reconcile;
pub mod shell_hook;
pub mod sink;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod suggest;
pub mod supervise;
pub mod terminal;
pub mod tmux;
pub mod units;
