//! The dependency graph of panes: cycle detection, start order in waves, target selection.
//!
//! Nodes are pane addresses; an edge `a → b` means "a waits on b" and carries the condition.
//! Sessions and groups were already expanded to panes when the manifest was lowered.

use std::collections::{HashMap, HashSet};

use indexmap::IndexSet;
use petgraph::Direction;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::manifest::model::{Condition, Project};

/// Panes and their dependencies as a petgraph `DiGraph`.
pub struct DepGraph {
    graph: DiGraph<String, Condition>,
    index: HashMap<String, NodeIndex>,
}

impl DepGraph {
    /// Builds the graph of every pane of `project`.
    pub fn new(project: &Project) -> Self {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for pane in project.panes() {
            let address = pane.address();
            index.insert(address.clone(), graph.add_node(address));
        }
        for pane in project.panes() {
            let from = index[&pane.address()];
            for dep in &pane.depends_on {
                if let Some(&to) = index.get(&dep.target) {
                    graph.add_edge(from, to, dep.condition);
                }
            }
        }
        DepGraph { graph, index }
    }

    /// Every cycle (strongly connected component with an edge inside), members in manifest order.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        // Kosaraju, not Tarjan: petgraph's Tarjan recurses once per pane of a chain (a 10,000-pane
        // cycle overflowed the stack).
        for scc in kosaraju_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() > 1 || self_loop {
                let mut members: Vec<NodeIndex> = scc;
                members.sort();
                out.push(self.order_cycle(&members));
            }
        }
        out.sort();
        out
    }

    /// Orders a component's members along its edges, starting at the first in manifest order.
    fn order_cycle(&self, members: &[NodeIndex]) -> Vec<String> {
        let set: HashSet<NodeIndex> = members.iter().copied().collect();
        let mut path = vec![members[0]];
        let mut on_path: HashSet<NodeIndex> = HashSet::from([members[0]]);
        while let Some(next) = self
            .graph
            .neighbors_directed(*path.last().unwrap_or(&members[0]), Direction::Outgoing)
            .filter(|n| set.contains(n) && !on_path.contains(n))
            .min()
        {
            on_path.insert(next);
            path.push(next);
        }
        for m in members {
            if on_path.insert(*m) {
                path.push(*m);
            }
        }
        path.into_iter().map(|n| self.graph[n].clone()).collect()
    }

    /// Start order: wave 0 has no dependencies, wave n depends only on earlier waves.
    /// Limited to `subset` when given. Requires an acyclic graph.
    pub fn waves(&self, subset: Option<&IndexSet<String>>) -> Vec<Vec<String>> {
        let included = |n: NodeIndex| subset.is_none_or(|s| s.contains(&self.graph[n]));
        let mut level: HashMap<NodeIndex, usize> = HashMap::new();
        let mut order: Vec<NodeIndex> = self.graph.node_indices().filter(|n| included(*n)).collect();
        order.sort();
        // Longest path to a pane with no dependencies, depth-first without recursion: a chain
        // of 10,000 panes overflowed the stack, and the on-stack list made it quadratic.
        let mut memo: HashMap<NodeIndex, usize> = HashMap::new();
        let mut on_stack: HashSet<NodeIndex> = HashSet::new();
        for &start in &order {
            let mut stack = vec![(start, false)];
            while let Some((n, done)) = stack.pop() {
                if done {
                    // A neighbour still on the stack closes a cycle: reported at load, never
                    // reached for a valid manifest.
                    let d = self
                        .graph
                        .neighbors_directed(n, Direction::Outgoing)
                        .map(|m| memo.get(&m).map_or(1, |d| d + 1))
                        .max()
                        .unwrap_or(0);
                    on_stack.remove(&n);
                    memo.insert(n, d);
                    continue;
                }
                if memo.contains_key(&n) || !on_stack.insert(n) {
                    continue;
                }
                stack.push((n, true));
                stack.extend(
                    self.graph
                        .neighbors_directed(n, Direction::Outgoing)
                        .filter(|m| !memo.contains_key(m) && !on_stack.contains(m))
                        .map(|m| (m, false)),
                );
            }
            level.insert(start, memo[&start]);
        }
        let mut waves: Vec<Vec<String>> = Vec::new();
        for n in order {
            let l = level[&n];
            if waves.len() <= l {
                waves.resize(l + 1, Vec::new());
            }
            waves[l].push(self.graph[n].clone());
        }
        waves.retain(|w| !w.is_empty());
        waves
    }

    /// `targets` plus everything they depend on, transitively.
    pub fn with_dependencies(&self, targets: &[String]) -> IndexSet<String> {
        self.closure(targets, Direction::Outgoing)
    }

    /// `targets` plus everything that depends on them, transitively (for `--cascade`, `down`).
    pub fn with_dependents(&self, targets: &[String]) -> IndexSet<String> {
        self.closure(targets, Direction::Incoming)
    }

    fn closure(&self, targets: &[String], direction: Direction) -> IndexSet<String> {
        let mut seen = IndexSet::new();
        let mut todo: Vec<NodeIndex> = targets.iter().filter_map(|t| self.index.get(t).copied()).collect();
        while let Some(n) = todo.pop() {
            if seen.insert(self.graph[n].clone()) {
                todo.extend(self.graph.neighbors_directed(n, direction));
            }
        }
        seen
    }

    /// The conditions `pane` waits on, as `(target, condition)`.
    pub fn dependencies_of(&self, pane: &str) -> Vec<(String, Condition)> {
        let Some(&n) = self.index.get(pane) else {
            return Vec::new();
        };
        self.graph
            .edges_directed(n, Direction::Outgoing)
            .map(|e| (self.graph[petgraph::visit::EdgeRef::target(&e)].clone(), *e.weight()))
            .collect()
    }
}
