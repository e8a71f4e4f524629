//! The property test: random worlds, checked against the hard rules stated independently here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::manifest::model::Project;

const NOW: u64 = 1_000_000;
const SESSIONS: [&str; 3] = ["s0", "s1", "s2"];
const PANES: [&str; 3] = ["p0", "p1", "p2"];
/// TTLs the manifests use; ages are drawn near them.
const TTLS: [u64; 4] = [60, 120, 600, 1000];

#[derive(Debug, Clone)]
struct PaneSpec {
    /// Waits for `p0` of its session to complete.
    after_p0: bool,
    restart: &'static str,
    max_restarts: Option<u32>,
    keep: bool,
    exited: Option<u64>,
    shell: bool,
}

#[derive(Debug, Clone)]
struct SessionSpec {
    keep: bool,
    exited: Option<u64>,
    idle: Option<u64>,
    panes: Vec<PaneSpec>,
}

#[derive(Debug, Clone)]
struct ManifestSpec {
    exited: Option<u64>,
    idle: Option<u64>,
    remove_orphans: bool,
    max_age: Option<u64>,
    max_size: Option<u64>,
    sessions: Vec<SessionSpec>,
}

fn ttl() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), prop::sample::select(TTLS.to_vec()).prop_map(Some)]
}

fn pane_spec() -> impl Strategy<Value = PaneSpec> {
    (
        prop::sample::select(vec!["no", "on-failure", "always", "unless-stopped"]),
        prop_oneof![Just(None), (0u32..3).prop_map(Some)],
        prop::bool::weighted(0.2),
        ttl(),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(restart, max_restarts, keep, exited, shell, after_p0)| PaneSpec {
            after_p0,
            restart,
            max_restarts,
            keep,
            exited,
            shell,
        })
}

fn manifest_spec() -> impl Strategy<Value = ManifestSpec> {
    let session = (prop::bool::weighted(0.2), ttl(), ttl(), prop::collection::vec(pane_spec(), 3))
        .prop_map(|(keep, exited, idle, panes)| SessionSpec { keep, exited, idle, panes });
    (
        ttl(),
        ttl(),
        any::<bool>(),
        ttl(),
        prop_oneof![Just(None), (0u64..300).prop_map(Some)],
        prop::collection::vec(session, 3),
    )
        .prop_map(|(exited, idle, remove_orphans, max_age, max_size, sessions)| ManifestSpec {
            exited,
            idle,
            remove_orphans,
            max_age,
            max_size,
            sessions,
        })
}

fn yaml(spec: &ManifestSpec) -> String {
    let mut y = String::from("version: 1\nname: shop\ngc:\n");
    if let Some(t) = spec.exited {
        y += &format!("  exited: {t}s\n");
    }
    if let Some(t) = spec.idle {
        y += &format!("  idle: {t}s\n");
    }
    y += &format!("  orphans: {}\n", if spec.remove_orphans { "remove" } else { "report" });
    y += "  logs: {";
    if let Some(t) = spec.max_age {
        y += &format!(" max_age: {t}s,");
    }
    if let Some(n) = spec.max_size {
        y += &format!(" max_size: {n}B,");
    }
    y += " }\nsessions:\n";
    for (s, ss) in SESSIONS.iter().zip(&spec.sessions) {
        y += &format!("  {s}:\n    keep: {}\n    gc: {{", ss.keep);
        if let Some(t) = ss.exited {
            y += &format!(" exited: {t}s,");
        }
        if let Some(t) = ss.idle {
            y += &format!(" idle: {t}s,");
        }
        y += " }\n    panes:\n";
        for (p, ps) in PANES.iter().zip(&ss.panes) {
            y += &format!("      {p}:\n        restart: {}\n        keep: {}\n", ps.restart, ps.keep);
            if !ps.shell {
                y += "        command: sleep 1\n";
            }
            if ps.after_p0 && *p != "p0" {
                y += &format!("        depends_on: {{ {s}/p0: completed }}\n");
            }
            if let Some(m) = ps.max_restarts {
                y += &format!("        max_restarts: {m}\n");
            }
            if let Some(t) = ps.exited {
                y += &format!("        gc: {{ exited: {t}s }}\n");
            }
        }
    }
    y
}

