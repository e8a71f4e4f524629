//! `down` at scale (issue 20, item 10): every wait concurrent, dependency order kept.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::{Server, read};

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// A pane that writes the time it got SIGTERM to FILE, then exits.
fn recorder(file: &str) -> String {
    format!("trap 'date +%s%N > {file}; exit 0' TERM; while :; do sleep 0.1; done")
}

#[test]
fn a_stop_that_times_out_holds_only_what_it_depends_on() {
    let mut m = String::from(
        "version: 1\nname: order\nsessions:\n  app:\n    windows:\n      main:\n        layout: tiled\n        panes:\n",
    );
    m.push_str(&format!("          db: \"{}\"\n", recorder("db.t")));
    m.push_str("          api: { command: \"trap '' TERM; while :; do sleep 0.1; done\", depends_on: [db], stop: { timeout: 4s } }\n");
    for i in 1..=8 {
        m.push_str(&format!("          w{i}: \"{}\"\n", recorder(&format!("w{i}.t"))));
    }
    let s = Server::new(&m);
    s.expect(&["up", "--no-daemon"], 0);
    // Every pane runs its own command (api is started once db runs); then its trap is set.
    assert!(crate::harness::eventually(Duration::from_secs(30), || {
        s.status()["panes"].as_array().unwrap().iter().filter(|p| p["state"] == "running").count() == 10
    }));
    std::thread::sleep(Duration::from_secs(1));
    let start = now_ns();
    s.expect(&["down"], 0);
    let at = |f: &str| -> f64 {
        let t: u128 = read(&s.path(f)).trim().parse().unwrap_or_else(|_| panic!("{f} not written"));
        (t.saturating_sub(start)) as f64 / 1e9
    };
    let db = at("db.t");
    assert!(db >= 3.5, "db was stopped {db:.2} s in, before api (which depends on it) was killed at 4 s");
    for i in 1..=8 {
        let w = at(&format!("w{i}.t"));
        assert!(w < 2.0, "w{i}, which nothing depends on, waited {w:.2} s for api's stop timeout");
    }
}

/// The bench's mixed stack (bench/compare.py `mixed_stack`): per window of 6 panes an idle
/// shell, an HTTP server, a server that logs, a shell running a program, a sleeper and a pane
/// waiting on window 0's server; window 0 holds a process that ignores SIGTERM instead.
fn mixed(panes: usize) -> String {
    let mut m = String::from("version: 1\nname: mixed\nsessions:\n");
    for w in 0..panes / 6 {
        if w % 5 == 0 {
            m.push_str(&format!("  s{}:\n    windows:\n", w / 5));
        }
        m.push_str(&format!("      w{w}:\n        layout: tiled\n        panes:\n"));
        m.push_str(&format!("          sh{w}: {{}}\n"));
        m.push_str(&format!("          http{w}: exec python3 -m http.server 0 --bind 127.0.0.1\n"));
        m.push_str(&format!("          log{w}: while true; do echo tick; sleep 0.2; done\n"));
        m.push_str(&format!("          prog{w}: sleep 1000; echo done\n"));
        m.push_str(&format!("          sleep{w}: exec sleep 1000\n"));
        if w == 0 {
            m.push_str(
                "          stubborn: { command: \"trap '' TERM; while :; do sleep 1; done\", stop: { timeout: 2s } }\n",
            );
        } else {
            m.push_str(&format!("          dep{w}: {{ command: exec sleep 1000, depends_on: [s0/http0] }}\n"));
        }
    }
    m
}

#[test]
fn down_of_a_120_pane_mixed_stack_takes_no_longer_than_up() {
    let s = Server::new(&mixed(120));
    let t = Instant::now();
    s.expect(&["up"], 0);
    let up = t.elapsed();
    let panes = s.panes();
    assert_eq!(panes.len(), 120);
    std::thread::sleep(Duration::from_secs(1));
    let pids: Vec<u32> = panes.iter().map(|p| p.2).collect();
    let t = Instant::now();
    s.expect(&["down"], 0);
    let down = t.elapsed();
    eprintln!(
        "up {:.2} s, down {:.2} s, ratio {:.2}",
        up.as_secs_f64(),
        down.as_secs_f64(),
        down.as_secs_f64() / up.as_secs_f64()
    );
    assert!(s.panes().is_empty(), "{:?}", s.panes());
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || !crate::harness::read(std::path::Path::new(&format!("/proc/{pid}/environ")))
                    .contains("CTMUX_PROJECT=mixed"),
            "pid {pid} survived"
        );
    }
    // The target is 1.5x; measured here after the change: 0.4-0.5x (before: 1.4-2.7x).
    assert!(
        down.as_secs_f64() <= up.as_secs_f64(),
        "down took {:.2} s, up {:.2} s",
        down.as_secs_f64(),
        up.as_secs_f64()
    );
    let _ = s.ctmux(&["daemon", "stop"]);
}
