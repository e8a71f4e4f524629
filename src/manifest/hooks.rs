//! Lowering of the project's `hooks:` (`before_up`, `first_up`, `after_up`, `before_down`,
//! `after_down`): each a shell command or a list of them, run in order by `up`/`down` (see
//! `crate::hooks`) with the project's cwd, env and shell.

use super::lower::Inherited;
use super::model::Hooks;
use super::node::Node;
use super::reader::Reader;

/// Keys of `hooks:`.
pub const HOOK_KEYS: &[&str] = &["before_up", "first_up", "after_up", "before_down", "after_down"];

/// The project's hooks (empty when `node` is absent), with the top level's cwd, env and shell.
pub fn lower_hooks(reader: &mut Reader<'_>, node: Option<&Node>, top: &Inherited) -> Hooks {
    let mut hooks =
        Hooks { cwd: top.cwd.clone(), env: top.env.clone(), shell: top.shell.clone(), ..Default::default() };
    let Some(node) = node else { return hooks };
    let Some(f) = reader.fields(node, "hooks", HOOK_KEYS) else { return hooks };
    for key in HOOK_KEYS {
        let Some(n) = f.get(key) else { continue };
        let commands = reader.string_list(n, &format!("hooks.{key}")).unwrap_or_default();
        let slot = match *key {
            "before_up" => &mut hooks.before_up,
            "first_up" => &mut hooks.first_up,
            "after_up" => &mut hooks.after_up,
            "before_down" => &mut hooks.before_down,
            _ => &mut hooks.after_down,
        };
        *slot = commands.into_iter().filter(|c| !c.trim().is_empty()).collect();
    }
    hooks
}