fn load(spec: &ManifestSpec) -> Project {
    let text = yaml(spec);
    let path = Path::new("/tmp/gc-prop/ctmux.yaml");
    match crate::manifest::parse(&text, path, path, &HashMap::new()) {
        Ok(l) => l.project,
        Err(e) => panic!("generated manifest does not load: {e:?}\n{text}"),
    }
}

/// A time near one of the TTL edges, before `NOW`.
fn near_edge() -> impl Strategy<Value = u64> {
    (prop::sample::select(TTLS.to_vec()), -2i64..=2, any::<bool>())
        .prop_map(|(t, d, far)| if far { NOW - 5000 } else { (NOW as i64 - t as i64 + d) as u64 })
}

fn live_pane() -> impl Strategy<Value = LivePane> {
    (
        prop::sample::select(vec!["shop", "shop", "shop", "", "other"]),
        prop_oneof![4 => 0usize..3, 1 => Just(9usize)],
        any::<bool>(),
        near_edge(),
        prop_oneof![Just(None), (0i32..3).prop_map(Some)],
        prop::sample::select(vec!["", "", "", "stopped", "waiting"]),
        0u32..3,
        any::<bool>(),
        prop::bool::weighted(0.3),
        1u32..5000,
    )
        .prop_map(|(project, pane, dead, at, status, state, restarts, idle_shell, missing, pid)| LivePane {
            id: String::new(),
            project: project.into(),
            // Filled in with the session, in `world`: index 9 is undeclared.
            address: pane.to_string(),
            pid,
            dead,
            dead_since: dead.then_some(at),
            exit_status: if dead { status } else { None },
            state: state.into(),
            restarts,
            idle_shell: !dead && idle_shell,
            manifest_missing: missing && project == "other",
        })
}

fn world() -> impl Strategy<Value = World> {
    let session = (
        prop::sample::select(vec!["s0", "s1", "s2", "x"]),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.25),
        near_edge(),
        prop::collection::vec(live_pane(), 1..4),
    );
    let log = (near_edge(), 0u64..200, any::<bool>());
    (prop::collection::vec(session, 0..6), prop::collection::vec(log, 0..5)).prop_map(|(sessions, logs)| {
        let mut next = 0;
        let mut out = World { server: "A".into(), ..World::default() };
        for (i, (name, here, attached, activity, mut panes)) in sessions.into_iter().enumerate() {
            for p in &mut panes {
                next += 1;
                p.id = format!("%{next}");
                let idx: usize = p.address.parse().unwrap_or(9);
                p.address = if p.project.is_empty() {
                    String::new()
                } else if idx < 3 {
                    format!("{name}/{}", PANES[idx])
                } else {
                    format!("{name}/ghost")
                };
            }
            out.sessions.push(Session {
                server: if here { "A".into() } else { "B".into() },
                name: name.into(),
                id: format!("${i}"),
                attached,
                clients: 1,
                activity,
                panes,
            });
        }
        out.logs = logs
            .into_iter()
            .enumerate()
            .map(|(i, (modified, size, current))| LogFile {
                project: "shop".into(),
                path: PathBuf::from(format!("/logs/shop/{i}.log")),
                modified,
                size,
                current,
            })
            .collect();
        out
    })
}

/// The rules, stated again without the planner's structure.
mod oracle {
    use super::*;
    use crate::manifest::model::{Orphans, Restart};

