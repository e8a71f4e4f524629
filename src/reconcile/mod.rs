//! Reconciliation: bring a tmux server to the manifest (`up`), show the difference (`plan`),
//! take it away (`down`). Plans are plain data; one executor applies them.

pub mod build;
pub mod health;
pub mod lock;
pub mod observe;
pub mod options;
pub mod pending;
pub mod plan;
pub mod spec;
pub mod stop;
pub mod up;
