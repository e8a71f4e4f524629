//! ctmux's integration tests: one binary, each test a user's session against a real tmux server
//! on a private socket (see `harness.rs`).

mod daemon;
mod docs;
mod events;
mod examples;
mod exec;
mod harness;
mod manifest;
mod reconcile;
mod toolkit;
mod verbs;