    pub fn declared<'m>(m: &'m Project, s: &Session, p: &LivePane) -> Option<&'m crate::manifest::model::Pane> {
        let (sess, _) = p.address.split_once('/')?;
        if sess != s.name {
            return None;
        }
        m.pane(&p.address)
    }

    pub fn will_run_again(m: &Project, s: &Session, p: &LivePane) -> bool {
        let Some(spec) = declared(m, s, p) else { return false };
        if p.state == "stopped" || p.state == "waiting" {
            return true;
        }
        let left = match spec.max_restarts {
            None => true,
            Some(max) => p.restarts < max,
        };
        match spec.restart {
            Restart::No => false,
            Restart::OnFailure => left && p.exit_status != Some(0),
            _ => left,
        }
    }

    pub fn keep(m: &Project, s: &Session, p: &LivePane) -> bool {
        m.sessions.get(&s.name).map(|x| x.gc.keep).unwrap_or(false)
            || declared(m, s, p).map(|x| x.gc.keep).unwrap_or(false)
    }

    pub fn exited_ttl(m: &Project, s: &Session, p: &LivePane) -> Option<u64> {
        let spec = declared(m, s, p)?;
        spec.gc.exited.or(m.sessions[&s.name].gc.exited).or(m.gc.exited).map(|d| d.as_secs())
    }

    /// A waiting pane of this server depends on `p`.
    pub fn awaited(world: &World, m: &Project, p: &LivePane) -> bool {
        for ws in world.sessions.iter().filter(|x| x.server == world.server) {
            for w in &ws.panes {
                if w.project == m.name
                    && w.state == "waiting"
                    && let Some(spec) = m.pane(&w.address)
                    && spec.depends_on.iter().any(|d| d.target == p.address)
                {
                    return true;
                }
            }
        }
        false
    }

    /// Why removing pane `p` of session `s` would be wrong, if it would.
    pub fn wrong_pane(world: &World, m: Option<&Project>, s: &Session, p: &LivePane) -> Option<&'static str> {
        if s.server != world.server {
            return Some("another server");
        }
        if s.attached {
            return Some("attached session");
        }
        if p.project.is_empty() {
            return Some("not tagged by ctmux");
        }
        let Some(m) = m.filter(|m| m.name == p.project) else { return Some("no manifest for it") };
        if !p.dead {
            return Some("process runs");
        }
        if keep(m, s, p) {
            return Some("keep: true");
        }
        if awaited(world, m, p) {
            return Some("a waiting pane depends on it");
        }
        if declared(m, s, p).is_none() {
            return (m.gc.orphans != Orphans::Remove).then_some("orphan while orphans: report");
        }
        if will_run_again(m, s, p) {
            return Some("will run again");
        }
        match exited_ttl(m, s, p) {
            None => Some("no exited TTL"),
            Some(t) if p.dead_since.unwrap() + t > NOW => Some("before its TTL"),
            Some(_) => None,
        }
    }

    /// Why removing session `s` would be wrong, if it would.
    pub fn wrong_session(world: &World, m: Option<&Project>, s: &Session) -> Option<&'static str> {
        if s.server != world.server {
            return Some("another server");
        }
        if s.attached {
            return Some("attached session");
        }
        let Some(m) = m else { return Some("no manifest") };
        let Some(ms) = m.sessions.get(&s.name) else { return Some("session not declared") };
        if ms.gc.keep {
            return Some("keep: true");
        }
        for p in &s.panes {
            if p.project != m.name {
                return Some("a pane not tagged for the project");
            }
            if declared(m, s, p).is_none() {
                return Some("an undeclared pane");
            }
            if keep(m, s, p) {
                return Some("a kept pane");
            }
            if awaited(world, m, p) {
                return Some("a pane a waiting pane depends on");
            }
            if p.dead && will_run_again(m, s, p) {
                return Some("a pane that will run again");
            }
            let idle_shell = p.idle_shell && p.state != "waiting";
            if !p.dead && !idle_shell {
                return Some("a pane that runs");
            }
        }
        match ms.gc.idle.or(m.gc.idle) {
            None => Some("no idle TTL"),
            Some(t) if s.activity + t.as_secs() > NOW => Some("before its TTL"),
            Some(_) => None,
        }
    }
}

