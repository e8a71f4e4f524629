//! tmux's own options (as of tmux 3.3a) and the rules for setting them from a manifest.
//!
//! The table is tmux 3.3a's `options-table.c` (hooks left out): each option's name, the levels
//! it lives at and the values it takes. Lowering checks a manifest's `options:` against it, so a
//! name tmux does not know, an option at a level where tmux has none, or a flag, number or
//! choice tmux would refuse is a manifest error with its YAML location — never a tmux failure
//! half-way through `up`. [`normalize`] writes a value as tmux shows it back
//! (`show-options -v`), so `up` can tell a drifted option from one that is as the manifest says.

/// The option lives in the server's table (`set-option -s`).
pub const SERVER: u8 = 1;
/// The option lives in sessions (`set-option`, global `-g`).
pub const SESSION: u8 = 2;
/// The option lives in windows (`set-option -w`, global `-gw`).
pub const WINDOW: u8 = 4;
/// The option can also be set on one pane (`set-option -p`).
pub const PANE: u8 = 8;

/// What values an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `on`/`off`.
    Flag,
    /// A whole number within the bounds.
    Number(i64, i64),
    /// One of the words.
    Choice(&'static [&'static str]),
    /// A colour (checked by tmux).
    Colour,
    /// A key name (checked by tmux).
    Key,
    /// Free text, formats and styles (styles are checked by tmux).
    Text,
    /// An array option (`terminal-overrides`, `status-format`): not supported in manifests yet.
    Array,
}

/// One tmux option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def {
    /// The name tmux knows it by.
    pub name: &'static str,
    /// Where it lives: [`SERVER`], [`SESSION`], [`WINDOW`] (| [`PANE`]).
    pub scope: u8,
    /// The values it takes.
    pub kind: Kind,
}

/// Options ctmux sets itself, which a manifest may not: why, for the error's help.
pub fn reserved(name: &str) -> Option<&'static str> {
    match name {
        "remain-on-exit" => Some("ctmux keeps `remain-on-exit on` on its panes so it can read their exit status"),
        "history-limit" => Some("use the manifest's `history_limit:` key, which ctmux sets before each pane exists"),
        "default-size" => Some("use the session's `size:` key"),
        _ => None,
    }
}

/// The option called `name`, if tmux 3.3a has one.
pub fn lookup(name: &str) -> Option<&'static Def> {
    TABLE.iter().find(|d| d.name == name)
}

/// Every option name, for "did you mean".
pub fn names() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|d| d.name)
}

/// Whether `name` is a user option (`@name`) a manifest may set: letters, digits, `-`, `_`,
/// and not one of ctmux's own (`@ctmux-…`).
pub fn valid_user_option(name: &str) -> bool {
    name.len() > 1
        && name.starts_with('@')
        && !name.starts_with("@ctmux-")
        && name[1..].chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// `value` as tmux shows it back for an option of `kind`, or why tmux would refuse it.
pub fn normalize(kind: Kind, value: &str) -> Result<String, String> {
    match kind {
        Kind::Flag => match value.to_ascii_lowercase().as_str() {
            "on" | "yes" | "1" | "true" => Ok("on".into()),
            "off" | "no" | "0" | "false" => Ok("off".into()),
            _ => Err(format!("`{value}` is not a flag: write on or off")),
        },
        Kind::Number(min, max) => match value.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            Ok(_) => Err(format!("`{value}` is out of range: tmux takes {min} to {max}")),
            Err(_) => Err(format!("`{value}` is not a whole number")),
        },
        Kind::Choice(words) => {
            if words.contains(&value) {
                Ok(value.to_string())
            } else {
                Err(format!("`{value}` is not one of {}", words.join(", ")))
            }
        }
        Kind::Array => Err("array options are not supported in manifests yet".into()),
        Kind::Colour | Kind::Key | Kind::Text => Ok(value.to_string()),
    }
}

