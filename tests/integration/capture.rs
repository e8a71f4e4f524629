//! Issue 19: every byte a managed pane's process writes reaches its log once and in order —
//! when it exits right after writing, while tmux lags, while the daemon is dead — and the
//! daemon acts on each logged line once. Logs are per tmux server.

use std::time::Duration;

use crate::harness::{Server, eventually, read};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The raw lines of a log (time stamps dropped).
fn logged(path: &std::path::Path) -> Vec<String> {
    read(path).lines().map(|l| l.split_once('\t').map_or(l, |(_, v)| v).to_string()).collect()
}

/// A manifest of `n` panes, each printing `lines` numbers then `FATAL-<i>` and exiting 3, with
/// a rule on the FATAL line that appends it to `fired.txt`.
fn crashers(name: &str, n: usize, lines: usize) -> String {
    let mut m = format!("version: 1\nname: {name}\nshell: /bin/sh\nsessions:\n  s:\n    panes:\n");
    for i in 0..n {
        m.push_str(&format!(
            "      p{i}:\n        command: seq 1 {lines}; echo FATAL-{i}; exit 3\n        on:\n          - {{ match: '^FATAL-', do: {{ run: 'echo \"$$CTMUX_MATCH\" >> fired.txt' }} }}\n"
        ));
    }
    m
}

