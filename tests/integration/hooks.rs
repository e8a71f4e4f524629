//! Project hooks (`hooks:`) on a real tmux server with 9 panes: when each runs, with what
//! environment and cwd, that a failing `before_up` stops `up` with nothing changed and its output
//! shown, and that no hook's secret reaches any process's argv.

use std::time::Duration;

use crate::harness::{Server, eventually, read};

/// Nine panes over three sessions; every hook appends a line to `hooks.log` in the project's
/// `cwd` (`work/`). `SECRET_TOKEN` comes from the manifest's `env`, `INTERP_SECRET` from ctmux's
/// own environment through interpolation (so it is inside the hook's command text).
fn manifest(before_up: &str, command: &str) -> String {
    format!(
        r#"version: 1
name: hooked
cwd: work
env: {{ SECRET_TOKEN: tok-5ecr3t-env }}
hooks:
  before_up:
    - {before_up}
  first_up: echo "first_up cwd=$(basename "$$PWD")" >> hooks.log
  after_up: echo "after_up panes=$(tmux -L "$$CTMUX_TMUX_SOCKET" list-panes -a -F x | wc -l)" >> hooks.log
  before_down: echo "before_down panes=$(tmux -L "$$CTMUX_TMUX_SOCKET" list-panes -a -F x | wc -l)" >> hooks.log
  after_down:
    - echo "after_down panes=$(tmux -L "$$CTMUX_TMUX_SOCKET" list-panes -a -F x 2>/dev/null | wc -l)" >> hooks.log
    - echo "after_down second" >> hooks.log
sessions:
  a:
    panes: {{ a1: "{command}", a2: sleep 300, a3: sleep 300 }}
  b:
    panes: {{ b1: sleep 300, b2: sleep 300, b3: sleep 300 }}
  c:
    panes: {{ c1: sleep 300, c2: sleep 300, c3: sleep 300 }}
"#
    )
}

/// Ends with `true`, not `sleep`: a shell running `-c` execs its last command, which would hide
/// its own argv from the scan (and with it a secret that was in it).
const BEFORE: &str = r#"'echo "before_up token=$$SECRET_TOKEN interp=${INTERP_SECRET} hook=$$CTMUX_HOOK project=$$CTMUX_PROJECT" >> hooks.log; touch before.started; sleep 1; true'"#;

fn lines(s: &Server) -> Vec<String> {
    read(&s.path("work/hooks.log")).lines().map(str::to_string).collect()
}

/// Every process's argv on this machine that contains `needle`.
fn argv_with(needle: &str) -> Vec<String> {
    crate::harness::read_dir_pids()
        .into_iter()
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let text = String::from_utf8_lossy(&raw).replace('\0', " ");
            text.contains(needle).then(|| format!("{pid}: {text}"))
        })
        .collect()
}