/// tmux 3.3a's options (`options-table.c`, hooks left out), in its order.
pub static TABLE: &[Def] = &[
    Def { name: "backspace", scope: SERVER, kind: Kind::Key },
    Def { name: "buffer-limit", scope: SERVER, kind: Kind::Number(1, 2147483647) },
    Def { name: "command-alias", scope: SERVER, kind: Kind::Array },
    Def { name: "copy-command", scope: SERVER, kind: Kind::Text },
    Def { name: "cursor-colour", scope: WINDOW | PANE, kind: Kind::Colour },
    Def {
        name: "cursor-style",
        scope: WINDOW | PANE,
        kind: Kind::Choice(&[
            "default",
            "blinking-block",
            "block",
            "blinking-underline",
            "underline",
            "blinking-bar",
            "bar",
        ]),
    },
    Def { name: "default-terminal", scope: SERVER, kind: Kind::Text },
    Def { name: "editor", scope: SERVER, kind: Kind::Text },
    Def { name: "escape-time", scope: SERVER, kind: Kind::Number(0, 2147483647) },
    Def { name: "exit-empty", scope: SERVER, kind: Kind::Flag },
    Def { name: "exit-unattached", scope: SERVER, kind: Kind::Flag },
    Def { name: "extended-keys", scope: SERVER, kind: Kind::Choice(&["off", "on", "always"]) },
    Def { name: "focus-events", scope: SERVER, kind: Kind::Flag },
    Def { name: "history-file", scope: SERVER, kind: Kind::Text },
    Def { name: "message-limit", scope: SERVER, kind: Kind::Number(0, 2147483647) },
    Def { name: "prompt-history-limit", scope: SERVER, kind: Kind::Number(0, 2147483647) },
    Def { name: "set-clipboard", scope: SERVER, kind: Kind::Choice(&["off", "external", "on"]) },
    Def { name: "terminal-overrides", scope: SERVER, kind: Kind::Array },
    Def { name: "terminal-features", scope: SERVER, kind: Kind::Array },
    Def { name: "user-keys", scope: SERVER, kind: Kind::Array },
    Def { name: "activity-action", scope: SESSION, kind: Kind::Choice(&["none", "any", "current", "other"]) },
    Def { name: "assume-paste-time", scope: SESSION, kind: Kind::Number(0, 2147483647) },
    Def { name: "base-index", scope: SESSION, kind: Kind::Number(0, 2147483647) },
    Def { name: "bell-action", scope: SESSION, kind: Kind::Choice(&["none", "any", "current", "other"]) },
    Def { name: "default-command", scope: SESSION, kind: Kind::Text },
    Def { name: "default-shell", scope: SESSION, kind: Kind::Text },
    Def { name: "default-size", scope: SESSION, kind: Kind::Text },
    Def { name: "destroy-unattached", scope: SESSION, kind: Kind::Flag },
    Def { name: "detach-on-destroy", scope: SESSION, kind: Kind::Choice(&["off", "on", "no-detached"]) },
    Def { name: "display-panes-active-colour", scope: SESSION, kind: Kind::Colour },
    Def { name: "display-panes-colour", scope: SESSION, kind: Kind::Colour },
    Def { name: "display-panes-time", scope: SESSION, kind: Kind::Number(1, 2147483647) },
    Def { name: "display-time", scope: SESSION, kind: Kind::Number(0, 2147483647) },
    Def { name: "history-limit", scope: SESSION, kind: Kind::Number(0, 2147483647) },
    Def { name: "key-table", scope: SESSION, kind: Kind::Text },
    Def { name: "lock-after-time", scope: SESSION, kind: Kind::Number(0, 2147483647) },
    Def { name: "lock-command", scope: SESSION, kind: Kind::Text },
    Def { name: "message-command-style", scope: SESSION, kind: Kind::Text },
    Def { name: "message-style", scope: SESSION, kind: Kind::Text },
    Def { name: "mouse", scope: SESSION, kind: Kind::Flag },
    Def { name: "prefix", scope: SESSION, kind: Kind::Key },
    Def { name: "prefix2", scope: SESSION, kind: Kind::Key },
    Def { name: "renumber-windows", scope: SESSION, kind: Kind::Flag },
    Def { name: "repeat-time", scope: SESSION, kind: Kind::Number(0, 32767) },
    Def { name: "set-titles", scope: SESSION, kind: Kind::Flag },
    Def { name: "set-titles-string", scope: SESSION, kind: Kind::Text },
    Def { name: "silence-action", scope: SESSION, kind: Kind::Choice(&["none", "any", "current", "other"]) },
    Def { name: "status", scope: SESSION, kind: Kind::Choice(&["off", "on", "2", "3", "4", "5"]) },
    Def { name: "status-bg", scope: SESSION, kind: Kind::Colour },
    Def { name: "status-fg", scope: SESSION, kind: Kind::Colour },
    Def { name: "status-format", scope: SESSION, kind: Kind::Array },
    Def { name: "status-interval", scope: SESSION, kind: Kind::Number(0, 2147483647) },
    Def { name: "status-justify", scope: SESSION, kind: Kind::Choice(&["left", "centre", "right", "absolute-centre"]) },
    Def { name: "status-keys", scope: SESSION, kind: Kind::Choice(&["emacs", "vi"]) },
    Def { name: "status-left", scope: SESSION, kind: Kind::Text },
    Def { name: "status-left-length", scope: SESSION, kind: Kind::Number(0, 32767) },
    Def { name: "status-left-style", scope: SESSION, kind: Kind::Text },
    Def { name: "status-position", scope: SESSION, kind: Kind::Choice(&["top", "bottom"]) },
    Def { name: "status-right", scope: SESSION, kind: Kind::Text },
    Def { name: "status-right-length", scope: SESSION, kind: Kind::Number(0, 32767) },
    Def { name: "status-right-style", scope: SESSION, kind: Kind::Text },
    Def { name: "status-style", scope: SESSION, kind: Kind::Text },
    Def { name: "update-environment", scope: SESSION, kind: Kind::Array },
    Def { name: "visual-activity", scope: SESSION, kind: Kind::Choice(&["off", "on", "both"]) },
    Def { name: "visual-bell", scope: SESSION, kind: Kind::Choice(&["off", "on", "both"]) },
    Def { name: "visual-silence", scope: SESSION, kind: Kind::Choice(&["off", "on", "both"]) },
    Def { name: "word-separators", scope: SESSION, kind: Kind::Text },
    Def { name: "aggressive-resize", scope: WINDOW, kind: Kind::Flag },
    Def { name: "allow-passthrough", scope: WINDOW | PANE, kind: Kind::Flag },
    Def { name: "allow-rename", scope: WINDOW | PANE, kind: Kind::Flag },
    Def { name: "alternate-screen", scope: WINDOW | PANE, kind: Kind::Flag },
    Def { name: "automatic-rename", scope: WINDOW, kind: Kind::Flag },
    Def { name: "automatic-rename-format", scope: WINDOW, kind: Kind::Text },
    Def { name: "clock-mode-colour", scope: WINDOW, kind: Kind::Colour },
    Def { name: "clock-mode-style", scope: WINDOW, kind: Kind::Choice(&["12", "24"]) },
    Def { name: "copy-mode-match-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "copy-mode-current-match-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "copy-mode-mark-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "fill-character", scope: WINDOW, kind: Kind::Text },
    Def { name: "main-pane-height", scope: WINDOW, kind: Kind::Text },
    Def { name: "main-pane-width", scope: WINDOW, kind: Kind::Text },
    Def { name: "mode-keys", scope: WINDOW, kind: Kind::Choice(&["emacs", "vi"]) },
    Def { name: "mode-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "monitor-activity", scope: WINDOW, kind: Kind::Flag },
    Def { name: "monitor-bell", scope: WINDOW, kind: Kind::Flag },
    Def { name: "monitor-silence", scope: WINDOW, kind: Kind::Number(0, 2147483647) },
    Def { name: "other-pane-height", scope: WINDOW, kind: Kind::Text },
    Def { name: "other-pane-width", scope: WINDOW, kind: Kind::Text },
    Def { name: "pane-active-border-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "pane-base-index", scope: WINDOW, kind: Kind::Number(0, 65535) },
    Def { name: "pane-border-format", scope: WINDOW | PANE, kind: Kind::Text },
    Def { name: "pane-border-indicators", scope: WINDOW, kind: Kind::Choice(&["off", "colour", "arrows", "both"]) },
    Def {
        name: "pane-border-lines",
        scope: WINDOW,
        kind: Kind::Choice(&["single", "double", "heavy", "simple", "number"]),
    },
    Def { name: "pane-border-status", scope: WINDOW, kind: Kind::Choice(&["off", "top", "bottom"]) },
    Def { name: "pane-border-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "pane-colours", scope: WINDOW | PANE, kind: Kind::Array },
    Def { name: "popup-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "popup-border-style", scope: WINDOW, kind: Kind::Text },
    Def {
        name: "popup-border-lines",
        scope: WINDOW,
        kind: Kind::Choice(&["single", "double", "heavy", "simple", "rounded", "padded", "none"]),
    },
    Def { name: "remain-on-exit", scope: WINDOW | PANE, kind: Kind::Choice(&["off", "on", "failed"]) },
    Def { name: "remain-on-exit-format", scope: WINDOW | PANE, kind: Kind::Text },
    Def { name: "scroll-on-clear", scope: WINDOW | PANE, kind: Kind::Flag },
    Def { name: "synchronize-panes", scope: WINDOW | PANE, kind: Kind::Flag },
    Def { name: "window-active-style", scope: WINDOW | PANE, kind: Kind::Text },
    Def { name: "window-size", scope: WINDOW, kind: Kind::Choice(&["largest", "smallest", "manual", "latest"]) },
    Def { name: "window-style", scope: WINDOW | PANE, kind: Kind::Text },
    Def { name: "window-status-activity-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "window-status-bell-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "window-status-current-format", scope: WINDOW, kind: Kind::Text },
    Def { name: "window-status-current-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "window-status-format", scope: WINDOW, kind: Kind::Text },
    Def { name: "window-status-last-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "window-status-separator", scope: WINDOW, kind: Kind::Text },
    Def { name: "window-status-style", scope: WINDOW, kind: Kind::Text },
    Def { name: "wrap-search", scope: WINDOW, kind: Kind::Flag },
    Def { name: "xterm-keys", scope: WINDOW, kind: Kind::Flag },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_tmux_shows_them() {
        let flag = lookup("synchronize-panes").unwrap();
        assert_eq!(flag.scope, WINDOW | PANE);
        assert_eq!(normalize(flag.kind, "true").unwrap(), "on");
        assert_eq!(normalize(flag.kind, "off").unwrap(), "off");
        assert!(normalize(flag.kind, "maybe").is_err());
        let base = lookup("base-index").unwrap();
        assert_eq!(base.scope, SESSION);
        assert_eq!(normalize(base.kind, "1").unwrap(), "1");
        assert!(normalize(base.kind, "-1").unwrap_err().contains("out of range"));
        assert!(normalize(lookup("status").unwrap().kind, "top").is_err());
        assert_eq!(lookup("default-terminal").unwrap().scope, SERVER);
        assert_eq!(lookup("main-pane-width").unwrap().scope, WINDOW);
        assert!(lookup("set-hook").is_none() && lookup("after-new-window").is_none());
    }

    /// The table is the installed tmux's: every name `show-options` lists exists in it, at the
    /// same level.
    #[test]
    fn the_table_matches_the_installed_tmux() {
        let socket = format!("ctmux-test-optable-{}", std::process::id());
        let run = |args: &[&str]| {
            std::process::Command::new("tmux").args(["-L", &socket, "-f", "/dev/null"]).args(args).output().unwrap()
        };
        let out = run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            ";",
            "show-options",
            "-s",
            ";",
            "show-options",
            "-g",
            ";",
            "show-options",
            "-gw",
        ]);
        run(&["kill-server"]);
        let _ = std::fs::remove_file(format!("/tmp/tmux-{}/{socket}", unsafe { libc::getuid() }));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut seen = 0;
        for line in text.lines() {
            let name = line.split([' ', '[']).next().unwrap();
            if name.starts_with('@') || name.is_empty() {
                continue;
            }
            assert!(lookup(name).is_some(), "tmux has `{name}`, the table does not");
            seen += 1;
        }
        assert!(seen > 100, "{text}");
    }
}
