//! What `pane exec` checks before it types: the words to type, whether the pane holds an idle
//! shell we can drive, whether that text is complete shell syntax, and a per-pane lock.
//!
//! Typing into a pane is only safe when the pane's shell is waiting at its prompt: otherwise
//! the keys go to whatever runs in the foreground (an editor, a REPL, a password prompt). The
//! kernel says who owns the terminal: the foreground process group of the pane's tty (`tpgid`
//! in `/proc/PID/stat`). The shell is idle when that group is its own, or when the group it
//! handed the terminal to has no live process left (the shell is about to take it back).

use std::fs::File;
use std::path::PathBuf;

use crate::error::Error;
use crate::tmux::LivePane;
use crate::tmux::command::sh_quote;

/// Shells whose syntax the typed wrapper (`printf …; eval '…'; printf … "$?"`) is written in.
const POSIX_SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash"];

/// The shell text for the words after `--`: one word is shell text as given (`'make && x'`);
/// several are an argv, each quoted for the shell so it stays one word (as `ssh` and `docker
/// exec` treat them, but never re-split).
pub fn shell_text(words: &[String]) -> String {
    match words {
        [one] => one.clone(),
        many => many.iter().map(|w| sh_quote(w)).collect::<Vec<_>>().join(" "),
    }
}

/// The pane's shell, found idle at its prompt.
#[derive(Debug)]
pub struct Shell {
    /// Its executable (`/proc/PID/exe`), for the syntax check.
    pub exe: Option<PathBuf>,
}

/// What runs in the pane, for a refusal: its command line, shortened.
fn describe(pid: u32) -> String {
    let text = crate::process::cmdline(pid)
        .map(|a| a.join(" "))
        .or_else(|| crate::process::comm(pid))
        .unwrap_or_else(|| format!("pid {pid}"));
    if text.chars().count() > 60 { format!("{}…", text.chars().take(59).collect::<String>()) } else { text }
}

fn busy(lp: &LivePane, what: String, pid: u32) -> Error {
    Error::Refused {
        code: "pane_busy",
        message: format!("{} is busy: `{what}` (pid {pid}) runs in it, not an idle shell", lp.pane_id),
        hint: Some(
            "wait for it (`ctmux pane wait T --exit`), stop it (`ctmux pane send-keys T C-c`), or type anyway with --force"
                .into(),
        ),
    }
}

/// Checks that `lp` holds an interactive POSIX shell at its prompt: `pane_busy` when the pane
/// runs something else (in the foreground, or as its own process), `unsupported_shell` for a
/// shell with another syntax (fish, nu…).
pub fn idle_shell(lp: &LivePane) -> Result<Shell, Error> {
    idle_shell_after(lp, false)
}

/// [`idle_shell`], for a shell known to have shown its prompt (`prompted`: its hook said so),
/// where processes left in its own group by its startup files no longer mean it is busy.
pub fn idle_shell_after(lp: &LivePane, prompted: bool) -> Result<Shell, Error> {
    // The shell (a managed pane's own process is the runner it runs under).
    let pid = crate::process::command_of(lp.pid);
    drivable(lp)?;
    // A shell still running its startup files (or any command without job control) runs
    // children in its own group and reads no input yet.
    if let Some(&child) = startup_children(pid).first().filter(|_| !prompted) {
        return Err(busy(lp, describe(child), child));
    }
    if let Some(group) = crate::process::foreground_group(pid)
        && group != pid
        // A member without a command line has released its memory: it is exiting.
        && let Some(&leader) =
            crate::process::group_members(group).iter().find(|&&m| crate::process::cmdline(m).is_some())
    {
        let shown = if crate::process::alive(group) { group } else { leader };
        return Err(busy(lp, describe(shown), shown));
    }
    Ok(Shell { exe: std::fs::read_link(format!("/proc/{pid}/exe")).ok() })
}

/// Checks that the pane's own process is an interactive POSIX shell (not a program, not a
/// shell running a command or script), which no waiting would change.
pub fn drivable(lp: &LivePane) -> Result<(), Error> {
    let pid = crate::process::command_of(lp.pid);
    let argv = crate::process::cmdline(pid).unwrap_or_default();
    let name = crate::process::comm(pid).unwrap_or_default();
    let name = name.trim_start_matches('-');
    if !POSIX_SHELLS.contains(&name) {
        if matches!(name, "fish" | "nu" | "elvish" | "xonsh" | "pwsh" | "tcsh" | "csh") {
            return Err(Error::Refused {
                code: "unsupported_shell",
                message: format!(
                    "{} runs {name}, whose syntax pane exec does not speak (it types POSIX sh)",
                    lp.pane_id
                ),
                hint: Some("`ctmux pane send-keys T --literal TEXT` then `Enter` types into any program".into()),
            });
        }
        return Err(busy(lp, describe(pid), pid));
    }
    if runs_a_script(&argv) {
        return Err(busy(lp, describe(pid), pid));
    }
    Ok(())
}

