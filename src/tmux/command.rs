//! Typed tmux commands and the one quoting rule for sending them.
//!
//! Commands never travel as argv, where every local user can read them (`ps`, and the first
//! client's argv stays the server's `/proc/PID/cmdline` for its life): a batch is written as one
//! line of tmux's command language, each word quoted by [`quote`], to a 0600 file in the private
//! runtime directory, and `tmux source-file FILE` runs it ([`super::Tmux::run`]). On one line the
//! commands form one group, so tmux behaves as with argv-chained commands: a parse error runs
//! nothing, a failing command skips the rest, and the client exits 1 with tmux's message.

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

/// Why `cmd` must not be sent, when it is a `select-layout` whose layout tmux 3.3a could crash
/// on ([`super::layout::check`]).
pub fn bad_layout(cmd: &Cmd) -> Option<String> {
    if cmd.args.first().map(String::as_str) != Some("select-layout") {
        return None;
    }
    let mut rest = cmd.args[1..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "-t" => {
                rest.next();
            }
            f if f.starts_with('-') && f.len() > 1 => {}
            layout => return super::layout::check(layout).err().map(|e| format!("not sent to tmux: {e}")),
        }
    }
    None
}

/// `arg` as one word of tmux's command language (a `source-file` line), taken literally:
/// single-quoted runs, in which tmux 3.3a expands nothing (`$`, `~`, `#`, `;`, `{}`, `\\` stay
/// text), with each `'` written as `'\''` (close, escaped quote, reopen). Newlines and carriage
/// returns are written as the double-quoted escapes `"\n"` and `"\r"` between the runs: a
/// literal newline inside quotes makes tmux drop the whitespace that follows it (a script's
/// indentation) and a carriage return before it is lost. Adjacent quoted runs form one word.
pub fn quote(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        match c {
            '\'' => out.push_str(r"'\''"),
            '\n' => out.push_str("'\"\\n\"'"),
            '\r' => out.push_str("'\"\\r\"'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
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

/// Most bytes of commands sent in one tmux call. Commands go through a file, which tmux reads
/// whole, so this only bounds the memory one call asks of tmux (a 200 KB pane command is fine).
pub const MAX_CALL_BYTES: usize = 8 << 20;

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

/// The one line of tmux's command language that runs `cmds` in order, as one group.
pub fn script(cmds: &[Cmd]) -> String {
    let mut line = String::new();
    for (i, cmd) in cmds.iter().enumerate() {
        if i > 0 {
            line.push_str(" ; ");
        }
        let words: Vec<String> = cmd.args.iter().map(|a| quote(a)).collect();
        line.push_str(&words.join(" "));
    }
    line.push('\n');
    line
}

/// Does running `cmds` start a server when none runs (as tmux decides for argv commands)?
pub fn starts_server(cmds: &[Cmd]) -> bool {
    cmds.iter().any(|c| matches!(c.args.first().map(String::as_str), Some("new-session" | "start-server")))
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
    fn a_script_is_one_line_of_single_quoted_words() {
        let cmds = [Cmd::new("a").arg("x;"), Cmd::new("b").arg("it's\n#{x}").arg("")];
        assert_eq!(script(&cmds), "'a' 'x;' ; 'b' 'it'\\''s'\"\\n\"'#{x}' ''\n");
        assert!(starts_server(&[Cmd::query("list-panes"), Cmd::new("new-session")]));
        assert!(!starts_server(&[Cmd::query("list-panes")]));
    }

    /// Every value reaches tmux 3.3a through `source-file` exactly as argv would carry it.
    #[test]
    fn quoted_values_round_trip_through_a_real_tmux_source_file() {
        let values = [
            "plain",
            "",
            "''",
            "it's",
            "a\n    indented\n\tline\n",
            "\r\n  z\r",
            "$HOME ${HOME} ~ ~/x",
            "#{pane_id} #S ## #",
            "a ; b \\; c;",
            "{ x } {",
            "\\ \\\\ \\'",
            "\"dq\" \\\"",
            "%if 1\n%endif",
            "ünïcödé \x1f\x7f\x01",
        ];
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cmds");
        let socket = format!("ctmux-test-quote-{}", std::process::id());
        let mut cmds = vec![Cmd::new("new-session").args(["-d", "-s", "q"])];
        for (i, v) in values.iter().enumerate() {
            cmds.push(Cmd::new("set-option").args(["-t", "=q:", &format!("@v{i}"), v]));
        }
        std::fs::write(&file, script(&cmds)).unwrap();
        let tmux = |args: &[&str]| {
            std::process::Command::new("tmux").args(["-L", &socket, "-f", "/dev/null"]).args(args).output().unwrap()
        };
        let ran = tmux(&["start-server", ";", "source-file", file.to_str().unwrap()]);
        let mut got = Vec::new();
        for i in 0..values.len() {
            let out = tmux(&["show-options", "-v", "-t", "=q:", &format!("@v{i}")]);
            got.push(String::from_utf8_lossy(&out.stdout).strip_suffix('\n').unwrap_or_default().to_string());
        }
        tmux(&["kill-server"]);
        let _ = std::fs::remove_file(format!("/tmp/tmux-{}/{socket}", unsafe { libc::getuid() }));
        assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
        for (want, have) in values.iter().zip(&got) {
            assert_eq!(have, want);
        }
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