#[test]
fn hooks_run_in_order_with_the_projects_env_and_cwd_and_a_failing_before_up_changes_nothing() {
    let s = Server::new(&manifest(BEFORE, "sleep 300"));
    std::fs::create_dir(s.path("work")).unwrap();

    // First up: before_up, first_up, the build, after_up. While before_up sleeps, no process
    // anywhere carries either secret in its argv.
    let up =
        s.cmd(&["up"]).env("INTERP_SECRET", "tok-5ecr3t-interp").stderr(std::process::Stdio::piped()).spawn().unwrap();
    assert!(eventually(Duration::from_secs(20), || s.path("work/before.started").exists()), "before_up never ran");
    for secret in ["tok-5ecr3t-env", "tok-5ecr3t-interp"] {
        let found = argv_with(secret);
        assert!(found.is_empty(), "{secret} is in argv: {found:#?}");
    }
    let out = up.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(s.panes().len(), 9);
    assert_eq!(
        lines(&s),
        [
            "before_up token=tok-5ecr3t-env interp=tok-5ecr3t-interp hook=before_up project=hooked",
            "first_up cwd=work",
            "after_up panes=9",
        ],
        "{stderr}"
    );
    // The pane's environment still got the secret (through tmux, not argv).
    let ids: Vec<(String, String, u32, bool)> = s.panes();

    // Second up: nothing changes in tmux; before_up and after_up run again, first_up does not.
    s.cmd(&["up"]).env("INTERP_SECRET", "x").output().unwrap();
    let log = lines(&s);
    assert_eq!(log.len(), 5, "{log:#?}");
    assert!(log[3].starts_with("before_up token=tok-5ecr3t-env interp=x"), "{log:#?}");
    assert_eq!(log[4], "after_up panes=9");

    // A failing before_up (with a changed pane spec waiting): exit 1, its output shown, and
    // nothing changed — same panes, same pids, and the old command still runs.
    s.write(&manifest(r#"'echo "vault unreachable at 10.0.0.9"; echo second line >&2; exit 7'"#, "sleep 301"));
    let out = s.ctmux(&["up"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("[before_up] vault unreachable at 10.0.0.9"), "{stderr}");
    assert!(stderr.contains("[before_up] second line"), "{stderr}");
    assert!(stderr.contains("`hooks.before_up` failed: exit status 7"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(!stderr.contains("recreate"), "the plan must not be applied: {stderr}");
    assert_eq!(s.panes(), ids, "panes changed although before_up failed");
    assert_eq!(lines(&s).len(), 5, "no other hook may run after a failed before_up");
    // `--json`: one error document on stdout, carrying the hook's output.
    let out = s.ctmux(&["up", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hint = doc["error"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("vault unreachable at 10.0.0.9") && hint.contains("second line"), "{doc}");

    // down: before_down sees the 9 panes, after_down runs once they are gone (both commands).
    s.write(&manifest(BEFORE, "sleep 300"));
    let out = s.ctmux(&["down"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = lines(&s);
    assert_eq!(log[5..], ["before_down panes=9", "after_down panes=0", "after_down second"], "{log:#?}");
    assert!(s.panes().is_empty());

    // Nothing running again: the next up runs first_up again.
    s.cmd(&["up"]).env("INTERP_SECRET", "y").output().unwrap();
    let log = lines(&s);
    assert_eq!(
        log[8..],
        [
            "before_up token=tok-5ecr3t-env interp=y hook=before_up project=hooked",
            "first_up cwd=work",
            "after_up panes=9"
        ],
        "{log:#?}"
    );
    s.expect(&["down"], 0);
}

#[test]
fn after_up_runs_once_wait_is_satisfied_and_its_failure_is_exit_1_with_the_stack_up() {
    // `ready` becomes healthy only after 1 s; after_up must see it healthy.
    let s = Server::new(
        r#"version: 1
name: hooked2
hooks:
  after_up: |
    ctmux -L "$$CTMUX_TMUX_SOCKET" status --json > status.json
    exit 4
sessions:
  s:
    panes:
      ready: { command: "sleep 1; echo READY; sleep 300", ready_when: READY }
      p2: sleep 300
      p3: sleep 300
      p4: sleep 300
      p5: sleep 300
      p6: sleep 300
      p7: sleep 300
      p8: sleep 300
"#,
    );
    let out = s.cmd(&["up", "--wait", "--timeout", "30s"]).env("PATH", path_with_ctmux()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`hooks.after_up` failed: exit status 4"), "{stderr}");
    assert!(stderr.contains("the stack is up"), "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&read(&s.path("status.json"))).unwrap();
    let ready = status["panes"].as_array().unwrap().iter().find(|p| p["pane"] == "ready").unwrap().clone();
    assert_eq!(ready["health"], "healthy", "after_up ran before --wait was satisfied: {ready}");
    assert_eq!(s.panes().len(), 8);
    s.expect(&["down"], 0);
}

/// `PATH` with the ctmux under test first, so a hook's `ctmux` is this build.
fn path_with_ctmux() -> String {
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_ctmux")).parent().unwrap().display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}