/// Whether a shell's arguments make it run a command (`sh -c CMD`, `bash -lc CMD`) or a script
/// file (`bash run.sh`) rather than read a prompt (`bash -l`, `bash --rcfile F -i`).
fn runs_a_script(argv: &[String]) -> bool {
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rcfile" | "--init-file" | "-o" | "+o" | "-O" | "+O" => {
                args.next();
            }
            "--" => return args.next().is_some(),
            a if a.starts_with("--") => {}
            a if a.starts_with('-') || a.starts_with('+') => {
                if a[1..].contains('c') {
                    return true;
                }
            }
            _ => return true,
        }
    }
    false
}

/// Live processes in the shell's own process group other than the shell: what it runs before
/// its first prompt (`.profile`, `.bashrc` helpers). At the prompt, a job-control shell puts
/// every job in a group of its own.
pub fn startup_children(shell: u32) -> Vec<u32> {
    crate::process::group_members(shell)
        .into_iter()
        .filter(|&p| p != shell && crate::process::cmdline(p).is_some())
        .collect()
}

/// Refuses text the shell would not run as one complete command (an unbalanced quote, a
/// dangling `&&`): typed, it would leave the shell waiting for more input forever. The pane's
/// own shell parses it with `-n` (read, do not execute).
pub async fn check_syntax(shell: &Shell, text: &str) -> Result<(), Error> {
    let Some(exe) = &shell.exe else { return Ok(()) };
    let run = tokio::process::Command::new(exe)
        .args(["-n", "-c", text])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let Ok(Ok(out)) = tokio::time::timeout(std::time::Duration::from_secs(5), run).await else { return Ok(()) };
    if out.status.success() {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(Error::Usage {
        message: format!("the command is not complete shell syntax: {why}"),
        hint: Some("typed as is it would leave the shell waiting for more input; check its quotes".into()),
    })
}

/// How the command reaches the shell. Short single-line text is typed as it is, so a person
/// watching the pane reads it. Anything else (newlines, tabs, control characters, over 1 KiB)
/// is put in a tmux buffer that the shell reads back with `tmux show-buffer` (the pane's `$TMUX`
/// names the server): pasted into a terminal in canonical mode (`dash`, `sh`), long input
/// overflows the tty's 4 KiB line buffer and is lost, leaving the shell waiting forever.
pub struct Delivery {
    /// What to type.
    pub line: String,
    /// The tmux buffer to load first, and its content.
    pub buffer: Option<(String, String)>,
}

/// Whether `text` can be typed as is.
fn typable(text: &str) -> bool {
    text.len() <= 1024 && !text.chars().any(char::is_control)
}

/// The shell words that yield the command for `eval`.
fn source(text: &str, tmux: &str, buffer: &str) -> String {
    if typable(text) {
        sh_quote(text)
    } else {
        let t = sh_quote(tmux);
        format!("\"$({t} show-buffer -b {buffer} && {t} delete-buffer -b {buffer})\"")
    }
}

/// The command typed as is (short text), or read from a tmux buffer; no markers.
pub fn plain(text: &str, tmux: &str, buffer: &str) -> Delivery {
    if typable(text) {
        return Delivery { line: format!(" {text}"), buffer: None };
    }
    Delivery {
        line: format!(" eval {}", source(text, tmux, buffer)),
        buffer: Some((buffer.to_string(), text.to_string())),
    }
}

/// The line typed into the shell: markers around the command, then its status. The markers are
/// typed as octal escapes (`\103` is `C`) so the shell's echo of the typed line never looks like
/// them; the command runs through `eval` of one word, so a multi-line command is read whole
/// before any of it runs, and `$?` after it is its status.
pub fn wrapped(id: &str, text: &str, tmux: &str, buffer: &str) -> Delivery {
    let line = format!(
        " printf '\\103TMUX-BEGIN-{id}\\n'; eval {}; printf '\\103TMUX-END-{id} %s\\n' \"$?\"",
        source(text, tmux, buffer)
    );
    Delivery { line, buffer: (!typable(text)).then(|| (buffer.to_string(), text.to_string())) }
}

/// `text` shortened for a message.
pub fn shown(text: &str) -> String {
    let one: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one.chars().count() > 80 { format!("{}…", one.chars().take(79).collect::<String>()) } else { one }
}

/// An exclusive lock on one pane of one server: `exec`s on a pane take turns, so one's markers
/// and output capture never mix with another's. One file per server, one byte per pane (`%12`
/// locks byte 12) with an open-file-description lock (`F_OFD_SETLK`), so locks leave no file
/// per pane behind. Released when dropped, and by the kernel if we die.
pub struct PaneLock {
    _file: File,
}

fn lock_file(server_key: &str) -> Result<File, Error> {
    let dir = crate::daemon::paths::runtime_dir()
        .map(|d| d.join("exec"))
        .and_then(|d| crate::fs_safe::create_dir_all(&d))
        .map_err(|e| Error::failed(format!("cannot create the runtime directory: {e}"), None))?;
    let path = dir.join(format!("{server_key}.lock"));
    // 0600 in a 0700 directory, no symlink followed ([`crate::fs_safe`]).
    crate::fs_safe::open_lock(&path)
        .map_err(|e| Error::failed(format!("cannot open lock {}: {e}", path.display()), None))
}

/// Locks byte `%N` of `file`, waiting for it when `wait`; `Ok(false)` when another holds it.
fn lock_byte(file: &File, pane_id: &str, wait: bool) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let n: libc::off_t = pane_id.trim_start_matches('%').parse().unwrap_or(0);
    // SAFETY: an all-zero flock is valid; the fields we need are set below.
    let mut range: libc::flock = unsafe { std::mem::zeroed() };
    range.l_type = libc::F_WRLCK as libc::c_short;
    range.l_whence = libc::SEEK_SET as libc::c_short;
    range.l_start = n;
    range.l_len = 1;
    let cmd = if wait { libc::F_OFD_SETLKW } else { libc::F_OFD_SETLK };
    loop {
        // SAFETY: fcntl reads the flock we own, on a descriptor `file` keeps open.
        if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &range) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EAGAIN | libc::EACCES) if !wait => return Ok(false),
            _ => return Err(e),
        }
    }
}