fn every_log_complete_and_each_rule_once(s: &Server, project: &str, n: usize, lines: usize) {
    let expected = |i: usize| -> Vec<String> {
        (1..=lines).map(|k| k.to_string()).chain(std::iter::once(format!("FATAL-{i}"))).collect()
    };
    let complete = || (0..n).all(|i| logged(&s.logs().join(format!("{project}/s/p{i}.log"))) == expected(i));
    let fired = || {
        let mut v: Vec<String> = read(&s.path("fired.txt")).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    let mut want: Vec<String> = (0..n).map(|i| format!("FATAL-{i}")).collect();
    want.sort();
    let ok = eventually(Duration::from_secs(60), || complete() && fired() == want);
    if !ok {
        let counts: Vec<(usize, usize, Option<String>)> = (0..n)
            .map(|i| {
                let l = logged(&s.logs().join(format!("{project}/s/p{i}.log")));
                (i, l.len(), l.last().cloned())
            })
            .filter(|(i, _, _)| logged(&s.logs().join(format!("{project}/s/p{i}.log"))) != expected(*i))
            .collect();
        panic!("incomplete logs (pane, lines, last): {counts:?}; fired: {:?}", fired());
    }
    // Once, and not again.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fired(), want, "a rule fired twice");
    let doc = json(&s.expect(&["--json", "events", "--kind", "pattern.matched"], 0));
    assert_eq!(doc["events"].as_array().unwrap().len(), n, "{doc}");
}

#[test]
fn twenty_panes_that_print_5000_lines_and_exit_log_every_line_and_fire_once_each() {
    let s = Server::new(&crashers("crash", 20, 5000));
    s.expect(&["up"], 0);
    every_log_complete_and_each_rule_once(&s, "crash", 20, 5000);
}

#[test]
fn twenty_panes_that_print_50000_lines_and_exit_log_every_line_and_fire_once_each() {
    let s = Server::new(&crashers("crashbig", 20, 50_000));
    s.expect(&["up"], 0);
    every_log_complete_and_each_rule_once(&s, "crashbig", 20, 50_000);
}

#[test]
fn a_daemon_killed_mid_burst_loses_nothing_with_no_command_run_and_acts_once_after_restart() {
    let s = Server::new(
        r#"
version: 1
name: killed
shell: /bin/sh
sessions:
  b:
    panes:
      p:
        command: |
          echo start-A
          sleep 1
          awk 'BEGIN { for (i = 1; i <= 200000; i++) { print i; if (i % 20000 == 0) { fflush(); system("sleep 0.15") } } }'
          echo END
          exec sleep 1000
        on:
          - { match: '^start-A$', do: { run: 'echo a >> fired.txt' } }
          - { match: '^100000$', do: { run: 'echo mid >> fired.txt' } }
          - { match: '^END$', do: { run: 'echo end >> fired.txt' } }
"#,
    );
    s.expect(&["up"], 0);
    let log = s.logs().join("killed/b/p.log");
    let numbers = || -> Vec<u64> { read(&log).lines().filter_map(|l| l.split_once('\t')?.1.parse().ok()).collect() };
    assert!(eventually(Duration::from_secs(30), || numbers().len() >= 20_000), "burst did not start");
    let pid = json(&s.expect(&["--json", "daemon", "status"], 0))["status"]["pid"].as_i64().unwrap();
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let at_kill = numbers().len();
    assert!(at_kill < 200_000, "the burst ended before the kill");
    // No ctmux command from here: the sink goes on writing.
    assert!(eventually(Duration::from_secs(60), || read(&log).ends_with("\tEND\n")), "the log stopped");
    let got = numbers();
    if got != (1..=200_000).collect::<Vec<u64>>() {
        let dups = got.windows(2).filter(|w| w[1] <= w[0]).count();
        let gaps = got.windows(2).filter(|w| w[1] > w[0] + 1).count();
        panic!("{} lines, {dups} repeats, {gaps} gaps (killed at {at_kill})", got.len());
    }
    assert_eq!(read(&log).matches("\tstart-A\n").count(), 1);
    // A daemon started again acts on what came after the kill, and on nothing twice.
    s.expect(&["daemon", "start"], 0);
    // (Actions run concurrently: their order in the file is not the lines' order.)
    let fired = || {
        let mut v: Vec<String> = read(&s.path("fired.txt")).lines().map(str::to_string).collect();
        v.sort();
        v.join(" ")
    };
    assert!(eventually(Duration::from_secs(20), || fired() == "a end mid"), "fired: {:?}", fired());
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(fired(), "a end mid", "an action ran twice");
    // And again: a second restart repeats nothing.
    s.expect(&["daemon", "stop"], 0);
    s.expect(&["daemon", "start"], 0);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(fired(), "a end mid", "an action ran twice after a clean restart");
}

#[test]
fn the_same_project_on_two_servers_keeps_separate_logs_that_logs_and_gc_keep_apart() {
    let manifest = "version: 1\nname: twin\nshell: /bin/sh\ngc: { logs: { max_age: 1h } }\nsessions:\n  s:\n    panes:\n      p: echo from-$$(tmux display -p '#{socket_path}'); exec sleep 1000\n";
    let a = Server::new(manifest);
    let b = Server::new(manifest);
    // One state directory for both, as for one user.
    let on_b = |args: &[&str], code: i32| {
        let out = b.cmd(args).env("CTMUX_STATE_DIR", a.state.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    a.expect(&["up"], 0);
    on_b(&["up"], 0);
    let a_log = a.logs().join("twin/s/p.log");
    let b_log = a.state.path().join("logs").join(b.logs().file_name().unwrap()).join("twin/s/p.log");
    assert_ne!(a_log, b_log);
    assert!(eventually(Duration::from_secs(10), || read(&a_log).contains(&format!("/{}\n", a.name))));
    assert!(eventually(Duration::from_secs(10), || read(&b_log).contains(&format!("/{}\n", b.name))));
    assert!(!read(&a_log).contains(&b.name) && !read(&b_log).contains(&a.name));
    let a_says = a.expect(&["logs", "--no-prefix"], 0);
    let b_says = on_b(&["logs", "--no-prefix"], 0);
    assert!(a_says.contains(&a.name) && !a_says.contains(&b.name), "{a_says}");
    assert!(b_says.contains(&b.name) && !b_says.contains(&a.name), "{b_says}");
    // `down` and GC on one server leave the other's logs alone, even old ones.
    a.expect(&["down"], 0);
    for log in [&a_log, &b_log] {
        let ok = std::process::Command::new("touch").args(["-d", "3 hours ago"]).arg(log).status().unwrap();
        assert!(ok.success());
    }
    let done = json(&a.expect(&["gc", "--json"], 0));
    let removed: Vec<&str> = done["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "remove_log" && x["result"] == "removed")
        .filter_map(|x| x["path"].as_str())
        .collect();
    assert!(!a_log.exists(), "a's old log was kept: {done}");
    assert!(b_log.exists(), "GC on a removed b's live log: {removed:?}");
    assert!(removed.iter().all(|p| !p.contains(b.logs().file_name().unwrap().to_str().unwrap())), "{removed:?}");
    on_b(&["down"], 0);
}

#[test]
fn a_pane_restarted_while_printing_never_interleaves_two_runs() {
    let s = Server::new(
        "version: 1\nname: twice\nshell: /bin/sh\nsessions:\n  s:\n    panes:\n      p: \"awk -v r=$$$$ 'BEGIN { for (i = 1; ; i++) { print r, i; if (i % 2000 == 0) system(\\\"sleep 0.02\\\") } }'\"\n",
    );
    s.expect(&["up"], 0);
    let log = s.logs().join("twice/s/p.log");
    for _ in 0..3 {
        let before = read(&log).len();
        assert!(eventually(Duration::from_secs(20), || read(&log).len() > before + 50_000), "no output");
        s.expect(&["restart", "s/p"], 0);
    }
    std::thread::sleep(Duration::from_secs(1));
    // The last run goes on printing: up to the last complete line.
    let text = read(&log);
    let lines: Vec<String> = text[..text.rfind('\n').map_or(0, |i| i + 1)]
        .lines()
        .map(|l| l.split_once('\t').map_or(l, |(_, v)| v).to_string())
        .collect();
    let mut runs: Vec<String> = Vec::new();
    let mut last: Option<(String, u64)> = None;
    for (n, line) in lines.iter().enumerate() {
        let Some((run, i)) = line.split_once(' ') else { continue };
        let i: u64 = i.parse().unwrap_or_else(|_| panic!("line {n}: {line:?}"));
        match &last {
            Some((r, k)) if r == run => assert_eq!(i, k + 1, "line {n}: a gap or repeat in run {run}"),
            _ => {
                assert!(!runs.contains(&run.to_string()), "line {n}: run {run} resumed after another began");
                assert_eq!(i, 1, "line {n}: run {run} starts at {i}");
                runs.push(run.to_string());
            }
        }
        last = Some((run.to_string(), i));
    }
    assert!(runs.len() >= 4, "runs seen: {runs:?}");
}

#[test]
fn up_wait_on_a_job_that_prints_5000_lines_then_fails_shows_its_last_line() {
    let s = Server::new(
        "version: 1\nname: report\nshell: /bin/sh\nsessions:\n  s:\n    panes:\n      job:\n        command: seq 1 5000; echo FATAL-JOB; exit 3\n        job: true\n",
    );
    let out = s.ctmux(&["up", "--wait", "--timeout", "60s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("s/job"), "{stderr}");
    assert!(stderr.contains("FATAL-JOB"), "{stderr}");
    assert!(stderr.contains('3'), "{stderr}");
    // The log keeps earlier runs: a later failure shows only what its own process printed.
    s.expect(&["down"], 0);
    std::thread::sleep(Duration::from_millis(1100));
    s.write("version: 1\nname: report\nshell: /bin/sh\nsessions:\n  s:\n    panes:\n      job:\n        command: echo SECOND-RUN; exit 7\n        job: true\n");
    let out = s.ctmux(&["up", "--wait", "--timeout", "60s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SECOND-RUN") && !stderr.contains("FATAL-JOB"), "{stderr}");
}

#[test]
fn a_pane_of_an_older_ctmux_without_a_sink_gets_one_from_the_daemon() {
    let s = Server::new(
        "version: 1\nname: old\nshell: /bin/sh\nsessions:\n  s:\n    panes:\n      p: \"read go; echo after-upgrade; exec sleep 1000\"\n",
    );
    s.expect(&["up", "--no-daemon"], 0);
    // As an older ctmux left it: no pipe.
    s.tmux(&["pipe-pane", "-t", "=s:"]);
    assert_eq!(s.tmux(&["display-message", "-p", "-t", "=s:", "#{pane_pipe}"]).trim(), "0");
    s.expect(&["daemon", "start"], 0);
    assert!(eventually(Duration::from_secs(10), || s
        .tmux(&["display-message", "-p", "-t", "=s:", "#{pane_pipe}"])
        .trim()
        == "1"));
    s.tmux(&["send-keys", "-t", "=s:", "Enter"]);
    let log = s.logs().join("old/s/p.log");
    assert!(eventually(Duration::from_secs(10), || read(&log).contains("\tafter-upgrade\n")));
}

/// Private dirty memory of a process (KiB): what it costs on its own, shared pages aside.
fn private_dirty_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("Private_Dirty:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_sink_gives_back_what_a_burst_used_once_the_pane_is_quiet() {
    // 100 panes run 100 sinks: one that printed a burst and went quiet must cost what an idle
    // one does (before: the burst's buffers stayed, ~550 KiB more per sink, for the pane's life).
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state/logs");
    let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut sink = std::process::Command::new(env!("CARGO_BIN_EXE_ctmux-sink"))
        .args([root.to_str().unwrap(), "/tmp/x", "p/s/a.log", "100000000", "0"])
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(rx)))
        .spawn()
        .unwrap();
    let log = root.join("tmp_x/p/s/a.log");
    assert!(eventually(Duration::from_secs(10), || log.exists()), "no log");
    std::thread::sleep(Duration::from_millis(300));
    let idle = private_dirty_kib(sink.id());
    let lines = 400_000;
    let mut burst = String::new();
    for i in 0..lines {
        burst.push_str(&format!("line {i} of a burst\n"));
    }
    tx.write_all(burst.as_bytes()).unwrap();
    assert!(
        eventually(Duration::from_secs(30), || logged(&log).last().map(String::as_str)
            == Some("line 399999 of a burst")),
        "burst not logged"
    );
    // Quiet for longer than the sink's idle time (1 s).
    std::thread::sleep(Duration::from_millis(2500));
    let after = private_dirty_kib(sink.id());
    assert!(after <= idle + 48, "idle {idle} KiB, after a burst and 2.5 s of quiet {after} KiB");
    // Still a working sink: more input, then EOF.
    tx.write_all(b"after the quiet\n").unwrap();
    drop(tx);
    assert!(sink.wait().unwrap().success());
    let got = logged(&log);
    assert_eq!(got.len(), lines + 1);
    assert_eq!(got.last().map(String::as_str), Some("after the quiet"));
}
