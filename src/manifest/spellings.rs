//! Keys from docker compose and tmuxp manifests, and where they go in ctmux: a user who writes
//! `services:` or `working_dir:` gets the ctmux key instead of a bare "unknown key".

/// (foreign key, ctmux key, whose spelling it is).
const RENAMES: &[(&str, &str, &str)] = &[
    ("services", "sessions", "compose's"),
    ("healthcheck", "health", "compose's"),
    ("environment", "env", "compose's"),
    ("working_dir", "cwd", "compose's"),
    ("session_name", "name", "tmuxp's"),
    ("start_directory", "cwd", "tmuxp's"),
    ("shell_command", "command", "tmuxp's"),
    ("before_script", "hooks", "tmuxp's"),
    ("on_project_start", "hooks", "tmuxinator's"),
    ("on_project_first_start", "hooks", "tmuxinator's"),
];

/// Container-only compose keys: nothing in ctmux stands for them.
const CONTAINER_KEYS: &[&str] = &["image", "container_name", "build", "ports", "volumes", "networks"];

/// Pane keys the manifest contract names but this build does not implement yet: refused with
/// "not supported yet" at their place rather than half-working.
pub const PANE_NOT_YET: &[&str] = &[];

/// Whether `key`, in a map that accepts `allowed`, is a planned key not built yet.
pub fn not_yet(key: &str, allowed: &[&str]) -> bool {
    allowed.contains(&"command") && allowed.contains(&"keep_shell") && PANE_NOT_YET.contains(&key)
}

/// The way forward for `key`, unknown in a map that accepts `allowed`; `None` when `key` is not a
/// known compose or tmuxp spelling (then the caller's "did you mean" applies).
pub fn hint(key: &str, allowed: &[&str]) -> Option<String> {
    if let Some((_, ours, whose)) = RENAMES.iter().find(|(theirs, ours, _)| *theirs == key && allowed.contains(ours)) {
        return Some(format!("did you mean `{ours}`? (`{key}` is {whose} name for it)"));
    }
    if CONTAINER_KEYS.contains(&key) {
        return Some(format!(
            "ctmux runs commands, not containers: `{key}` has no meaning here; give the pane a `command:` \
             (e.g. `command: docker run …` to run a container in a pane)"
        ));
    }
    // The design's first names for two GC settings, built under other names.
    if key == "ttl" && allowed.contains(&"exited") {
        return Some("did you mean `exited`? (`gc.exited: 10m` removes a pane whose process exited that long ago; `gc.idle` idle sessions)".into());
    }
    if key == "snapshots_keep" && allowed.contains(&"exited") {
        return Some("snapshots are kept by `snapshots: { keep: 20 }` at the top of the manifest".into());
    }
    // `command:` (or tmuxp's `shell_command:`) right under a session or window.
    if matches!(key, "command" | "shell_command") && allowed.contains(&"panes") && !allowed.contains(&"command") {
        return Some(
            "a session holds panes: put it under `panes: { NAME: … }`, e.g. `panes: { main: cargo run }` \
             (or write the session as one command: `NAME: cargo run`)"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{lower, pane};

    #[test]
    fn renames_apply_only_where_the_ctmux_key_exists() {
        assert_eq!(
            hint("services", lower::PROJECT_KEYS).as_deref(),
            Some("did you mean `sessions`? (`services` is compose's name for it)")
        );
        assert!(hint("environment", pane::PANE_KEYS).unwrap().contains("`env`"));
        assert!(hint("healthcheck", pane::PANE_KEYS).unwrap().contains("`health`"));
        assert!(hint("session_name", lower::PROJECT_KEYS).unwrap().contains("`name`"));
        assert!(hint("before_script", lower::PROJECT_KEYS).unwrap().contains("`hooks`"));
        assert_eq!(hint("services", pane::PANE_KEYS), None);
        assert!(hint("command", lower::SESSION_KEYS).unwrap().starts_with("a session holds panes"));
        assert_eq!(hint("command", pane::PANE_KEYS), None);
        assert!(hint("image", pane::PANE_KEYS).unwrap().starts_with("ctmux runs commands, not containers"));
        assert_eq!(hint("comand", pane::PANE_KEYS), None);
        assert!(hint("ttl", lower::GC_KEYS).unwrap().contains("`exited`"));
        assert!(hint("snapshots_keep", lower::GC_KEYS).unwrap().contains("`snapshots: { keep: 20 }`"));
    }
}
