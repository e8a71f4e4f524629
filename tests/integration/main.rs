//! ctmux's integration tests: one binary, each test a user's session against a real tmux server
//! on a private socket (see `harness.rs`).

mod compose;
mod daemon;
mod docs;
mod events;
mod examples;
mod faults;
mod harness;
mod import;
mod limits;
mod manifest;
mod reconcile;
mod restart;
mod scope;
mod snapshot;
mod toolkit;
mod verbs;
