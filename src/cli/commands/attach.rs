//! `ctmux attach [TARGET]`: attach (or switch this terminal's own client, inside tmux on the same
//! server) to the project and select a pane.

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

/// Selects the pane, then attaches this terminal to it; returns when the user detaches. Inside
/// tmux on the same server it switches this terminal's own client (`switch-client -c`), never
/// "the current client" (which can be the daemon's control client); inside another tmux server
/// it attaches nested (with `TMUX` unset for the child, as tmux requires). Shared by `attach`,
/// `pane interact` and `top`'s `a`.
pub async fn attach_to(tmux: &crate::tmux::Tmux, lp: &crate::tmux::LivePane) -> Result {
    let select = [
        Cmd::new("select-window").opt("-t", lp.window_id.clone()),
        Cmd::new("select-pane").opt("-t", lp.pane_id.clone()),
    ];
    tmux.run(&select).await.map_err(|e| e.into_error("selecting the pane"))?;
    let inside = std::env::var("TMUX").ok().filter(|t| !t.is_empty());
    let mut cmd = std::process::Command::new(tmux.binary());
    cmd.args(tmux.socket.flags());
    let verb = match inside {
        Some(outer) if same_server(&outer, &tmux.server_mark().await) => {
            let client = own_client(tmux).await?;
            cmd.args(["switch-client", "-c", &client, "-t", &lp.pane_id]);
            "switch-client"
        }
        _ => {
            cmd.env_remove("TMUX").args(["attach-session", "-t", &lp.pane_id]);
            "attach-session"
        }
    };
    let status = cmd.status().map_err(|e| Error::failed(format!("cannot run tmux: {e}"), None))?;
    if status.success() {
        Ok(Exit::Ok)
    } else {
        Err(Error::failed(format!("tmux {verb} failed (is this a terminal?)"), None))
    }
}

/// Whether `TMUX` (`<socket path>,<server pid>,<session>`) names the server `mark` identifies.
fn same_server(tmux_env: &str, mark: &crate::process::ServerMark) -> bool {
    let mut parts = tmux_env.rsplitn(3, ',');
    let (_, pid, path) = (parts.next(), parts.next(), parts.next());
    match (path, pid.and_then(|p| p.parse::<u32>().ok())) {
        (Some(path), Some(pid)) => *mark == crate::process::ServerMark::new(path, pid),
        _ => false,
    }
}

/// The name of the tmux client that shows this terminal's pane (`TMUX_PANE`): a client that is
/// not a control client, attached to the pane's session, the most recently active one.
async fn own_client(tmux: &crate::tmux::Tmux) -> std::result::Result<String, Error> {
    let pane = std::env::var("TMUX_PANE").unwrap_or_default();
    let not_found = || {
        Error::failed(
            "cannot tell which tmux client is this terminal's",
            Some("run `ctmux attach` from a pane of an attached session, or from outside tmux".into()),
        )
    };
    if !pane.starts_with('%') {
        return Err(not_found());
    }
    let session = Cmd::query("display-message").args(["-p", "-t", &pane, "#{session_id}"]);
    let session = tmux.run(&[session]).await.map_err(|e| e.into_error("reading this pane's session"))?;
    let format = "#{client_name}\t#{session_id}\t#{client_flags}\t#{client_activity}";
    let clients = Cmd::query("list-clients").args(["-F", format]);
    let out = tmux.run(&[clients]).await.map_err(|e| e.into_error("listing tmux clients"))?;
    pick_client(&out, session.trim()).ok_or_else(not_found)
}

/// From `list-clients` lines (`name\tsession\tflags\tactivity`), the most recently active
/// client of `session` that is not a control client.
fn pick_client(listing: &str, session: &str) -> Option<String> {
    listing
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let [name, s, flags, activity] = f[..] else { return None };
            let control = flags.split(',').any(|f| f == "control-mode");
            (s == session && !control).then(|| (activity.parse::<u64>().unwrap_or(0), name.to_string()))
        })
        .max()
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terminal_client_is_never_a_control_client() {
        let listing = "client-9\t$1\tattached,control-mode,read-only\t300\n/dev/pts/3\t$1\tattached,focused,UTF-8\t200\n/dev/pts/4\t$1\tattached\t250\n/dev/pts/5\t$2\tattached\t400\n";
        assert_eq!(pick_client(listing, "$1").as_deref(), Some("/dev/pts/4"));
        assert_eq!(pick_client("client-9\t$1\tcontrol-mode\t1\n", "$1"), None);
    }

    #[test]
    fn tmux_env_is_matched_on_socket_path_and_server_pid() {
        let mark = crate::process::ServerMark::new("/tmp/tmux-0/a,b", 42);
        assert!(same_server("/tmp/tmux-0/a,b,42,3", &mark));
        assert!(!same_server("/tmp/tmux-0/a,b,43,3", &mark));
        assert!(!same_server("/tmp/tmux-0/other,42,3", &mark));
        assert!(!same_server("garbage", &mark));
    }
}
