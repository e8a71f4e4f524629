//! Issue 10: `up`, `down` and health checks do exactly what they say — on every pane (ids past
//! `%9`), on this tmux server only, on an empty server, and politely.

use std::time::Duration;

use crate::harness::{Server, eventually};

/// Nine panes with `ready_when` (ids `%0`…`%8`, then `%9`+ for the dependent), each with
/// metadata, in a directory whose name tmux would expand as a format (`#S`).
fn nine_ready_panes() -> String {
    let mut m = String::from("version: 1\nname: nine\nsessions:\n  svc:\n    panes:\n");
    for i in 0..9 {
        m.push_str(&format!(
            "      p{i}:\n        command: echo ready-{i}; exec sleep 1000\n        ready_when: ready-{i}\n        metadata: {{ n: \"{i}\" }}\n"
        ));
    }
    m.push_str("  app:\n    depends_on: { svc: healthy }\n    cwd: ./odd#S%3dir\n    panes:\n      web:\n        command: pwd > ../where; exec sleep 1000\n        metadata: { n: web }\n");
    m
}

#[test]
fn ready_when_matches_on_panes_past_percent_9_and_metadata_is_read_for_every_pane() {
    let s = Server::new(&nine_ready_panes());
    std::fs::create_dir(s.path("odd#S%3dir")).unwrap();
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    let status = s.status();
    let panes = status["panes"].as_array().unwrap();
    assert_eq!(panes.len(), 10, "{status}");
    for p in panes {
        if p["address"] != "app/web" {
            assert_eq!(p["health"], "healthy", "{p}");
        }
    }
    // The dependent started in the directory the manifest names, not one tmux expanded.
    assert!(eventually(Duration::from_secs(10), || !crate::harness::read(&s.path("where")).is_empty()));
    assert_eq!(
        crate::harness::read(&s.path("where")).trim(),
        s.path("odd#S%3dir").canonicalize().unwrap().to_string_lossy()
    );
    let ls: serde_json::Value = serde_json::from_str(&s.expect(&["pane", "ls", "--detailed", "--json"], 0)).unwrap();
    let ls = ls["panes"].as_array().unwrap();
    assert_eq!(ls.len(), 10);
    for p in ls {
        let address = p["address"].as_str().unwrap();
        let want =
            if address == "app/web" { "web".to_string() } else { address.trim_start_matches("svc/p").to_string() };
        assert_eq!(p["metadata"]["n"], want.as_str(), "{p}");
    }
}
