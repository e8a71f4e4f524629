//! `pane exec` leaves no trace: shells ctmux starts carry an OSC 133 hook, so exec types just
//! the command (it lands in history) and reads its output and status from the marks; panes
//! without the hook keep the typed wrapper, which no reading shows. And readings look like the
//! terminal: `\r` progress bars, a dead pane's tail, 1 MiB log pieces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{Server, eventually};

fn json(out: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn exec(s: &Server, pane: &str, text: &str, code: i32) -> serde_json::Value {
    let out = s.ctmux(&["--json", "pane", "exec", pane, "--wait", "--timeout", "30s", "--", text]);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{text}: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out.stdout)
}

/// Every file under `dir` whose name ends with `suffix` (logs may be laid out per server).
fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p, suffix));
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out
}

/// What ctmux's wrapper would leave: its markers and its typed `printf`.
fn has_wrapper(text: &str) -> bool {
    text.contains("CTMUX-") || text.contains("\\103TMUX") || text.contains("TMUX-BEGIN")
}

/// Ten keep_shell bash panes (ids past %9); the last carries the rules.
fn hooked_stack() -> Server {
    // A home of its own: the machine's ~/.bashrc is not the test's (and can take seconds).
    let mut m = String::from(
        "version: 1\nname: hooks\nshell: /bin/bash\nenv: { HOME: \"@HOME@\" }\nsessions:\n  w:\n    panes:\n",
    );
    for i in 0..9 {
        m.push_str(&format!("      p{i}: {{ command: echo started-{i}, keep_shell: true }}\n"));
    }
    m.push_str(
        r#"      sh:
        command: echo started-sh
        keep_shell: true
        env: { HISTFILE: "@HISTPATH@" }
        on:
          - match: 'CTMUX|\\103TMUX|printf'
            do: event
          - match: 'echo hook-probe'
            do: event
"#,
    );
    let s = Server::new("version: 1\n");
    let m = m.replace("@HISTPATH@", &s.path("history").to_string_lossy());
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    // A .bashrc that replaces PROMPT_COMMAND, as many do: the hook is installed after it.
    std::fs::write(home.join(".bashrc"), "PROMPT_COMMAND='user_pc=1'\nexport USER_RC=loaded\n").unwrap();
    let m = m.replace("@HOME@", &home.to_string_lossy());
    s.write(&m);
    s.expect(&["up"], 0);
    s
}

