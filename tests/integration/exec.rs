//! `pane exec`: argv after `--`, the command's own exit status, busy panes, concurrent calls, a
//! shell that exits, incomplete text, and an exec killed mid-way — each on a real tmux server.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{Server, eventually};

fn json(out: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A server with an unmanaged session `work` whose pane is an interactive `sh` (dash: no line
/// editor, the terminal in canonical mode) and `bashed`, an interactive bash (readline,
/// bracketed paste).
fn with_shell() -> Server {
    let s = Server::new("version: 1\nname: execs\nsessions:\n  app:\n    panes:\n      api: exec sleep 1000\n");
    s.expect(&["session", "new", "work", "--", "sh"], 0);
    s.expect(&["session", "new", "bashed", "--", "bash", "--norc", "--noprofile"], 0);
    s
}

fn exec_doc(s: &Server, args: &[&str], code: i32) -> serde_json::Value {
    exec_in(s, "work", args, code)
}

fn exec_in(s: &Server, pane: &str, args: &[&str], code: i32) -> serde_json::Value {
    let mut all = vec!["--json", "pane", "exec", pane, "--wait", "--timeout", "20s", "--"];
    all.extend(args);
    let out = s.ctmux(&all);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
    json(&out.stdout)
}

#[test]
fn exec_keeps_each_word_after_double_dash_as_one_argument() {
    let s = with_shell();
    // Several words are an argv: the shell text inside `sh -c` stays one word.
    let doc = exec_doc(&s, &["sh", "-c", "echo hi; exit 3"], 3);
    assert_eq!(doc["exit_status"], 3);
    assert_eq!(doc["output"], "hi\n");
    let doc = exec_doc(&s, &["printf", "%s\\n", "two words"], 0);
    assert_eq!(doc["output"], "two words\n", "the pane's shell survived and kept the words");
    let doc = exec_doc(
        &s,
        &["printf", "[%s]\\n", "a  b", "$HOME", "x;y", "it's \"q\"", "line1\nline2", "ünï ✓", "`id`", "*"],
        0,
    );
    assert_eq!(doc["output"], "[a  b]\n[$HOME]\n[x;y]\n[it's \"q\"]\n[line1\nline2]\n[ünï ✓]\n[`id`]\n[*]\n");
    // One word is shell text: expansions, `;`, quotes and newlines are the shell's.
    let doc = exec_doc(&s, &["v=ünï; echo \"$v $((40+2))\"; printf '%s\\n' 'a;b'"], 0);
    assert_eq!(doc["output"], "ünï 42\na;b\n");
    let doc = exec_doc(&s, &["echo one\necho 'two\n  lines'\n(exit 5)"], 5);
    assert_eq!(doc["output"], "one\ntwo\n  lines\n");
    let doc = exec_doc(&s, &["printf 'a\\tb\\n'; echo\t'tab'"], 0);
    assert_eq!(doc["output"], "a\tb\ntab\n");
    // The same in bash, where the text arrives as a bracketed paste.
    let doc = exec_in(&s, "bashed", &["printf", "[%s]\\n", "a  b", "$HOME", "line1\nline2", "ünï ✓", "\t"], 0);
    assert_eq!(doc["output"], "[a  b]\n[$HOME]\n[line1\nline2]\n[ünï ✓]\n[\t]\n");
    let doc = exec_in(&s, "bashed", &["echo one\necho 'two\n  lines'\n(exit 5)"], 5);
    assert_eq!(doc["output"], "one\ntwo\n  lines\n");
}

#[test]
fn long_and_many_line_commands_reach_the_shell_whole() {
    let s = with_shell();
    let long = format!("echo {} | wc -c", "x".repeat(20_000));
    let heredoc = format!("cat <<'EOF' | wc -c\n{}EOF", format!("{}\n", "y".repeat(100)).repeat(300));
    for pane in ["work", "bashed"] {
        let doc = exec_in(&s, pane, &[&long], 0);
        assert_eq!(doc["output"].as_str().unwrap().trim(), "20001", "{pane}");
        let doc = exec_in(&s, pane, &[&heredoc], 0);
        assert_eq!(doc["output"].as_str().unwrap().trim(), "30300", "{pane}");
    }
    assert_eq!(s.tmux(&["list-buffers"]).trim(), "", "tmux buffers left behind");
}

#[test]
fn exec_wait_exits_with_the_commands_own_status_and_chains_with_and() {
    let s = with_shell();
    for (cmd, code) in [("exit 3", 3), ("true", 0), ("false", 1), ("exit 255", 255)] {
        let out = s.ctmux(&["pane", "exec", "work", "--wait", "--timeout", "20s", "--", "sh", "-c", cmd]);
        assert_eq!(out.status.code(), Some(code), "{cmd}");
    }
    let bin = env!("CARGO_BIN_EXE_ctmux");
    let chain = |first: &str| {
        let script = format!("\"$1\" -L \"$2\" pane exec work --wait -- {first} && echo DEPLOYED");
        let out = std::process::Command::new("sh")
            .args(["-c", &script, "sh", bin, &s.name])
            .env("CTMUX_STATE_DIR", s.state.path())
            .env("XDG_RUNTIME_DIR", s.state.path())
            .env_remove("TMUX")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(chain("true").contains("DEPLOYED"));
    assert!(!chain("false").contains("DEPLOYED"), "a failed command must stop the chain");
    // ctmux's own failures keep their codes, and the JSON says which is which.
    let out = s.ctmux(&["--json", "pane", "exec", "nope", "--wait", "--timeout", "30s", "--", "true"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(json(&out.stdout)["error"]["code"], "not_found");
    let out = s.ctmux(&["--json", "pane", "exec", "work", "--wait", "--timeout", "300ms", "--", "sleep 5"]);
    assert_eq!(out.status.code(), Some(3));
    let doc = json(&out.stdout);
    assert_eq!((doc["timed_out"].as_bool(), doc["exit_status"].is_null()), (Some(true), true), "{doc}");
}

#[test]
fn exec_refuses_a_busy_pane_naming_what_runs_unless_forced() {
    let s = with_shell();
    s.expect(&["pane", "exec", "work", "--", "sleep 300"], 0);
    assert!(eventually(Duration::from_secs(5), || s
        .tmux(&["display-message", "-p", "-t", "work", "#{pane_current_command}"])
        .trim()
        == "sleep"));
    let out = s.ctmux(&["--json", "pane", "exec", "work", "--wait", "--timeout", "30s", "--", "echo typed"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out.stdout);
    assert_eq!(doc["error"]["code"], "pane_busy", "{doc}");
    assert!(doc["error"]["message"].as_str().unwrap().contains("sleep 300"), "{doc}");
    let out = s.ctmux(&["--json", "pane", "exec", "work", "--", "echo typed"]);
    assert_eq!((out.status.code(), json(&out.stdout)["error"]["code"].clone()), (Some(1), "pane_busy".into()));
    assert!(!s.tmux(&["capture-pane", "-p", "-t", "work"]).contains("echo typed"), "nothing was typed");
    // --force types anyway: here, into sleep's terminal (the shell reads it after sleep ends).
    s.expect(&["pane", "exec", "work", "--force", "--", "echo forced"], 0);
    assert!(eventually(Duration::from_secs(5), || s.tmux(&["capture-pane", "-p", "-t", "work"]).contains("forced")));
    // While another exec waits on its command, one without --wait is refused, naming it.
    let waiting = s
        .cmd(&["pane", "exec", "bashed", "--wait", "--timeout", "30s", "--", "sleep 2; echo waited"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || s
        .tmux(&["display-message", "-p", "-t", "bashed", "#{pane_current_command}"])
        .trim()
        == "sleep"));
    let out = s.ctmux(&["--json", "pane", "exec", "bashed", "--", "echo", "cut-in"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out.stdout);
    assert_eq!(doc["error"]["code"], "pane_busy", "{doc}");
    assert!(doc["error"]["message"].as_str().unwrap().contains("sleep 2"), "{doc}");
    let out = waiting.wait_with_output().unwrap();
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned()), (Some(0), "waited\n".into()));
    // A shell whose syntax is not POSIX is refused as such (here dash under the name `fish`).
    let fish = s.path("fish");
    std::os::unix::fs::symlink("/bin/sh", &fish).unwrap();
    let id = s.expect(&["pane", "new", "work", "--", &fish.to_string_lossy()], 0).trim().to_string();
    let out = s.ctmux(&["--json", "pane", "exec", &id, "--wait", "--timeout", "30s", "--", "true"]);
    assert_eq!((out.status.code(), json(&out.stdout)["error"]["code"].clone()), (Some(1), "unsupported_shell".into()));
    // A pane whose own process is not an interactive shell is busy too.
    for cmd in [vec!["sleep", "300"], vec!["sh", "-c", "sleep 300"]] {
        let mut args = vec!["pane", "new", "work", "--"];
        args.extend(&cmd);
        let id = s.expect(&args, 0).trim().to_string();
        let out = s.ctmux(&["--json", "pane", "exec", &id, "--wait", "--timeout", "30s", "--", "true"]);
        assert_eq!(out.status.code(), Some(1));
        let doc = json(&out.stdout);
        assert_eq!(doc["error"]["code"], "pane_busy", "{doc}");
        assert!(doc["error"]["message"].as_str().unwrap().contains(&cmd.join(" ")), "{doc}");
    }
}

#[test]
fn ten_concurrent_exec_waits_on_one_pane_each_get_their_own_output() {
    let s = with_shell();
    // Panes past %9, and a second busy pane beside the first.
    let first = s.tmux(&["display-message", "-p", "-t", "=work:", "#{pane_id}"]).trim().to_string();
    let mut last = String::new();
    for _ in 0..9 {
        last = s.expect(&["pane", "new", "work", "--", "sh"], 0).trim().to_string();
    }
    assert!(last[1..].parse::<u32>().unwrap() >= 10, "{last}");
    let children: Vec<_> = (0..14)
        .map(|i| {
            let cmd = format!("echo out-{i}-$(({i}*3)); sleep 0.1; (exit {i})");
            let pane = if i < 10 { first.as_str() } else { last.as_str() };
            s.cmd(&["--json", "pane", "exec", pane, "--wait", "--timeout", "60s", "--", &cmd])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let doc = json(&out.stdout);
        assert_eq!(out.status.code(), Some(i as i32), "{doc} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(doc["exit_status"], i, "{doc}");
        assert_eq!(doc["output"], format!("out-{i}-{}\n", i * 3), "{doc}");
    }
    let pipes = s.tmux(&["list-panes", "-a", "-F", "#{pane_pipe}"]);
    assert!(pipes.lines().all(|p| p == "0"), "pipe left open: {pipes}");
}

#[test]
fn exec_that_exits_the_shell_or_never_completes_ends_with_an_error_not_a_hang() {
    let s = with_shell();
    let start = Instant::now();
    let out = s.ctmux(&["--json", "pane", "exec", "work", "--wait", "--timeout", "30s", "--", "echo 'oops"]);
    assert_eq!(out.status.code(), Some(2), "unbalanced quote");
    let doc = json(&out.stdout);
    assert!(doc["error"]["message"].as_str().unwrap().contains("not complete shell syntax"), "{doc}");
    let out = s.ctmux(&["--json", "pane", "exec", "work", "--wait", "--timeout", "30s", "--", "make &&"]);
    assert_eq!(out.status.code(), Some(2), "dangling &&");
    s.expect(&["pane", "exec", "work", "--wait", "--timeout", "30s", "--", "echo still-alive"], 0);
    let out = s.ctmux(&["--json", "pane", "exec", "work", "--wait", "--timeout", "30s", "--", "echo bye; exit 3"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out.stdout);
    assert_eq!(doc["error"]["code"], "shell_exited", "{doc}");
    assert!(doc["error"]["message"].as_str().unwrap().contains("status 3"), "{doc}");
    // Quick exits race the look at the shell (tmux may reap it before ctmux looks): each one
    // must still end promptly with shell_exited.
    for i in 0..6 {
        let name = format!("quit{i}");
        s.expect(&["session", "new", &name, "--", "sh"], 0);
        let out = s.ctmux(&["--json", "pane", "exec", &name, "--wait", "--timeout", "30s", "--", "exit 3"]);
        assert_eq!((out.status.code(), json(&out.stdout)["error"]["code"].clone()), (Some(1), "shell_exited".into()));
    }
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    let exec_dir = s.state.path().join("ctmux/exec");
    let left: Vec<String> = std::fs::read_dir(&exec_dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(left.iter().all(|f| f.ends_with(".lock")), "temp files left: {left:?}");
}

/// Whether pane `work` has a pipe (`1`) or not (`0`).
fn pipe_of_work(s: &Server) -> String {
    s.tmux(&["display-message", "-p", "-t", "work", "#{pane_pipe}"]).trim().to_string()
}

/// `pane exec work --wait -- TEXT` running in the background, once it reads the pane's output.
fn exec_reading(s: &Server, text: &str) -> std::process::Child {
    let child = s
        .cmd(&["pane", "exec", "work", "--wait", "--timeout", "30s", "--", text])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || pipe_of_work(s) == "1"));
    child
}

#[test]
fn killed_exec_leaves_no_pipe_or_temp_file_behind() {
    let s = with_shell();
    let mut child = exec_reading(&s, "sleep 1; echo done-$((6*7))");
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(eventually(Duration::from_secs(10), || s.tmux(&["capture-pane", "-p", "-t", "work"]).contains("done-42")));
    assert!(
        eventually(Duration::from_secs(10), || pipe_of_work(&s) == "0"),
        "the pane's pipe outlived the killed exec"
    );
    let exec_dir = s.state.path().join("ctmux/exec");
    let left: Vec<String> = std::fs::read_dir(&exec_dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(left.iter().all(|f| f.ends_with(".lock")), "temp files left: {left:?}");
    // And the pane is usable at once.
    s.expect(&["pane", "exec", "work", "--wait", "--timeout", "10s", "--", "true"], 0);
}

#[test]
fn interrupted_exec_closes_its_pipe_and_exits_130() {
    let s = with_shell();
    let child = exec_reading(&s, "sleep 2; echo late");
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(pipe_of_work(&s), "0", "pipe left open");
}

#[test]
fn exec_waits_for_a_shell_still_running_its_startup_files_and_names_a_slow_one() {
    let s = with_shell();
    let rc = s.path("rc");
    std::fs::write(&rc, "echo starting\nsleep 1.5\necho rc-done\n").unwrap();
    let rc = rc.to_string_lossy().into_owned();
    s.expect(&["session", "new", "slow", "--", "bash", "--noprofile", "--rcfile", &rc, "-i"], 0);
    let doc = exec_in(&s, "slow", &["echo", "after-startup"], 0);
    assert_eq!(doc["output"], "after-startup\n");
    // A startup that does not end in time is refused, naming what it runs.
    let stuck = s.path("stuck");
    std::fs::write(&stuck, "echo starting\nsleep 300\n").unwrap();
    let stuck = stuck.to_string_lossy().into_owned();
    s.expect(&["session", "new", "stuck", "--", "bash", "--noprofile", "--rcfile", &stuck, "-i"], 0);
    let out = s.ctmux(&["--json", "pane", "exec", "stuck", "--wait", "--timeout", "1s", "--", "echo", "never"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out.stdout);
    assert_eq!(doc["error"]["code"], "pane_busy", "{doc}");
    assert!(doc["error"]["message"].as_str().unwrap().contains("sleep 300"), "{doc}");
}
