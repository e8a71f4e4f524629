//! `depends_on` and `groups`: declared names resolved to pane addresses, and cycles reported
//! with every member named and every edge labelled where it was written.

use indexmap::IndexMap;

use super::diagnostic::Problem;
use super::model::{Condition, Dependency, Project};
use super::node::{Node, NodeKind, Span};
use super::reader::Reader;
use crate::address;
use crate::graph::DepGraph;
use crate::suggest;

/// A dependency as written, before its target is resolved.
#[derive(Debug, Clone)]
pub struct DeclaredDep {
    /// The name written (session, `session/pane`, pane or group).
    pub target: String,
    /// Where it was written.
    pub span: Span,
    /// The condition asked for.
    pub condition: Condition,
}

/// Reads a `depends_on` list (condition `started`) or map (`name: condition`).
pub fn declared(reader: &mut Reader<'_>, node: &Node, what: &str) -> Vec<DeclaredDep> {
    let mut out = Vec::new();
    match &node.kind {
        NodeKind::Seq(items) => {
            for item in items {
                if let Some(target) = reader.string(item, &format!("{what}.depends_on")) {
                    out.push(DeclaredDep { target, span: item.span.clone(), condition: Condition::Started });
                }
            }
        }
        NodeKind::Scalar { .. } => {
            if let Some(target) = reader.string(node, &format!("{what}.depends_on")) {
                out.push(DeclaredDep { target, span: node.span.clone(), condition: Condition::Started });
            }
        }
        _ => {
            for (key, value) in reader.entries(node, &format!("{what}.depends_on")).unwrap_or_default() {
                // Compose's long form: `db: { condition: service_healthy }`.
                let cond_node = match &value.kind {
                    NodeKind::Map(_) => {
                        reader.fields(value, "a dependency", &["condition"]).and_then(|f| f.get("condition"))
                    }
                    NodeKind::Null => None,
                    _ => Some(value),
                };
                let condition = match cond_node {
                    None => Some(Condition::Started),
                    Some(n) => {
                        let text = reader.string(n, "condition");
                        match text.as_deref().map(Condition::parse) {
                            Some(Some(c)) => Some(c),
                            Some(None) => {
                                let text = text.unwrap_or_default();
                                reader.problem(
                                    Problem::new(
                                        "invalid_condition",
                                        n.span.clone(),
                                        format!("unknown condition `{text}`"),
                                        "not a condition",
                                    )
                                    .help(
                                        suggest::hint(&text, Condition::NAMES)
                                            .unwrap_or_else(|| format!("conditions: {}", Condition::NAMES.join(", "))),
                                    ),
                                );
                                None
                            }
                            None => None,
                        }
                    }
                };
                if let Some(condition) = condition {
                    out.push(DeclaredDep { target: key.name.clone(), span: key.span.clone(), condition });
                }
            }
        }
    }
    out
}

/// Reads `groups:` and expands members to pane addresses.
pub fn lower_groups(reader: &mut Reader<'_>, node: &Node, project: &Project) -> IndexMap<String, Vec<String>> {
    let mut groups = IndexMap::new();
    for (key, value) in reader.entries(node, "groups").unwrap_or_default() {
        if project.sessions.contains_key(&key.name) {
            reader.problem(
                Problem::new(
                    "duplicate_name",
                    key.span.clone(),
                    format!("group `{}` has the name of a session", key.name),
                    "same name as a session",
                )
                .help("groups and sessions share one namespace in addresses; rename the group"),
            );
            continue;
        }
        let Some(members) = reader.string_list(value, &format!("group `{}`", key.name)) else {
            continue;
        };
        let spans: Vec<Span> = match &value.kind {
            NodeKind::Seq(items) => items.iter().map(|i| i.span.clone()).collect(),
            _ => vec![value.span.clone()],
        };
        let mut panes = Vec::new();
        for (member, span) in members.iter().zip(spans) {
            if reader.disabled.contains_key(member) {
                // A member switched off by its profiles is simply not in the group.
                continue;
            }
            match address::resolve_no_groups(project, member) {
                Ok(found) => panes.extend(found.into_iter().filter(|a| !panes.contains(a)).collect::<Vec<_>>()),
                Err(unknown) => reader.problem(
                    Problem::new(
                        "unknown_group_member",
                        span,
                        format!("group `{}`: {}", key.name, unknown.message),
                        "unknown member",
                    )
                    .maybe_help(unknown.hint),
                ),
            }
        }
        groups.insert(key.name.clone(), panes);
    }
    groups
}