fn check(world: &World, m: Option<&Project>) -> Result<(), TestCaseError> {
    let manifests: Vec<Project> = m.cloned().into_iter().collect();
    let actions = plan(NOW, world, &manifests);
    let find = |id: &str| {
        world.sessions.iter().find_map(|s| s.panes.iter().find(|p| p.id == id).map(|p| (s, p))).expect("pane exists")
    };
    // Zero wrong deletions.
    for a in &actions {
        match a.kind {
            Kind::RemovePane => {
                let (s, p) = find(&a.pane);
                prop_assert_eq!(oracle::wrong_pane(world, m, s, p), None, "removed {:?} of {:?}", p, s.name);
            }
            Kind::RemoveSession => {
                let s = world.sessions.iter().find(|s| s.id == a.session_id).expect("session exists");
                prop_assert_eq!(oracle::wrong_session(world, m, s), None, "removed session {:?}", s);
            }
            Kind::RemoveLog => {
                let l = world.logs.iter().find(|l| Some(&l.path) == a.path.as_ref()).expect("log exists");
                prop_assert!(!l.current, "removed a current log {:?}", l);
                prop_assert!(m.is_some());
            }
            Kind::Report => {}
        }
    }
    // Everything eligible is removed (by itself or with its session).
    for s in &world.sessions {
        let session_removed = actions.iter().any(|a| a.kind == Kind::RemoveSession && a.session_id == s.id);
        if oracle::wrong_session(world, m, s).is_none() {
            prop_assert!(session_removed, "idle session {:?} not removed: {:?}", s, actions);
        }
        for p in &s.panes {
            let removed = session_removed || actions.iter().any(|a| a.kind == Kind::RemovePane && a.pane == p.id);
            if oracle::wrong_pane(world, m, s, p).is_none() {
                prop_assert!(removed, "eligible pane {:?} of {} not removed: {:?}", p, s.name, actions);
            }
        }
    }
    // Logs: old ones go, and what stays fits the size limit (current logs aside).
    if let Some(m) = m {
        let removed: Vec<&PathBuf> =
            actions.iter().filter(|a| a.kind == Kind::RemoveLog).filter_map(|a| a.path.as_ref()).collect();
        for l in &world.logs {
            if !l.current
                && let Some(age) = m.gc.logs_max_age
                && l.modified + age.as_secs() <= NOW
            {
                prop_assert!(removed.contains(&&l.path), "old log {:?} kept", l);
            }
        }
        if let Some(max) = m.gc.logs_max_size {
            let left: u64 =
                world.logs.iter().filter(|l| !l.current && !removed.contains(&&l.path)).map(|l| l.size).sum();
            let current: u64 = world.logs.iter().filter(|l| l.current).map(|l| l.size).sum();
            prop_assert!(left + current <= max || left == 0, "logs still {left}+{current} > {max}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// 2000 random worlds: no removal breaks a hard rule, and every eligible object is removed.
    #[test]
    fn gc_plan_never_removes_the_wrong_thing_and_removes_everything_eligible(
        spec in manifest_spec(),
        present in prop::bool::weighted(0.85),
        world in world(),
    ) {
        let project = load(&spec);
        check(&world, present.then_some(&project))?;
    }
}

#[test]
fn a_dead_pane_is_due_exactly_at_its_ttl() {
    let spec = ManifestSpec {
        exited: Some(60),
        idle: None,
        remove_orphans: false,
        max_age: None,
        max_size: None,
        sessions: vec![
            SessionSpec {
                keep: false,
                exited: None,
                idle: None,
                panes: vec![
                    PaneSpec {
                        after_p0: false,
                        restart: "no",
                        max_restarts: None,
                        keep: false,
                        exited: None,
                        shell: false
                    };
                    3
                ],
            };
            3
        ],
    };
    let m = load(&spec);
    let pane = |at: u64| LivePane {
        id: "%1".into(),
        project: "shop".into(),
        address: "s0/p0".into(),
        pid: 7,
        dead: true,
        dead_since: Some(at),
        exit_status: Some(0),
        ..LivePane::default()
    };
    let world = |at| World {
        server: "A".into(),
        sessions: vec![Session {
            server: "A".into(),
            name: "s0".into(),
            id: "$1".into(),
            panes: vec![pane(at)],
            ..Session::default()
        }],
        logs: vec![],
    };
    let ms = std::slice::from_ref(&m);
    assert!(plan(NOW, &world(NOW - 59), ms).is_empty());
    let due = plan(NOW, &world(NOW - 60), ms);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].kind, Kind::RemovePane);
    assert!(due[0].reason.contains("gc.exited is 1m"), "{}", due[0].reason);
    let later = outlook(NOW, &world(NOW - 59), ms);
    assert_eq!(later[0].due, NOW + 1);
}
