//! `ctmux attach [TARGET]`: attach (or switch, inside tmux) to the project and select a pane.

use super::stack::{Stack, runtime};
use crate::cli::args::AttachArgs;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::tmux::Cmd;

/// Runs `attach`.
pub fn run(ctx: &Ctx, args: &AttachArgs) -> Result {
    let stack = Stack::open(ctx)?;
    let rt = runtime()?;
    let live = rt.block_on(stack.tmux.live()).map_err(|e| e.into_error("reading tmux state"))?;
    let managed = live.managed(&stack.project().name);
    let address = match &args.target {
        Some(t) => stack.addresses(std::slice::from_ref(t))?.into_iter().next(),
        None => stack.project().panes().map(|p| p.address()).find(|a| managed.contains_key(a)),
    };
    let Some(lp) = address.as_ref().and_then(|a| managed.get(a)) else {
        return Err(Error::NotFound {
            message: format!("{} is not running", stack.project().name),
            hint: Some("run `ctmux up` first".into()),
        });
    };
    rt.block_on(attach_to(&stack.tmux, lp))
}

/// Selects the pane, then attaches this terminal to it (or switches the client, inside tmux);
/// returns when the user detaches. Shared by `attach` and `pane interact`.
pub async fn attach_to(tmux: &crate::tmux::Tmux, lp: &crate::tmux::LivePane) -> Result {
    let select = [
        Cmd::new("select-window").opt("-t", lp.window_id.clone()),
        Cmd::new("select-pane").opt("-t", lp.pane_id.clone()),
    ];
    tmux.run(&select).await.map_err(|e| e.into_error("selecting the pane"))?;
    let verb = if std::env::var_os("TMUX").is_some() { "switch-client" } else { "attach-session" };
    let status = std::process::Command::new(tmux.binary())
        .args(tmux.socket.flags())
        .args([verb, "-t", &lp.pane_id])
        .status()
        .map_err(|e| Error::failed(format!("cannot run tmux: {e}"), None))?;
    if status.success() {
        Ok(Exit::Ok)
    } else {
        Err(Error::failed(format!("tmux {verb} failed (is this a terminal?)"), None))
    }
}
