//! Shell integration for the shells ctmux starts: a small hook that emits OSC 133 marks
//! (`A` prompt start, `B` input start, `C` output start, `D;<status>` finished), so
//! `pane exec` can type just the command and still know where its output starts and ends and
//! how it exited.
//!
//! bash: ctmux starts it with `--rcfile` naming a file of ours that runs the
//! user's own startup files first (`~/.bashrc`, or the login files for a login shell) and then
//! installs the hook once (a `.bashrc` that resets `PROMPT_COMMAND` cannot remove it, and
//! sourcing it twice does not double the marks). `D` is emitted only after a `C` (the PS0 of a
//! line that runs), with the status read first thing in `PROMPT_COMMAND`; every mark carries
//! `aid=<shell pid>` so a nested shell's marks are told apart. zsh: started with `ZDOTDIR`
//! pointing at our files, which run the user's own (`.zshenv`, `.zprofile`, `.zshrc`,
//! `.zlogin`), install `precmd`/`preexec` functions after `.zshrc` (ours first in
//! `precmd_functions`, to read `$?`, and last, to mark the prompt), and give `ZDOTDIR` back.
//! Other shells (fish ≥ 4 marks by itself; dash, ksh… have no hooks) get none, and `pane exec`
//! falls back to its typed wrapper there.
//!
//! The files live in `<state dir>/shell/` (mode 0700), rewritten atomically when their content
//! differs from this build's. A pane's shell is hooked when its own command line names our rc
//! file ([`hooked`]): that is the process now in the pane, not one that replaced it.

use std::path::{Path, PathBuf};

/// The hook itself, sourced after the user's files.
const HOOK_BASH: &str = r#"# Written by ctmux: OSC 133 shell integration (prompt/command marks, invisible on screen).
# `ctmux pane exec` reads them to find a command's output and exit status. Installed once.
if [ -z "${__ctmux_hooked-}" ] && [ -n "${BASH_VERSION-}" ]; then
  __ctmux_hooked=1
  __ctmux_ran=
  __ctmux_precmd() {
    local s=$?
    if [ -n "$__ctmux_ran" ]; then
      __ctmux_ran=
      builtin printf '\033]133;D;%s;aid=%s\033\\' "$s" "$$"
    fi
    return $s
  }
  __ctmux_prompt() {
    local s=$?
    # Once, before the first prompt's marks: tell ctmux (the pane option @ctmux-prompt) that
    # this shell reads commands now.
    if [ -z "${__ctmux_prompted-}" ]; then
      __ctmux_prompted=1
      [ -n "${TMUX_PANE-}" ] && command tmux set-option -p -t "$TMUX_PANE" @ctmux-prompt "$$" >/dev/null 2>&1
    fi
    builtin printf '\033]133;A;aid=%s\033\\' "$$"
    case "$PS1" in
      *'133;B;aid='*) ;;
      *) PS1="$PS1"'\[\033]133;B;aid='"$$"'\033\\\]' ;;
    esac
    return $s
  }
  if shopt -q promptvars; then
    PS0="${PS0-}"'${__ctmux_ran:0:$((__ctmux_ran=1,0))}\033]133;C;aid='"$$"'\033\\'
  else
    __ctmux_ran=1
    PS0="${PS0-}"'\033]133;C;aid='"$$"'\033\\'
  fi
  if [[ "${PROMPT_COMMAND@a}" == *a* ]]; then
    PROMPT_COMMAND=(__ctmux_precmd "${PROMPT_COMMAND[@]}" __ctmux_prompt)
  else
    PROMPT_COMMAND="__ctmux_precmd${PROMPT_COMMAND:+
$PROMPT_COMMAND}
__ctmux_prompt"
  fi
fi
"#;

/// `--rcfile` of an interactive (non-login) bash: `~/.bashrc`, then the hook.
const RC_BASH: &str = r#"# Written by ctmux for the interactive bash shells it starts: your ~/.bashrc, then the hook.
[ -r ~/.bashrc ] && . ~/.bashrc
. "${BASH_SOURCE[0]%/*}/hook.bash"
"#;

/// `--rcfile` of what would have been a login bash: the login files, as bash reads them.
const LOGIN_BASH: &str = r#"# Written by ctmux for the login bash shells it starts: the login files bash would read, then the hook.
[ -r /etc/profile ] && . /etc/profile
if [ -r ~/.bash_profile ]; then . ~/.bash_profile
elif [ -r ~/.bash_login ]; then . ~/.bash_login
elif [ -r ~/.profile ]; then . ~/.profile
fi
. "${BASH_SOURCE[0]%/*}/hook.bash"
"#;