#[test]
fn exec_in_a_hooked_shell_types_just_the_command_and_leaves_no_trace() {
    let s = hooked_stack();
    let id = s.tmux(&["display-message", "-p", "-t", "=w:.9", "#{pane_id}"]).trim().to_string();
    assert!(id[1..].parse::<u32>().unwrap() >= 9, "{id}");
    let doc = exec(&s, "w/sh", "echo hook-probe-$((6*7))", 0);
    assert_eq!(doc["output"], "hook-probe-42\n");
    assert_eq!(doc["exit_status"], 0);
    assert_eq!(doc["timed_out"], false);
    assert_eq!(exec(&s, "w/sh", "false", 1)["exit_status"], 1);
    let doc = exec(&s, "w/sh", "no-such-command-xyz", 127);
    assert!(doc["output"].as_str().unwrap().contains("command not found"), "{doc}");
    assert_eq!(exec(&s, "w/sh", "sh -c 'kill -INT $$'", 130)["exit_status"], 130);
    let doc = exec(&s, "w/sh", "echo -ne 'progress 1%\\rprogress 2%\\rprogress 3%\\n'; echo -e 'a\\tb'", 0);
    assert_eq!(doc["output"], "progress 3%\na\tb\n", "output as the terminal shows it");
    let doc = exec(&s, "w/sh", "echo one\necho 'two\n  lines'\n(exit 5)", 5);
    assert_eq!(doc["output"], "one\ntwo\n  lines\n");
    // The command is in the shell's history, as typed.
    let doc = exec(&s, "w/sh", "history 20", 0);
    assert!(doc["output"].as_str().unwrap().contains("echo hook-probe-$((6*7))"), "{doc}");
    // No trace anywhere: tmux's own screen, capture, tail, the log.
    let screen = s.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", &id]);
    assert!(screen.contains("echo hook-probe-$((6*7))") && screen.contains("hook-probe-42"), "{screen}");
    assert!(!has_wrapper(&screen), "{screen}");
    let capture = s.expect(&["pane", "capture", "w/sh", "--all"], 0);
    assert!(capture.contains("hook-probe-42") && !has_wrapper(&capture), "{capture}");
    let tail = s.expect(&["pane", "tail", "w/sh", "-n", "60"], 0);
    assert!(tail.contains("hook-probe-42") && !has_wrapper(&tail), "{tail}");
    let log = || {
        files_under(&s.state.path().join("logs"), "sh.log")
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect::<String>()
    };
    assert!(eventually(Duration::from_secs(10), || log().contains("hook-probe-42")), "{}", log());
    assert!(!has_wrapper(&log()), "{}", log());
    let logs = s.expect(&["logs", "--no-prefix", "w/sh"], 0);
    assert!(logs.contains("hook-probe-42") && !has_wrapper(&logs), "{logs}");
    // The rule on the typed command line fired (once, on what the user sees); the one on
    // ctmux's text never did.
    let fired = || {
        let events = json(s.expect(&["--json", "events", "--kind", "pattern.matched"], 0).as_bytes());
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["data"]["rule"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(eventually(Duration::from_secs(10), || fired().iter().any(|r| r == "echo hook-probe")), "{:?}", fired());
    // (It fires again on `history`'s listing of the command: also what the user sees.)
    assert!(fired().iter().all(|r| r == "echo hook-probe"), "ctmux's text matched: {:?}", fired());
    // The shells are ctmux's hooked bash, hooked once, with the user's rc sourced first.
    // (The pane's process is the sink's runner; the shell is its child.)
    let runner = s.tmux(&["display-message", "-p", "-t", &id, "#{pane_pid}"]).trim().to_string();
    let children = std::fs::read_to_string(format!("/proc/{runner}/task/{runner}/children")).unwrap();
    let argv =
        std::fs::read_to_string(format!("/proc/{}/cmdline", children.split_whitespace().next().unwrap())).unwrap();
    assert!(argv.contains("--rcfile"), "{argv:?}");
    let doc = exec(&s, "w/sh", "echo \"${PROMPT_COMMAND}\" | grep -c __ctmux_precmd; echo $USER_RC $user_pc", 0);
    assert_eq!(doc["output"], "1\nloaded 1\n", "the user's rc ran first, and the hook once");
    let dir = s.state.path().join("shell");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "{dir:?}");
    // A multi-line command line, which bash draws again from its first row (ESC M up), reads
    // once in `logs`, as on screen (the first row was logged twice).
    exec(&s, "w/sh", "echo row-one-$((2+2))\necho row-two", 0);
    let logs = || s.expect(&["logs", "--no-prefix", "w/sh"], 0);
    assert!(eventually(Duration::from_secs(10), || logs().lines().any(|l| l == "row-two")), "{}", logs());
    let logs = logs();
    for row in ["echo row-one-$((2+2))", "echo row-two"] {
        assert_eq!(logs.lines().filter(|l| l.ends_with(row)).count(), 1, "{row}: {logs}");
    }
}

#[test]
fn ten_concurrent_execs_on_a_hooked_shell_each_get_their_own_output_and_status() {
    let s = hooked_stack();
    let children: Vec<_> = (0..10)
        .map(|i| {
            let cmd = format!("echo out-{i}-$(({i}*3)); sleep 0.1; (exit {i})");
            s.cmd(&["--json", "pane", "exec", "w/p3", "--wait", "--timeout", "60s", "--", &cmd])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let doc = json(&out.stdout);
        assert_eq!(out.status.code(), Some(i as i32), "{doc} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(doc["output"], format!("out-{i}-{}\n", i * 3), "{doc}");
    }
    // A timeout interrupts with --kill-on-timeout, and the shell is usable at once.
    let out = s.ctmux(&[
        "--json",
        "pane",
        "exec",
        "w/p3",
        "--wait",
        "--timeout",
        "500ms",
        "--kill-on-timeout",
        "--",
        "echo before; sleep 30",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let doc = json(&out.stdout);
    assert_eq!(
        (doc["timed_out"].as_bool(), doc["exit_status"].is_null(), doc["output"].as_str()),
        (Some(true), true, Some("before\n"))
    );
    assert_eq!(exec(&s, "w/p3", "echo after", 0)["output"], "after\n");
    // Someone removes the hook: the next exec says so (within 5 s), and later ones use the
    // wrapper, which no reading shows.
    exec(&s, "w/p3", "PS0=''", 0);
    let out = s.ctmux(&["--json", "pane", "exec", "w/p3", "--wait", "--timeout", "30s", "--", "echo unmarked"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out.stdout);
    assert!(doc["error"]["message"].as_str().unwrap().contains("hook is gone"), "{doc}");
    assert_eq!(exec(&s, "w/p3", "echo wrapped-$((2+2)); (exit 6)", 6)["output"], "wrapped-4\n");
    let capture = s.expect(&["pane", "capture", "w/p3", "--all"], 0);
    assert!(capture.contains("echo wrapped-$((2+2)); (exit 6)") && !has_wrapper(&capture), "{capture}");
}

#[test]
fn a_pane_without_the_hook_keeps_the_wrapper_and_no_reading_shows_it() {
    let s = Server::new("version: 1\nname: plain\n");
    // Started by tmux itself, not ctmux: no hook.
    s.expect(&["session", "new", "seed", "--", "sleep", "1000"], 0);
    s.tmux(&["new-session", "-d", "-s", "plain", "bash --norc --noprofile"]);
    assert!(eventually(Duration::from_secs(5), || !s.tmux(&["capture-pane", "-p", "-t", "=plain:"]).trim().is_empty()));
    let doc = exec(&s, "plain", "echo plain-$((2*21)); (exit 3)", 3);
    assert_eq!(doc["output"], "plain-42\n");
    // Under `env -i` (no LANG, no HOME, no PATH) it works the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ctmux"))
        .env_clear()
        .env("CTMUX_STATE_DIR", s.state.path())
        .env("XDG_RUNTIME_DIR", s.state.path())
        .current_dir(s.dir.path())
        .args([
            "-L",
            &s.name,
            "--json",
            "pane",
            "exec",
            "plain",
            "--wait",
            "--timeout",
            "30s",
            "--",
            "echo ünï-$((1+1))",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out.stdout)["output"], "ünï-2\n");
    // tmux's screen holds the typed wrapper; no reading of ctmux's does.
    let screen = s.tmux(&["capture-pane", "-p", "-J", "-t", "=plain:"]);
    assert!(screen.contains("TMUX-BEGIN"), "the wrapper is typed here: {screen}");
    let capture = s.expect(&["pane", "capture", "plain", "--all"], 0);
    assert!(capture.contains("echo plain-$((2*21)); (exit 3)") && capture.contains("plain-42"), "{capture}");
    assert!(!has_wrapper(&capture), "{capture}");
    let tail = s.expect(&["pane", "tail", "plain", "-n", "20"], 0);
    assert!(tail.contains("plain-42") && !has_wrapper(&tail), "{tail}");
    let find = s.ctmux(&["--json", "pane", "find", "TMUX|printf", "--all-sessions"]);
    assert_eq!(json(&find.stdout)["panes"], serde_json::json!([]), "pane find saw the wrapper");
    assert_eq!(s.ctmux(&["pane", "has", "plain", "CTMUX-END"]).status.code(), Some(1));
    let out =
        s.ctmux(&["--json", "pane", "wait", "plain", "--match", "TMUX-BEGIN", "--since-start", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(3), "pane wait matched the wrapper: {}", String::from_utf8_lossy(&out.stdout));
    // A live stream of the next exec shows the command and its output, not the wrapper.
    let mut stream =
        s.cmd(&["pane", "stream", "plain", "--timeout", "10s"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let lines = crate::harness::lines_of(&mut stream);
    std::thread::sleep(Duration::from_millis(500));
    exec(&s, "plain", "echo streamed-$((3*3))", 0);
    let mut seen = Vec::new();
    while let Ok(l) = lines.recv_timeout(Duration::from_secs(5)) {
        let done = l.contains("streamed-9") && !l.contains("echo");
        seen.push(l);
        if done {
            break;
        }
    }
    let _ = stream.kill();
    let _ = stream.wait();
    assert!(seen.iter().any(|l| l.ends_with("echo streamed-$((3*3))")), "{seen:?}");
    assert!(seen.iter().any(|l| l == "streamed-9"), "{seen:?}");
    assert!(!seen.iter().any(|l| has_wrapper(l)), "{seen:?}");
}

/// Whether `shell` is on this machine's PATH (CI need not have zsh or fish).
fn installed(shell: &str) -> bool {
    let found = std::process::Command::new("sh").args(["-c", &format!("command -v {shell}")]).output().unwrap();
    if !found.status.success() {
        eprintln!("note: {shell} is not installed; its pane exec check is skipped");
    }
    found.status.success()
}

#[test]
fn zsh_panes_ctmux_starts_are_hooked_and_fish_is_refused_where_installed() {
    if installed("zsh") {
        let s = Server::new("version: 1\n");
        let home = s.path("home");
        std::fs::create_dir_all(&home).unwrap();
        // A .zshrc that replaces precmd_functions and PS1, as prompt themes do.
        std::fs::write(home.join(".zshrc"), "export ZRC=loaded\nmine() { :; }\nprecmd_functions=(mine)\nPS1='%# '\n")
            .unwrap();
        let mut m = String::from("version: 1\nname: zz\nshell: zsh\nsessions:\n  z:\n    panes:\n");
        m.push_str(&format!(
            "      k: {{ command: echo started, keep_shell: true, env: {{ HOME: {} }} }}\n",
            home.display()
        ));
        m.push_str(&format!("      l: {{ env: {{ HOME: {} }} }}\n", home.display()));
        s.write(&m);
        s.expect(&["up"], 0);
        for pane in ["z/k", "z/l"] {
            let doc = exec(&s, pane, "echo z-$((1+1)) $ZRC ${ZDOTDIR:-home}; (exit 2)", 2);
            assert_eq!(doc["output"], "z-2 loaded home\n", "{pane}: the user's .zshrc ran, ZDOTDIR given back");
            assert_eq!(exec(&s, pane, "no-such-command-xyz", 127)["exit_status"], 127);
            let doc = exec(&s, pane, "fc -ln -2", 0);
            assert!(doc["output"].as_str().unwrap().contains("echo z-$((1+1))"), "{pane}: history: {doc}");
        }
        let screen = s.tmux(&["capture-pane", "-p", "-J", "-t", "=z:.0"]);
        assert!(screen.contains("echo z-$((1+1))") && !has_wrapper(&screen), "{screen}");
    }
    if installed("fish") {
        let s = Server::new("version: 1\nname: other\n");
        s.expect(&["session", "new", "o", "--", "fish"], 0);
        // Not POSIX: refused rather than typed wrong.
        let out = s.ctmux(&["--json", "pane", "exec", "o", "--wait", "--timeout", "20s", "--", "true"]);
        assert_eq!(json(&out.stdout)["error"]["code"], "unsupported_shell");
    }
}

#[test]
fn readings_show_a_progress_bars_last_state_a_dead_panes_last_words_and_long_lines_whole() {
    let s = Server::new(
        r#"
version: 1
name: reads
shell: /bin/sh
sessions:
  r:
    panes:
      bar: printf 'progress 1%%\rprogress 2%%\rprogress 100%%\n'; sleep 1000
      long: head -c 2500000 /dev/zero | tr '\0' a; echo; echo after-long; sleep 1000
"#,
    );
    s.expect(&["up"], 0);
    let logs = |t: &str| s.expect(&["logs", "--no-prefix", t], 0);
    assert!(eventually(Duration::from_secs(15), || logs("bar").contains("progress 100%")), "{}", logs("bar"));
    assert_eq!(logs("bar").trim_end(), "progress 100%", "the bar reads as its final state");
    let raw = s.expect(&["logs", "--no-prefix", "--ansi", "bar"], 0);
    assert!(raw.contains("progress 1%\rprogress 2%\r"), "--ansi shows the raw bytes: {raw:?}");
    let tail = s.expect(&["pane", "tail", "bar", "-n", "1"], 0);
    assert_eq!(tail.trim_end(), "progress 100%");
    assert!(eventually(Duration::from_secs(20), || logs("long").contains("after-long")), "long line not logged");
    let long = logs("long");
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(lines.len(), 2, "one line of 2.5 MB, then after-long");
    assert_eq!((lines[0].len(), lines[0].bytes().all(|b| b == b'a')), (2_500_000, true));
    // A pane that printed and exited: its last rows are what it printed and tmux's dead line.
    // (It lingers a moment: tmux 3.3a can drop what an unpiped process prints right before it
    // exits — the reason managed panes run under the sink's runner — and this is about readings.)
    let id = s.expect(&["pane", "new", "r", "--", "sh", "-c", "echo hello-job; sleep 0.3"], 0).trim().to_string();
    assert!(eventually(Duration::from_secs(10), || s
        .tmux(&["display-message", "-p", "-t", &id, "#{pane_dead}"])
        .trim()
        == "1"));
    let tail = s.expect(&["pane", "tail", &id, "-n", "3"], 0);
    let rows: Vec<&str> = tail.lines().collect();
    assert_eq!(rows.len(), 2, "{tail:?}");
    assert_eq!(rows[0], "hello-job");
    assert!(rows[1].starts_with("Pane is dead"), "{tail:?}");
    // The whole pane (a small split pane may have scrolled `hello-job` above its screen).
    let capture = s.expect(&["pane", "capture", &id, "--all"], 0);
    assert_eq!(capture.trim_end_matches('\n'), format!("hello-job\n{}", rows[1]), "no padding rows");
}

#[test]
fn rules_never_see_the_wrapper_typed_into_a_managed_shell_without_the_hook() {
    // dash has no hook: exec types its wrapper into this managed pane, whose log and rules
    // follow everything on it.
    let s = Server::new(
        r#"
version: 1
name: wrapped
shell: /bin/sh
sessions:
  w:
    panes:
      sh:
        command: echo started
        keep_shell: true
        on:
          - match: 'CTMUX|\\103TMUX|printf'
            do: event
          - match: 'echo wrapped-probe'
            do: event
"#,
    );
    s.expect(&["up"], 0);
    assert_eq!(exec(&s, "w/sh", "echo wrapped-probe-$((6*7))", 0)["output"], "wrapped-probe-42\n");
    let screen = s.tmux(&["capture-pane", "-p", "-J", "-t", "=w:"]);
    assert!(has_wrapper(&screen), "the wrapper is typed here: {screen}");
    let fired = || {
        let events = json(s.expect(&["--json", "events", "--kind", "pattern.matched"], 0).as_bytes());
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["data"]["rule"].as_str().unwrap().to_string(), e["data"]["text"].as_str().unwrap().to_string()))
            .collect::<Vec<_>>()
    };
    assert!(eventually(Duration::from_secs(10), || !fired().is_empty()), "the typed command never matched");
    std::thread::sleep(Duration::from_millis(500));
    let all = fired();
    assert!(all.iter().all(|(rule, _)| rule == "echo wrapped-probe"), "a rule saw ctmux's text: {all:?}");
    assert!(all.iter().all(|(_, text)| !has_wrapper(text)), "{all:?}");
    let logs = s.expect(&["logs", "--no-prefix", "w/sh"], 0);
    assert!(logs.contains("echo wrapped-probe-$((6*7))") && logs.contains("wrapped-probe-42"), "{logs}");
    assert!(!has_wrapper(&logs), "{logs}");
    // The exec read the pane through a control client: the pane's pipe is still its log sink,
    // and what the shell prints afterwards is logged.
    assert_eq!(s.tmux(&["display-message", "-p", "-t", "=w:", "#{pane_pipe}"]).trim(), "1");
    s.tmux(&["send-keys", "-t", "=w:", "echo after-exec-$((5*5))", "Enter"]);
    assert!(
        eventually(Duration::from_secs(10), || s.expect(&["logs", "--no-prefix", "w/sh"], 0).contains("after-exec-25")),
        "the log stopped after the exec"
    );
}
