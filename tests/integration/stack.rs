//! Issue 20: a stack does what the manifest and the verbs say — any locale, exact targets, the
//! daemon on the manifest the last verb read, `--wait` that tells the truth, stop/start.

use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::{Server, eventually};

/// `ctmux ARGS` on `s` with an environment as bare as cron's: `env -i PATH HOME` plus the
/// harness's own variables, and `locale` as `LC_ALL` when given (none: no locale at all).
fn bare(s: &Server, locale: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ctmux"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("CTMUX_STATE_DIR", s.state.path())
        .env("XDG_RUNTIME_DIR", s.state.path())
        .env("CTMUX_TMUX_CONF", "/dev/null")
        .env("NO_COLOR", "1")
        .current_dir(s.dir.path())
        .arg("-L")
        .arg(&s.name)
        .args(args);
    if let Some(l) = locale {
        c.env("LC_ALL", l);
    }
    c.output().expect("run ctmux")
}

/// [`bare`], asserting exit `code`; returns stdout.
fn bare_ok(s: &Server, locale: Option<&str>, args: &[&str], code: i32) -> String {
    let out = bare(s, locale, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "LC_ALL={locale:?} ctmux {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ten panes in three sessions, one with a non-ASCII name, each printing a marker then waiting.
const LOCALE_STACK: &str = r#"
version: 1
name: loc
sessions:
  café:
    panes:
      a: "echo ready-a; exec sleep 300"
      b: "echo ready-b; exec sleep 300"
      c: "echo ready-c; exec sleep 300"
      d: "echo ready-d; exec sleep 300"
  web:
    depends_on: [café]
    panes:
      e: "echo ready-e; exec sleep 300"
      f: "echo ready-f; exec sleep 300"
      g: "echo ready-g; exec sleep 300"
  jobs:
    panes:
      h: "echo ready-h; exec sleep 300"
      i: "echo ready-i; exec sleep 300"
      j: "echo ready-j; exec sleep 300"
"#;

/// The whole cycle — up --wait, status, plan, re-up, logs, snapshot, down — with no `LANG`,
/// with C and with POSIX: ctmux sees its panes exactly as under UTF-8.
#[test]
fn any_locale_sees_the_stack() {
    for locale in [None, Some("C"), Some("POSIX")] {
        let s = Server::new(LOCALE_STACK);
        bare_ok(&s, locale, &["up", "--wait", "--timeout", "30s"], 0);
        let status: serde_json::Value =
            serde_json::from_str(&bare_ok(&s, locale, &["status", "--json"], 0)).expect("status json");
        let panes = status["panes"].as_array().expect("panes");
        assert_eq!(panes.len(), 10, "{status}");
        for p in panes {
            assert_eq!(p["state"], "running", "LC_ALL={locale:?}: {p}");
            assert!(p["pid"].as_u64().is_some(), "{p}");
        }
        assert!(panes.iter().any(|p| p["address"] == "café/a"), "{status}");
        // Idempotent: nothing to do, and a second `up` sends no mutating command.
        bare_ok(&s, locale, &["plan", "--exit-code"], 0);
        let again = bare(&s, locale, &["up", "-v"]);
        assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
        let err = String::from_utf8_lossy(&again.stderr);
        assert!(err.contains(", 0 mutating"), "second up mutated under LC_ALL={locale:?}: {err}");
        assert_eq!(s.tmux(&["list-sessions", "-F", "#{session_name}"]).lines().count(), 3);
        // Logs (the daemon's) and a snapshot see the panes by their names.
        assert!(
            eventually(Duration::from_secs(15), || {
                let logs = String::from_utf8_lossy(&bare(&s, locale, &["logs", "-n", "50"]).stdout).into_owned();
                ["a", "e", "j"].iter().all(|p| logs.contains(&format!("ready-{p}")))
            }),
            "logs: {}",
            String::from_utf8_lossy(&bare(&s, locale, &["logs"]).stdout)
        );
        let snap: serde_json::Value =
            serde_json::from_str(&bare_ok(&s, locale, &["snapshot", "--json"], 0)).expect("snapshot json");
        assert_eq!(snap["panes"], 10, "{snap}");
        assert!(snap["manifest"].as_str().unwrap_or_default().contains("café"), "{snap}");
        let pids: Vec<u32> = panes.iter().filter_map(|p| p["pid"].as_u64()).map(|p| p as u32).collect();
        bare_ok(&s, locale, &["down"], 0);
        assert!(s.panes().is_empty(), "down left panes under LC_ALL={locale:?}: {:?}", s.panes());
        for pid in pids {
            assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} survived down");
        }
    }
}
