//! Typed tmux commands and the one quoting rule for sending them.
//!
//! Commands travel as argv to one `tmux` process, chained with `;` arguments, so no shell and no
//! tmux command-line parser touches them: quotes, `$`, `#`, newlines and unicode arrive intact.
//! The one exception is tmux's chaining itself: an argument ending in `;` ends the command unless
//! the `;` is escaped as `\;` (tmux's `cmd_parse_from_arguments`), which [`escape_arg`] does.

/// One tmux command: its words and whether it changes the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The command name and arguments, unescaped.
    pub args: Vec<String>,
    /// False for read-only commands (lists, captures); counted separately for idempotence checks.
    pub mutating: bool,
    /// Must run in the same tmux call as the command before it (e.g. `remain-on-exit` right after
    /// the pane is created, before tmux can process its exit).
    pub sticky: bool,
}

impl Cmd {
    /// A state-changing command.
    pub fn new(name: &str) -> Self {
        Cmd { args: vec![name.to_string()], mutating: true, sticky: false }
    }

    /// A read-only command.
    pub fn query(name: &str) -> Self {
        Cmd { args: vec![name.to_string()], mutating: false, sticky: false }
    }

    /// Marks the command as [`Cmd::sticky`].
    pub fn sticky(mut self) -> Self {
        self.sticky = true;
        self
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends a flag and its value.
    pub fn opt(self, flag: &str, value: impl Into<String>) -> Self {
        self.arg(flag).arg(value)
    }

    /// Appends several arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// Escapes an argument for an argv-chained tmux invocation (see the module docs).
pub fn escape_arg(arg: &str) -> String {
    match arg.strip_suffix(';') {
        Some(rest) => format!("{rest}\\;"),
        None => arg.to_string(),
    }
}

/// `text` as a literal inside an argument tmux expands as a format (`-c` directories, `-s`/`-n`
/// names, `-F`, `pipe-pane` commands): `#` doubled, so `#S` or `#{…}` in a path or name stays
/// text instead of becoming the session name.
pub fn literal(text: &str) -> String {
    text.replace('#', "##")
}

/// `text` as a literal inside a `display-message` message, which tmux also runs through
/// strftime(3) before expanding it: `%` is doubled as well, or a pane id such as `%3` would come
/// back as a date field.
pub fn message_literal(text: &str) -> String {
    literal(text).replace('%', "%%")
}

/// Most bytes of argv we send in one tmux call: the client passes its argv to the server in one
/// imsg of at most 16 KiB (`MAX_IMSGSIZE`), and refuses more with "command too long".
pub const MAX_CALL_BYTES: usize = 14_000;

/// Splits `cmds` into calls that each fit in [`MAX_CALL_BYTES`], never separating a sticky
/// command from the one before it.
pub fn split_calls(cmds: &[Cmd]) -> Vec<&[Cmd]> {
    split_calls_within(cmds, MAX_CALL_BYTES)
}

/// [`split_calls`] with room left for commands the caller adds to each call.
pub fn split_calls_within(cmds: &[Cmd], max: usize) -> Vec<&[Cmd]> {
    let size = |c: &Cmd| c.args.iter().map(|a| a.len() + 3).sum::<usize>();
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, cmd) in cmds.iter().enumerate() {
        let n = size(cmd);
        if i > start && !cmd.sticky && bytes + n > max {
            calls.push(&cmds[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += n;
    }
    if start < cmds.len() {
        calls.push(&cmds[start..]);
    }
    calls
}

/// The argv (after `tmux` and socket flags) that runs `cmds` in order in one process.
pub fn chain(cmds: &[Cmd]) -> Vec<String> {
    let mut argv = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        if i > 0 {
            argv.push(";".to_string());
        }
        argv.extend(cmd.args.iter().map(|a| escape_arg(a)));
    }
    argv
}

/// Quotes a string for `sh` (used for `pipe-pane` and hook commands, which tmux runs with sh).
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_semicolons_are_escaped_and_chaining_uses_bare_semicolons() {
        let cmds = [Cmd::new("a").arg("x;"), Cmd::new("b").arg(";").arg("y")];
        assert_eq!(chain(&cmds), ["a", "x\\;", ";", "b", "\\;", "y"]);
    }

    #[test]
    fn calls_are_split_by_size_but_never_before_a_sticky_command() {
        let big = "x".repeat(MAX_CALL_BYTES / 3);
        let cmds: Vec<Cmd> = (0..6)
            .map(|i| if i % 2 == 1 { Cmd::new("b").arg(big.clone()).sticky() } else { Cmd::new("a").arg(big.clone()) })
            .collect();
        let calls = split_calls(&cmds);
        assert!(calls.len() > 1);
        for call in &calls {
            assert!(!call[0].sticky, "a call starts with a sticky command");
        }
        assert_eq!(calls.iter().map(|c| c.len()).sum::<usize>(), 6);
    }

    #[test]
    fn literals_double_format_and_strftime_characters() {
        assert_eq!(literal("/srv/a#S/%3"), "/srv/a##S/%3");
        assert_eq!(message_literal("\x1fmark\x1f%13#{x}"), "\x1fmark\x1f%%13##{x}");
    }

    #[test]
    fn sh_quote_round_trips_through_sh() {
        for s in ["plain", "it's", "a b", "$(touch x)", "", "ünï"] {
            let out =
                std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", sh_quote(s))).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }
}
