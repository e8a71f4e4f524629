//! ctmux's integration tests: one binary, each test a user's session against a real tmux server
//! on a private socket (see `harness.rs`).

mod accuracy;
mod capture;
mod compose;
mod composition;
mod daemon;
mod docs;
mod down;
mod events;
mod examples;
mod exec;
mod exec_hook;
mod faults;
mod gc;
mod harness;
mod hooks;
mod hostile;
mod import;
mod life;
mod lifecycle;
mod limits;
mod manifest;
mod mcp;
mod names;
mod options;
mod reconcile;
mod restart;
mod scope;
mod small;
mod snapshot;
mod stack;
mod toolkit;
mod top;
mod verbs;
mod watch;
