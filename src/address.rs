//! Addresses: how users name what they mean — a session, `session/pane`, a unique bare pane
//! name, or a group — resolved against a project to the pane addresses they stand for.

use crate::manifest::model::Project;
use crate::suggest;

/// A name that matched nothing, with the closest real name when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    /// Why it did not resolve.
    pub message: String,
    /// A "did you mean" or the list of valid names.
    pub hint: Option<String>,
}

/// Resolves `name` to pane addresses (`session/pane`) in manifest order.
pub fn resolve(project: &Project, name: &str) -> Result<Vec<String>, Unknown> {
    if let Some(members) = project.groups.get(name) {
        return Ok(members.clone());
    }
    resolve_no_groups(project, name)
}

/// Like [`resolve`] but without groups (groups are defined in terms of this).
pub fn resolve_no_groups(project: &Project, name: &str) -> Result<Vec<String>, Unknown> {
    if let Some(session) = project.sessions.get(name) {
        return Ok(session.windows.values().flat_map(|w| w.panes.values()).map(|p| p.address()).collect());
    }
    if let Some(replicas) = project.replicas.get(name) {
        return Ok(replicas.clone());
    }
    if !name.contains('/') {
        // A replicated pane by its bare name, when one session has it.
        let found: Vec<&Vec<String>> =
            project.replicas.iter().filter(|(a, _)| a.rsplit('/').next() == Some(name)).map(|(_, r)| r).collect();
        if let [one] = found.as_slice() {
            return Ok((*one).clone());
        }
    }
    if let Some((s, p)) = name.split_once('/') {
        if project.pane(name).is_some() {
            return Ok(vec![name.to_string()]);
        }
        let hint = if project.sessions.contains_key(s) {
            let panes: Vec<String> = project.panes().filter(|x| x.session == s).map(|x| x.address()).collect();
            suggest::hint(name, panes.iter().map(String::as_str))
                .or_else(|| Some(format!("session `{s}` has: {}", panes.join(", "))))
        } else {
            suggest::hint(name, all_names(project).iter().map(String::as_str))
        };
        let _ = p;
        return Err(Unknown { message: format!("no pane `{name}` in the manifest"), hint });
    }
    let matches: Vec<String> = project.panes().filter(|p| p.name == name).map(|p| p.address()).collect();
    match matches.len() {
        1 => Ok(matches),
        0 => Err(Unknown {
            message: format!("no session, pane or group named `{name}`"),
            hint: suggest::hint(name, all_names(project).iter().map(String::as_str)).or_else(|| {
                let names = all_names(project);
                (!names.is_empty()).then(|| format!("known names: {}", names.join(", ")))
            }),
        }),
        _ => Err(Unknown {
            message: format!("pane name `{name}` is ambiguous"),
            hint: Some(format!("write one of: {}", matches.join(", "))),
        }),
    }
}

/// Every name a user could write: sessions, groups, `session/pane` addresses and pane names.
pub fn all_names(project: &Project) -> Vec<String> {
    let mut names: Vec<String> = project.sessions.keys().cloned().collect();
    names.extend(project.groups.keys().cloned());
    for pane in project.panes() {
        names.push(pane.address());
        if !names.contains(&pane.name) {
            names.push(pane.name.clone());
        }
    }
    names
}