/// zsh's `ZDOTDIR` files: each runs the user's file of the same name (with `ZDOTDIR` set to the
/// user's while it runs), `.zshrc` then installs the hook, and the last file read gives the
/// user's `ZDOTDIR` back (unset when it was `$HOME`), so child shells start as the user's.
const ZSHENV: &str = r#"# Written by ctmux: the ZDOTDIR of the zsh shells it starts. Your own files run as usual.
__ctmux_zdir=$ZDOTDIR
__ctmux_user=${CTMUX_USER_ZDOTDIR:-$HOME}
unset CTMUX_USER_ZDOTDIR
__ctmux_restore() {
  if [[ $__ctmux_user == $HOME ]]; then unset ZDOTDIR; else export ZDOTDIR=$__ctmux_user; fi
}
ZDOTDIR=$__ctmux_user; [[ -r $ZDOTDIR/.zshenv ]] && source $ZDOTDIR/.zshenv; __ctmux_user=$ZDOTDIR; ZDOTDIR=$__ctmux_zdir
[[ -o interactive ]] || __ctmux_restore
"#;
const ZPROFILE: &str = r#"# Written by ctmux (see .zshenv).
ZDOTDIR=$__ctmux_user; [[ -r $ZDOTDIR/.zprofile ]] && source $ZDOTDIR/.zprofile; __ctmux_user=$ZDOTDIR; ZDOTDIR=$__ctmux_zdir
"#;
const ZSHRC: &str = r#"# Written by ctmux (see .zshenv): your .zshrc, then the hook.
ZDOTDIR=$__ctmux_user; [[ -r $ZDOTDIR/.zshrc ]] && source $ZDOTDIR/.zshrc; __ctmux_user=$ZDOTDIR; ZDOTDIR=$__ctmux_zdir
source $__ctmux_zdir/hook.zsh
[[ -o login ]] || __ctmux_restore
"#;
const ZLOGIN: &str = r#"# Written by ctmux (see .zshenv).
ZDOTDIR=$__ctmux_user; [[ -r $ZDOTDIR/.zlogin ]] && source $ZDOTDIR/.zlogin; __ctmux_user=$ZDOTDIR; ZDOTDIR=$__ctmux_zdir
__ctmux_restore
"#;
const HOOK_ZSH: &str = r#"# Written by ctmux: OSC 133 shell integration (prompt/command marks, invisible on screen).
if [[ -z ${__ctmux_hooked-} ]]; then
  typeset -g __ctmux_hooked=1 __ctmux_ran=
  __ctmux_precmd() {
    local s=$?
    if [[ -n $__ctmux_ran ]]; then
      typeset -g __ctmux_ran=
      builtin printf '\033]133;D;%s;aid=%s\033\\' $s $$
    fi
    return $s
  }
  __ctmux_prompt() {
    local s=$?
    if [[ -z ${__ctmux_prompted-} ]]; then
      typeset -g __ctmux_prompted=1
      [[ -n ${TMUX_PANE-} ]] && command tmux set-option -p -t "$TMUX_PANE" @ctmux-prompt "$$" >/dev/null 2>&1
    fi
    builtin printf '\033]133;A;aid=%s\033\\' $$
    [[ $PS1 == *'133;B;aid='* ]] || PS1="$PS1%{"$'\033]133;B;aid='$$$'\033\\'"%}"
    return $s
  }
  __ctmux_preexec() {
    typeset -g __ctmux_ran=1
    builtin printf '\033]133;C;aid=%s\033\\' $$
  }
  precmd_functions=(__ctmux_precmd ${precmd_functions[@]} __ctmux_prompt)
  preexec_functions+=(__ctmux_preexec)
fi
"#;

/// The pane option a hooked shell sets to its pid at its first prompt.
pub const PROMPT_OPTION: &str = "@ctmux-prompt";

/// Shells ctmux can hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GNU bash (`--rcfile`).
    Bash,
    /// zsh (`ZDOTDIR`).
    Zsh,
}

/// The hookable shell `program` names (a path or a name), if any.
pub fn kind(program: &str) -> Option<Kind> {
    match Path::new(program).file_name()?.to_str()?.trim_start_matches('-') {
        "bash" => Some(Kind::Bash),
        "zsh" => Some(Kind::Zsh),
        _ => None,
    }
}

/// The directory of the hook files (not created).
pub fn dir() -> PathBuf {
    crate::state::dir().join("shell")
}

