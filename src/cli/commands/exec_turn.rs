//! A timed-out `pane exec --wait` leaves its command running in the pane; the next exec on the
//! pane then waits for that command (within its own timeout) instead of answering `pane_busy`.
//!
//! The exec that gives up writes the process group it leaves running into
//! `$RUNTIME/exec/<server>-<pane>.left` (under the pane's lock). The next exec, holding the lock,
//! finds that group still in the terminal's foreground and waits for its processes to exit
//! (pidfds, no polling) and for the shell to take the terminal back. Any other foreground
//! program (an editor, a REPL the user started) is still refused as `pane_busy` at once.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::tmux::LivePane;

fn path(server_key: &str, pane_id: &str) -> Option<PathBuf> {
    let dir = crate::daemon::paths::runtime_dir().ok()?.join("exec");
    Some(dir.join(format!("{server_key}-{}.left", pane_id.trim_start_matches('%'))))
}

/// Records that the command an exec typed into `lp` still runs as its shell's foreground group.
/// The command may not have started yet (typed a moment before the timeout, on a loaded machine
/// the shell forks it later): until it does, for up to half a second, the shell itself is the
/// foreground group, and recording nothing then would let the next exec find it busy.
pub async fn leave(server_key: &str, lp: &LivePane) {
    // The shell (a managed pane's own process is the runner it runs under).
    let shell = crate::process::command_of(lp.pid);
    let until = Instant::now() + Duration::from_millis(500);
    let group = loop {
        match crate::process::foreground_group(shell) {
            Some(g) if g != shell => break g,
            None => return,
            Some(_) if Instant::now() >= until => return,
            Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    if let Some(p) = path(server_key, &lp.pane_id) {
        let _ = std::fs::write(p, format!("{shell} {group}\n"));
    }
}

/// Waits until the command an earlier exec left running in `lp` has finished and the shell has
/// the terminal back, or until `deadline`; `false` when the deadline came first. Returns at
/// once when no exec left anything (or what it left is gone).
pub async fn wait_previous(server_key: &str, lp: &LivePane, deadline: Option<Instant>) -> bool {
    let Some(p) = path(server_key, &lp.pane_id) else { return true };
    let Ok(text) = std::fs::read_to_string(&p) else { return true };
    let _ = std::fs::remove_file(&p);
    let mut words = text.split_whitespace().filter_map(|w| w.parse::<u32>().ok());
    let (Some(shell), Some(group)) = (words.next(), words.next()) else { return true };
    if shell != crate::process::command_of(lp.pid) || crate::process::foreground_group(shell) != Some(group) {
        return true;
    }
    let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let members = async {
        // The typed line may run several jobs one after another (`a; b`): each is waited for
        // in turn, until the shell has the terminal back.
        let mut group = group;
        loop {
            for pid in crate::process::group_members(group) {
                if let Ok(exited) = crate::process::exit_of(pid) {
                    exited.await;
                }
            }
            // The shell takes the terminal back right after its job ends (or starts the next).
            let back = Instant::now() + Duration::from_secs(2);
            while crate::process::foreground_group(shell) == Some(group) && Instant::now() < back {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            match crate::process::foreground_group(shell) {
                Some(next) if next != shell && next != group => group = next,
                _ => break,
            }
        }
    };
    let done = match left() {
        Some(l) => tokio::time::timeout(l, members).await.is_ok(),
        None => {
            members.await;
            true
        }
    };
    if !done && let Some(p) = path(server_key, &lp.pane_id) {
        // Still running: the next exec waits for it too.
        let _ = std::fs::write(p, text);
    }
    done
}