/// Resolves every declared dependency onto its pane, then reports cycles.
pub fn resolve(reader: &mut Reader<'_>, project: &mut Project, declared: &[(String, DeclaredDep)]) {
    let mut resolved: Vec<(String, Dependency, Span)> = Vec::new();
    for (pane, dep) in declared {
        match address::resolve(project, &dep.target) {
            Ok(targets) => {
                for target in targets {
                    resolved.push((pane.clone(), Dependency { target, condition: dep.condition }, dep.span.clone()));
                }
            }
            Err(unknown) => {
                if let Some(profiles) = reader.disabled.get(&dep.target).cloned() {
                    let on = if profiles.is_empty() {
                        "all its panes are switched off by their profiles".to_string()
                    } else {
                        format!("enable it with --profile {}", profiles.join(" or --profile "))
                    };
                    reader.problem(
                        Problem::new(
                            "disabled_dependency",
                            dep.span.clone(),
                            format!("depends_on: `{}` is switched off by its profiles", dep.target),
                            "not enabled",
                        )
                        .help(format!("{on}, or give this pane the same `profiles:`")),
                    );
                    continue;
                }
                if !reader.problems.iter().any(|p| p.code == "unknown_dependency" && p.span.as_ref() == Some(&dep.span))
                {
                    reader.problem(
                        Problem::new(
                            "unknown_dependency",
                            dep.span.clone(),
                            format!("depends_on: {}", unknown.message),
                            "unknown dependency",
                        )
                        .maybe_help(unknown.hint),
                    );
                }
            }
        }
    }
    for (pane_addr, dep, _) in &resolved {
        let (session, name) = pane_addr.split_once('/').unwrap_or_default();
        let Some(pane) =
            project.sessions.get_mut(session).and_then(|s| s.windows.values_mut().find_map(|w| w.panes.get_mut(name)))
        else {
            continue;
        };
        if !pane.depends_on.contains(dep) {
            pane.depends_on.push(dep.clone());
        }
    }
    report_cycles(reader, project, &resolved);
}

/// At most this many edges of one cycle are labelled in its diagnostic (a 10,000-pane cycle
/// drew 10,000 labels, each read from the start of the file).
const CYCLE_LABELS: usize = 8;

fn report_cycles(reader: &mut Reader<'_>, project: &Project, edges: &[(String, Dependency, Span)]) {
    let graph = DepGraph::new(project);
    for cycle in graph.cycles() {
        let members: std::collections::HashSet<&String> = cycle.iter().collect();
        let cycle_set = &members;
        let first_span = edges
            .iter()
            .find(|(from, dep, _)| cycle_set.contains(from) && cycle_set.contains(&dep.target))
            .map(|(_, _, s)| s.clone())
            .unwrap_or(0..0);
        let mut problem = Problem::new(
            "dependency_cycle",
            first_span.clone(),
            if cycle.len() == 1 {
                format!("`{}` depends on itself", cycle[0])
            } else if cycle.len() > 2 * CYCLE_LABELS {
                format!(
                    "dependency cycle of {} panes: {} → … → {} → {}",
                    cycle.len(),
                    cycle[..CYCLE_LABELS].join(" → "),
                    cycle[cycle.len() - 2..].join(" → "),
                    cycle[0]
                )
            } else {
                format!("dependency cycle: {} → {}", cycle.join(" → "), cycle[0])
            },
            "part of the cycle",
        )
        .help("remove one of these dependencies; ctmux starts dependencies first, so a cycle can never start");
        let mut labelled = std::collections::HashSet::from([first_span]);
        for (from, dep, span) in edges {
            if labelled.len() > CYCLE_LABELS {
                break;
            }
            if cycle_set.contains(from) && cycle_set.contains(&dep.target) && labelled.insert(span.clone()) {
                problem = problem.also(span.clone(), format!("{from} → {}", dep.target));
            }
        }
        if let Some((from, dep, _)) =
            edges.iter().find(|(from, dep, _)| cycle_set.contains(from) && cycle_set.contains(&dep.target))
        {
            problem.label = format!("{from} → {}", dep.target);
        }
        reader.problem(problem);
    }
}