/// Writes the hook files where they are missing or differ (atomically: a temporary file
/// renamed over), in a 0700 directory; returns that directory.
pub fn ensure() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let dir = dir();
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    let meta = std::fs::symlink_metadata(&dir)?;
    // SAFETY: getuid(2) cannot fail and touches no memory.
    if !meta.is_dir() || meta.uid() != unsafe { libc::getuid() } || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("refusing {}: not a private directory of yours", dir.display()),
        ));
    }
    for (name, content) in [("hook.bash", HOOK_BASH), ("rc.bash", RC_BASH), ("login.bash", LOGIN_BASH)] {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|c| c == content.as_bytes()) {
            continue;
        }
        crate::state::write_atomic(&path, content.as_bytes())?;
    }
    let zdir = dir.join("zsh");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&zdir)?;
    for (name, content) in
        [(".zshenv", ZSHENV), (".zprofile", ZPROFILE), (".zshrc", ZSHRC), (".zlogin", ZLOGIN), ("hook.zsh", HOOK_ZSH)]
    {
        let path = zdir.join(name);
        if std::fs::read(&path).is_ok_and(|c| c == content.as_bytes()) {
            continue;
        }
        crate::state::write_atomic(&path, content.as_bytes())?;
    }
    Ok(dir)
}

/// Shell text that replaces `exec "$0"` (the shell program in `$0`) at the end of a POSIX
/// `sh -c` script so the shell it becomes is interactive with the hook, the files written
/// first; `None` when they cannot be written (the shell then starts unhooked).
pub fn exec_line(kind: Kind, login: bool) -> Option<String> {
    use crate::tmux::command::sh_quote;
    let dir = ensure().ok()?;
    let login_flag = if login { " -l" } else { "" };
    Some(match kind {
        Kind::Bash => {
            let rc = dir.join(if login { "login.bash" } else { "rc.bash" });
            format!("exec \"$0\" --rcfile {}", sh_quote(&rc.to_string_lossy()))
        }
        Kind::Zsh => format!(
            "export CTMUX_USER_ZDOTDIR=\"${{ZDOTDIR-$HOME}}\" ZDOTDIR={}; exec \"$0\"{login_flag}",
            sh_quote(&dir.join("zsh").to_string_lossy())
        ),
    })
}

/// The argv that starts `program` (a shell of `kind`) interactive with the hook.
pub fn argv(kind: Kind, program: &str, login: bool) -> Option<Vec<String>> {
    let line = exec_line(kind, login)?;
    Some(match kind {
        Kind::Bash => {
            let rc = dir().join(if login { "login.bash" } else { "rc.bash" });
            vec![program.to_string(), "--rcfile".into(), rc.to_string_lossy().into_owned()]
        }
        Kind::Zsh => vec!["/bin/sh".into(), "-c".into(), line, program.to_string()],
    })
}

/// Whether process `pid` is a shell started with our hook: its own command line names one of
/// our rc files (a shell that `exec`ed another one no longer does).
pub fn hooked(pid: u32) -> Option<Kind> {
    let argv = crate::process::cmdline(pid)?;
    let program = argv.first()?;
    let kind = kind(program).or_else(|| crate::process::comm(pid).and_then(|c| kind(&c)))?;
    let ours = dir();
    match kind {
        Kind::Bash => argv
            .windows(2)
            .any(|w| w[0] == "--rcfile" && Path::new(&w[1]).parent() == Some(ours.as_path()))
            .then_some(Kind::Bash),
        // The environment it was started with (a zsh it `exec`s gets the user's ZDOTDIR back).
        Kind::Zsh => {
            let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let want = format!("ZDOTDIR={}", ours.join("zsh").to_string_lossy());
            env.split(|b| *b == 0).any(|v| v == want.as_bytes()).then_some(Kind::Zsh)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_are_known_by_name_or_path() {
        assert_eq!(kind("/usr/bin/bash"), Some(Kind::Bash));
        assert_eq!(kind("-bash"), Some(Kind::Bash));
        assert_eq!(kind("bash"), Some(Kind::Bash));
        assert_eq!(kind("/bin/sh"), None);
        assert_eq!(kind("zsh"), Some(Kind::Zsh));
        assert_eq!(kind("fish"), None);
    }

    #[test]
    fn the_hook_marks_a_command_with_its_status_and_never_twice() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook.bash"), HOOK_BASH).unwrap();
        // Sourced twice, as a .bashrc that sources itself would: one hook. (Marks are counted by
        // `]133;`: the aid is a pid, which can hold the digits 133.)
        let script = format!(
            ". {d}/hook.bash; . {d}/hook.bash; echo \"$PROMPT_COMMAND\" | grep -c __ctmux_precmd; echo \"$PS0\" | grep -o ']133;' | wc -l",
            d = dir.path().display()
        );
        let out = std::process::Command::new("bash").args(["--norc", "-c", &script]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n1\n", "{}", String::from_utf8_lossy(&out.stderr));
    }
}
