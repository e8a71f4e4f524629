//! `ctmux graph`: start waves as a text tree, or the graph as Graphviz dot.

use serde::Serialize;

use crate::cli::args::GraphArgs;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::graph::DepGraph;
use crate::manifest::model::Project;

#[derive(Serialize)]
struct GraphDoc {
    waves: Vec<Vec<WaveItem>>,
}

#[derive(Serialize)]
struct WaveItem {
    address: String,
    depends_on: Vec<DepItem>,
}

#[derive(Serialize)]
struct DepItem {
    target: String,
    condition: &'static str,
}

/// Resolves CLI targets to pane addresses, or a not-found error with near matches.
pub fn resolve_targets(project: &Project, targets: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for t in targets {
        let found =
            crate::address::resolve(project, t).map_err(|u| Error::NotFound { message: u.message, hint: u.hint })?;
        out.extend(found.into_iter().filter(|a| !out.contains(a)).collect::<Vec<_>>());
    }
    Ok(out)
}

/// Runs `graph`.
pub fn run(ctx: &Ctx, args: &GraphArgs) -> Result {
    let loaded = super::load(ctx)?;
    let project = &loaded.project;
    let graph = DepGraph::new(project);
    let subset = if args.targets.is_empty() {
        None
    } else {
        Some(graph.with_dependencies(&resolve_targets(project, &args.targets)?))
    };
    let waves = graph.waves(subset.as_ref());
    if args.dot {
        println!("digraph \"{}\" {{", project.name);
        println!("  rankdir=BT;");
        for wave in &waves {
            for pane in wave {
                println!("  \"{pane}\";");
                for (target, cond) in graph.dependencies_of(pane) {
                    println!("  \"{pane}\" -> \"{target}\" [label=\"{}\"];", cond.as_str());
                }
            }
        }
        println!("}}");
        return Ok(Exit::Ok);
    }
    if ctx.json() {
        let doc = GraphDoc {
            waves: waves
                .iter()
                .map(|w| {
                    w.iter()
                        .map(|p| WaveItem {
                            address: p.clone(),
                            depends_on: graph
                                .dependencies_of(p)
                                .into_iter()
                                .map(|(t, c)| DepItem { target: t, condition: c.as_str() })
                                .collect(),
                        })
                        .collect()
                })
                .collect(),
        };
        ctx.print_json(&doc);
        return Ok(Exit::Ok);
    }
    for (i, wave) in waves.iter().enumerate() {
        println!("wave {}{}", i + 1, if i == 0 { " (no dependencies)" } else { "" });
        for (j, pane) in wave.iter().enumerate() {
            let last = j + 1 == wave.len();
            let deps: Vec<String> =
                graph.dependencies_of(pane).into_iter().map(|(t, c)| format!("{t} {}", c.as_str())).collect();
            let deps = if deps.is_empty() { String::new() } else { format!("  ← {}", deps.join(", ")) };
            println!("{} {pane}{deps}", if last { "└─" } else { "├─" });
        }
    }
    Ok(Exit::Ok)
}