impl PaneLock {
    /// Waits (up to `timeout`) for the pane's lock; `Ok(None)` when the time ran out.
    pub async fn wait(
        server_key: &str,
        pane_id: &str,
        timeout: Option<std::time::Duration>,
    ) -> Result<Option<PaneLock>, Error> {
        if let Some(lock) = PaneLock::try_take(server_key, pane_id)? {
            return Ok(Some(lock));
        }
        let file = lock_file(server_key)?;
        let pane = pane_id.to_string();
        // A plain thread: a runtime's blocking pool would keep the process alive after a timeout.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(lock_byte(&file, &pane, true).map(|_| file));
        });
        let got = match timeout {
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(got) => got,
                Err(_) => return Ok(None),
            },
            None => rx.await,
        };
        match got {
            Ok(Ok(file)) => Ok(Some(PaneLock { _file: file })),
            Ok(Err(e)) => Err(Error::failed(format!("cannot lock the pane: {e}"), None)),
            Err(_) => Err(Error::failed("cannot lock the pane", None)),
        }
    }

    /// Takes the pane's lock if no other `exec` holds it; `Ok(None)` when one does.
    pub fn try_take(server_key: &str, pane_id: &str) -> Result<Option<PaneLock>, Error> {
        let file = lock_file(server_key)?;
        match lock_byte(&file, pane_id, false) {
            Ok(true) => Ok(Some(PaneLock { _file: file })),
            Ok(false) => Ok(None),
            Err(e) => Err(Error::failed(format!("cannot lock the pane: {e}"), None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_with_a_command_or_a_script_is_not_at_a_prompt() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for prompt in
            [&["-bash"][..], &["bash", "-l"], &["bash", "--rcfile", "/x/rc", "-i"], &["sh"], &["zsh", "-o", "vi"]]
        {
            assert!(!runs_a_script(&v(prompt)), "{prompt:?}");
        }
        for script in [&["sh", "-c", "sleep 1"][..], &["bash", "-lc", "x"], &["bash", "run.sh"], &["sh", "--", "x.sh"]]
        {
            assert!(runs_a_script(&v(script)), "{script:?}");
        }
    }

    #[test]
    fn one_word_is_shell_text_and_several_are_an_argv() {
        assert_eq!(shell_text(&["echo a; echo b".into()]), "echo a; echo b");
        let argv: Vec<String> = ["sh", "-c", "echo hi; exit 3"].iter().map(|s| s.to_string()).collect();
        assert_eq!(shell_text(&argv), "sh -c 'echo hi; exit 3'");
    }

    #[test]
    fn the_wrapper_runs_multi_line_text_whole_and_reports_its_status() {
        let short = wrapped("7", "echo 'a b'; (exit 4)", "tmux", "B");
        assert!(short.buffer.is_none());
        let out = std::process::Command::new("sh").arg("-c").arg(&short.line).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "CTMUX-BEGIN-7\na b\nCTMUX-END-7 4\n");
        // Multi-line text goes through the buffer; a stand-in `tmux` prints it back.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("tmux");
        std::fs::write(&fake, "#!/bin/sh\n[ \"$1\" = show-buffer ] && printf '%s' \"$CONTENT\"; exit 0\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let long = wrapped("8", "echo 'a\nb'\n(exit 5)", &fake.to_string_lossy(), "B");
        let (_, content) = long.buffer.clone().unwrap();
        let out = std::process::Command::new("sh").arg("-c").arg(&long.line).env("CONTENT", content).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "CTMUX-BEGIN-8\na\nb\nCTMUX-END-8 5\n");
    }
}
