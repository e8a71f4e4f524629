//! Composition as compose users know it: several `-f` merged in order, `include:`, `extends:`,
//! `profiles:` with `--profile`/`CTMUX_PROFILES`, `.env` for interpolation, `--env-file`, and
//! `config -v` naming each value's file — on a real tmux server, with diagnostics that point
//! at the right file.

use std::time::Duration;

use crate::harness::{Server, eventually};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

const BASE: &str = r#"version: 1
name: comp
include: [sub/tools.yaml]
env: { GREETING: "${GREETING:-unset}", MODE: dev }
sessions:
  app:
    panes:
      worker:
        command: echo "$$NAME/$$MODE/$$GREETING"; exec sleep 1000
        env: { NAME: worker }
        profiles: [template]
      w1: { extends: worker, env: { NAME: w1 } }
      w2: { extends: worker, env: { NAME: w2 } }
      w3: { extends: app/worker, env: { NAME: w3 } }
      w4: { extends: worker, env: { NAME: w4 } }
      w5: { extends: worker, env: { NAME: w5 } }
      api:
        command: echo "api $$MODE"; exec sleep 1000
        depends_on: [w1, w2, w3, w4, w5]
      debug:
        command: echo debug-on; exec sleep 1000
        profiles: [debug]
"#;

const TOOLS: &str = r#"sessions:
  tools:
    panes:
      where: pwd; exec sleep 1000
      ticker: while :; do echo tick; sleep 0.5; done
      t3: { command: echo t3; exec sleep 1000, profiles: [debug] }
"#;

const CI: &str = r#"env: { MODE: ci }
sessions:
  tools:
    panes:
      ticker:
        on: [{ match: tick, do: event }]
  app:
    panes:
      api:
        restart: on-failure
      smoke: { command: echo smoke-ok; exec sleep 1000, depends_on: { api: started } }
"#;

fn composed_project() -> Server {
    let s = Server::new(BASE);
    std::fs::create_dir_all(s.path("sub")).unwrap();
    std::fs::write(s.path("sub/tools.yaml"), TOOLS).unwrap();
    std::fs::write(s.path("ci.yaml"), CI).unwrap();
    std::fs::write(s.path(".env"), "GREETING=from-dotenv\n").unwrap();
    s
}

const FLAGS: [&str; 6] = ["-f", "ctmux.yaml", "-f", "ci.yaml", "--profile", "debug"];

fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    FLAGS.iter().copied().chain(extra.iter().copied()).collect()
}

fn capture(s: &Server, pane: &str) -> String {
    s.expect(&with(&["pane", "capture", pane]), 0)
}

#[test]
fn several_files_include_extends_profiles_and_dotenv_come_up_on_tmux() {
    let s = composed_project();
    s.expect(&with(&["up"]), 0);
    let mut addresses: Vec<String> = s.panes().into_iter().map(|p| p.0).collect();
    addresses.sort();
    // The template is off (its profile is not asked for); both `debug` panes are on; the
    // overlay added `smoke`; the include brought `tools`.
    assert_eq!(
        addresses,
        [
            "app/api",
            "app/debug",
            "app/smoke",
            "app/w1",
            "app/w2",
            "app/w3",
            "app/w4",
            "app/w5",
            "tools/t3",
            "tools/ticker",
            "tools/where"
        ],
    );
    // tmux ids past %9: eleven panes on one server.
    assert!(s.panes().iter().any(|p| p.1.len() >= 3), "{:?}", s.panes());
    for n in 1..=5 {
        let pane = format!("app/w{n}");
        // extends kept the template's command; the overlay's MODE and the .env's GREETING reached it.
        assert!(
            eventually(Duration::from_secs(15), || capture(&s, &pane).contains(&format!("w{n}/ci/from-dotenv"))),
            "{pane}: {}",
            capture(&s, &pane)
        );
    }
    assert!(eventually(Duration::from_secs(15), || capture(&s, "app/api").contains("api ci")));
    // The included file's sessions run in its own directory.
    let sub = std::fs::canonicalize(s.path("sub")).unwrap();
    assert!(eventually(Duration::from_secs(10), || capture(&s, "tools/where").contains(sub.to_str().unwrap())));
    // The same composition again changes nothing.
    s.expect(&with(&["plan", "--exit-code"]), 0);
    // The daemon composed the overlay too: its rule on the base file's ticker fires.
    let ticks = || {
        json(&s.expect(&with(&["--json", "events", "--kind", "pattern.matched"]), 0))["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["pane"] == "ticker")
            .count()
    };
    assert!(eventually(Duration::from_secs(15), || ticks() > 0), "the overlay's rule never fired");
    // Killed with SIGKILL, the daemon is started again (by its supervisor, or else by the next
    // verb, with no -f at all) and adopts the session with the same composition
    // (@ctmux-compose): the rule still fires.
    let pid = json(&s.expect(&["--json", "daemon", "status"], 0))["status"]["pid"].as_i64().unwrap();
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    let doc = json(&s.expect(&["--json", "status"], 0));
    assert!(doc["daemon"] == "restarted" || doc["daemon"] == "running", "{doc}");
    let again = json(&s.expect(&["--json", "daemon", "status"], 0))["status"]["pid"].as_i64().unwrap();
    assert_ne!(again, pid, "the daemon killed with SIGKILL still answers");
    let before = ticks();
    assert!(
        eventually(Duration::from_secs(20), || ticks() > before + 1),
        "after the restart the daemon lost the overlay's rule ({before} events)"
    );
    s.expect(&with(&["down"]), 0);
    assert!(s.panes().is_empty());
}

#[test]
fn profiles_come_from_ctmux_profiles_and_unknown_ones_are_refused() {
    let s = composed_project();
    let plan = |env: Option<&str>, extra: &[&str]| {
        let mut c = s.cmd(&["-f", "ctmux.yaml"]);
        c.args(extra).args(["--json", "config"]);
        match env {
            Some(v) => c.env("CTMUX_PROFILES", v),
            None => c.env_remove("CTMUX_PROFILES"),
        };
        c.output().unwrap()
    };
    let panes = |out: &std::process::Output| -> Vec<String> {
        let doc = json(&String::from_utf8_lossy(&out.stdout));
        let mut v = Vec::new();
        for (sname, sv) in doc["sessions"].as_object().unwrap() {
            for w in sv["windows"].as_object().unwrap().values() {
                v.extend(w["panes"].as_object().unwrap().keys().map(|p| format!("{sname}/{p}")));
            }
        }
        v.sort();
        v
    };
    let off = panes(&plan(None, &[]));
    assert_eq!(off, ["app/api", "app/w1", "app/w2", "app/w3", "app/w4", "app/w5", "tools/ticker", "tools/where"]);
    let on = panes(&plan(Some("debug, template"), &[]));
    assert!(on.contains(&"app/debug".into()) && on.contains(&"app/worker".into()) && on.contains(&"tools/t3".into()));
    // A flag wins over the variable.
    let flag = panes(&plan(Some("template"), &["--profile", "debug"]));
    assert!(flag.contains(&"app/debug".into()) && !flag.contains(&"app/worker".into()), "{flag:?}");
    let out = plan(None, &["--profile", "debgu"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("unknown_profile") && err.contains("did you mean `debug`?"), "{err}");
}

#[test]
fn env_file_flag_replaces_the_dotenv_and_the_environment_wins() {
    let s = composed_project();
    std::fs::write(s.path("other.env"), "GREETING=from-flag\n").unwrap();
    let greeting = |args: &[&str], env: Option<&str>| {
        let mut c = s.cmd(args);
        c.args(["--json", "config"]);
        match env {
            Some(v) => c.env("GREETING", v),
            None => c.env_remove("GREETING"),
        };
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        json(&String::from_utf8_lossy(&out.stdout))["sessions"]["app"]["windows"]["app"]["panes"]["api"]["env"]
            ["GREETING"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(greeting(&[], None), "from-dotenv");
    assert_eq!(greeting(&["--env-file", "other.env"], None), "from-flag");
    assert_eq!(greeting(&["--env-file", "other.env"], Some("from-shell")), "from-shell");
    // The .env is for interpolation only, as in compose: panes get no GREETING from it directly.
    let doc = json(&s.expect(&["--json", "config"], 0));
    let tools_env = &doc["sessions"]["tools"]["windows"]["tools"]["panes"]["where"]["env"];
    assert_eq!(tools_env["GREETING"], "from-dotenv", "set by the manifest's env: ${{GREETING}}");
    assert!(tools_env.get("NAME").is_none());
    let out = s.ctmux(&["--env-file", "missing.env", "validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.env"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn config_v_names_the_file_and_line_of_each_value() {
    let s = composed_project();
    let out = s.expect(&with(&["-v", "config"]), 0);
    let line_of = |needle: &str| out.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {out}"));
    // MODE: the overlay replaced it (line 1 of ci.yaml); GREETING: the base file's line 4.
    assert!(line_of("MODE: \"ci\"").ends_with("# ci.yaml:1"), "{out}");
    assert!(line_of("GREETING: \"from-dotenv\"").ends_with("# ctmux.yaml:4"), "{out}");
    // The overlay's restart policy, the include's command, the template's command.
    assert!(line_of("restart: \"on-failure\"").ends_with("# ci.yaml:10"), "{out}");
    assert!(line_of("command: \"pwd; exec sleep 1000\"").ends_with("# sub/tools.yaml:4"), "{out}");
    assert!(line_of("NAME/$$MODE").ends_with("# ctmux.yaml:9"), "{out}");
    // What -v prints loads back to the same manifest.
    std::fs::write(s.path("printed.yaml"), &out).unwrap();
    let again = s.expect(&["-f", "printed.yaml", "config"], 0);
    assert_eq!(again, s.expect(&with(&["config"]), 0));
}

/// `(code, file, line, column)` of each problem `validate --json` reports.
fn problems(s: &Server, args: &[&str]) -> Vec<(String, String, u64, u64)> {
    let mut all = args.to_vec();
    all.extend(["--json", "validate"]);
    let out = s.ctmux(&all);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    let doc = json(&String::from_utf8_lossy(&out.stdout));
    // A discovered manifest is named by its absolute path, a -f one as given.
    let dir = format!("{}/", s.dir.path().display());
    doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let l = &e["location"];
            (
                e["code"].as_str().unwrap().to_string(),
                l["file"].as_str().unwrap_or_default().trim_start_matches(&dir).to_string(),
                l["line"].as_u64().unwrap_or(0),
                l["column"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn composition_errors_point_at_the_file_line_and_column() {
    let s = Server::new("version: 1\ninclude:\n  - parts/a.yaml\nsessions:\n  s: echo\n");
    std::fs::create_dir_all(s.path("parts")).unwrap();
    // A cycle through two files; the problem is where the loop closes.
    std::fs::write(s.path("parts/a.yaml"), "include: [b.yaml]\n").unwrap();
    std::fs::write(s.path("parts/b.yaml"), "sessions: {}\ninclude: [a.yaml]\n").unwrap();
    assert_eq!(problems(&s, &[]), [("include_cycle".into(), "parts/b.yaml".into(), 2, 11)]);
    // A missing include, an unknown extends (in the overlay) and a bad key in an include, in one run.
    s.write("version: 1\ninclude: [parts/nope.yaml, parts/c.yaml]\nsessions:\n  s:\n    panes:\n      web: echo\n");
    std::fs::write(s.path("parts/c.yaml"), "sessions:\n  t:\n    panes:\n      x: { comand: echo }\n").unwrap();
    std::fs::write(s.path("over.yaml"), "sessions:\n  s:\n    panes:\n      api:\n        extends: wbe\n").unwrap();
    let found = problems(&s, &["-f", "ctmux.yaml", "-f", "over.yaml"]);
    assert_eq!(
        found,
        [
            ("include_missing".into(), "ctmux.yaml".into(), 2, 11),
            ("unknown_key".into(), "parts/c.yaml".into(), 4, 12),
            ("unknown_extends".into(), "over.yaml".into(), 5, 18),
        ],
        "{found:?}"
    );
    // The human rendering names the file and suggests the pane.
    let out = s.ctmux(&["-f", "ctmux.yaml", "-f", "over.yaml", "validate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("over.yaml:5:18") && err.contains("did you mean `web`?"), "{err}");
    // extends cycle, and extends from a file.
    s.write(
        "version: 1\nsessions:\n  s:\n    panes:\n      a: { extends: b }\n      b: { extends: a }\n      c: { extends: { file: parts/lib.yaml, pane: lib/base }, env: { X: '1' } }\n",
    );
    std::fs::write(
        s.path("parts/lib.yaml"),
        "sessions:\n  lib:\n    panes:\n      base: { command: echo from-lib, cwd: here }\n",
    )
    .unwrap();
    let found = problems(&s, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "extends_cycle");
    s.write(
        "version: 1\nsessions:\n  s:\n    panes:\n      c: { extends: { file: parts/lib.yaml, pane: lib/base } }\n",
    );
    let doc = json(&s.expect(&["--json", "config"], 0));
    let c = &doc["sessions"]["s"]["windows"]["s"]["panes"]["c"];
    assert_eq!(c["command"], "echo from-lib");
    // The extended file's relative cwd resolves against its own directory.
    let parts = std::fs::canonicalize(s.path("parts")).unwrap().join("here");
    assert_eq!(c["cwd"], parts.to_str().unwrap());
    // A missing second -f is a clear error, exit 2.
    let out = s.ctmux(&["-f", "ctmux.yaml", "-f", "nope.yaml", "validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
}

#[test]
fn a_dependency_on_a_pane_a_profile_switched_off_says_so() {
    let s = Server::new(
        "version: 1\ngroups: { all: [s/db, s/api] }\nsessions:\n  s:\n    panes:\n      db: { command: echo, profiles: [db] }\n      api: { command: echo, depends_on: [db] }\n",
    );
    let out = s.ctmux(&["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`db` is switched off by its profiles") && err.contains("--profile db"), "{err}");
    s.expect(&["--profile", "db", "validate"], 0);
}

#[test]
fn ports_on_a_replicated_pane_are_not_supported_yet() {
    let s = Server::new(
        "version: 1\nsessions:\n  s:\n    panes:\n      web:\n        command: echo\n        replicas: 3\n        ports: { http: auto }\n",
    );
    assert_eq!(problems(&s, &[]), [("not_supported".into(), "ctmux.yaml".into(), 8, 9)]);
}

const REPLICAS: &str = r#"version: 1
name: reps
sessions:
  s:
    panes:
      worker:
        command: |
          if [ "$$CTMUX_REPLICA" = 6 ]; then sleep 2; fi
          echo "ready $$CTMUX_REPLICA" >> "$$LOG"; echo "replica $$CTMUX_REPLICA ready"; exec sleep 1000
        ready_when: ready
        replicas: 6
      api:
        command: echo api >> "$$LOG"; echo api up; exec sleep 1000
        depends_on: { worker: healthy }
      other: exec sleep 1000
"#;

#[test]
fn replicas_run_side_by_side_a_dependency_waits_for_all_and_scale_changes_the_count() {
    let s = Server::new("version: 1\nsessions: {}\n");
    let log = s.path("order.log");
    s.write(&REPLICAS.replace("name: reps\n", &format!("name: reps\nenv: {{ LOG: \"{}\" }}\n", log.display())));
    s.expect(&["up", "--wait", "--timeout", "30s"], 0);
    // Completion offers the replicated pane's bare name (it stands for every replica) with them.
    let offered = complete(&s, &["restart", "w"]);
    assert!(offered.contains(&"worker".to_string()) && offered.contains(&"worker-6".to_string()), "{offered:?}");
    let names = |s: &Server| {
        let mut v: Vec<String> = s.panes().into_iter().map(|p| p.0).collect();
        v.sort();
        v
    };
    let workers = |n: usize| (1..=n).map(|i| format!("s/worker-{i}")).collect::<Vec<_>>();
    let mut want = vec!["s/api".to_string(), "s/other".to_string()];
    want.extend(workers(6));
    want.sort();
    assert_eq!(names(&s), want);
    for i in 1..=6 {
        let out = s.expect(&["pane", "capture", &format!("s/worker-{i}")], 0);
        assert!(out.contains(&format!("replica {i} ready")), "worker-{i}: {out}");
    }
    // api started only after every replica was ready, the slow sixth too.
    assert!(eventually(Duration::from_secs(10), || std::fs::read_to_string(&log).unwrap_or_default().contains("api")));
    let order = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines.len(), 7, "{order}");
    assert_eq!(lines[6], "api", "api started before every replica was ready:\n{order}");
    // The same up again changes nothing.
    s.expect(&["plan", "--exit-code"], 0);
    // A target naming the pane means every replica.
    let pids = |s: &Server| s.panes().into_iter().map(|p| (p.0, p.2)).collect::<std::collections::HashMap<_, _>>();
    let first = pids(&s);
    s.expect(&["restart", "worker"], 0);
    let restarted = pids(&s);
    for w in workers(6) {
        assert_ne!(first[&w], restarted[&w], "{w} was not restarted by `restart worker`");
    }
    assert_eq!(first["s/other"], restarted["s/other"]);
    // Scale up: three more replicas, the first six untouched (tmux ids now past %9).
    let before = pids(&s);
    s.expect(&["up", "--scale", "worker=9", "--wait", "--timeout", "30s"], 0);
    let after = pids(&s);
    assert_eq!(after.len(), 11, "{after:?}");
    for w in workers(6) {
        assert_eq!(before[&w], after[&w], "{w} was recreated by scaling up");
    }
    assert!(s.panes().iter().any(|p| p.1.len() >= 3), "{:?}", s.panes());
    assert!(s.expect(&["pane", "capture", "s/worker-9"], 0).contains("replica 9 ready"));
    // Scale down: the replicas past 2 go, without --remove-orphans.
    s.expect(&["up", "--scale", "s/worker=2"], 0);
    let mut want = vec!["s/api".to_string(), "s/other".to_string()];
    want.extend(workers(2));
    want.sort();
    assert_eq!(names(&s), want);
    // A bad count or an unknown pane is a usage error; nothing changes.
    assert_eq!(s.ctmux(&["up", "--scale", "worker=0"]).status.code(), Some(2));
    let out = s.ctmux(&["up", "--scale", "wroker=3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_scale"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(names(&s), want);
    s.expect(&["down"], 0);
    assert!(s.panes().is_empty());
}

#[test]
fn a_replica_name_taken_by_another_pane_is_an_error() {
    let s = Server::new(
        "version: 1\nsessions:\n  s:\n    panes:\n      w: { command: echo, replicas: 2 }\n      w-2: echo\n",
    );
    let found = problems(&s, &[]);
    assert_eq!(found, [("duplicate_name".into(), "ctmux.yaml".into(), 5, 7)]);
}

const PORTS: &str = r#"version: 1
name: ported
env: { TARGET: "http://127.0.0.1:${PORT_HTTP}/" }
sessions:
  web:
    panes:
      server:
        command: exec python3 -m http.server "$$PORT_HTTP" --bind 127.0.0.1
        ports: { http: auto }
        health: { http: "http://127.0.0.1:${PORT_HTTP}/", interval: 500ms }
  clients:
    depends_on: { web: healthy }
    panes:
      c1: &client python3 -c "import os, urllib.request as u; print('got', u.urlopen(os.environ['TARGET']).status, os.environ['TARGET'])"; exec sleep 1000
      c2: *client
      c3: *client
      c4: *client
      c5: *client
      c6: *client
      c7: *client
"#;

#[test]
fn two_servers_run_one_stack_with_auto_ports_side_by_side_both_healthy() {
    let a = Server::new(PORTS);
    // The same project directory on a second server (the state store is shared, as on one machine).
    let b = a.sibling("b");
    let on_b = |args: &[&str]| a.cmd_on(&b.name, args).output().unwrap();
    // `config` shows an allocated port as its number, `auto` before the first up.
    let port_of = |out: &str| -> u16 {
        let port = &json(out)["sessions"]["web"]["windows"]["web"]["panes"]["server"]["ports"]["http"];
        port.as_u64().map_or_else(|| if port == "auto" { 0 } else { panic!("{port}") }, |p| p as u16)
    };
    // Before any up, an auto port has no number yet.
    assert_eq!(port_of(&a.expect(&["--json", "config"], 0)), 0);
    a.expect(&["up", "--wait", "--timeout", "60s"], 0);
    let up_b = on_b(&["up", "--wait", "--timeout", "60s"]);
    assert!(up_b.status.success(), "{}", String::from_utf8_lossy(&up_b.stderr));
    let pa = port_of(&a.expect(&["--json", "config"], 0));
    let pb = port_of(&String::from_utf8_lossy(&on_b(&["--json", "config"]).stdout));
    assert!(pa > 0 && pb > 0 && pa != pb, "ports {pa} and {pb}");
    // Both healthy, each on its own port; every client reached its own server.
    for status in [a.status(), json(&String::from_utf8_lossy(&on_b(&["status", "--json"]).stdout))] {
        let panes = status["panes"].as_array().unwrap();
        assert_eq!(panes.len(), 8);
        let server = panes.iter().find(|p| p["address"] == "web/server").unwrap();
        assert_eq!(server["health"], "healthy", "{server}");
    }
    for n in 1..=7 {
        let pane = format!("clients/c{n}");
        assert!(
            eventually(Duration::from_secs(10), || a
                .expect(&["pane", "capture", &pane], 0)
                .contains(&format!("got 200 http://127.0.0.1:{pa}/"))),
            "{pane}: {}",
            a.expect(&["pane", "capture", &pane], 0)
        );
        let out = String::from_utf8_lossy(&on_b(&["pane", "capture", &pane]).stdout).into_owned();
        assert!(out.contains(&format!("got 200 http://127.0.0.1:{pb}/")), "{pane} on b: {out}");
    }
    // Stable across ups: the same port, nothing to do.
    a.expect(&["up"], 0);
    assert_eq!(port_of(&a.expect(&["--json", "config"], 0)), pa);
    a.expect(&["plan", "--exit-code"], 0);
    // A restart by the daemon's rules or by hand keeps the port.
    a.expect(&["restart", "web/server"], 0);
    assert!(eventually(Duration::from_secs(15), || {
        a.status()["panes"].as_array().unwrap().iter().any(|p| p["address"] == "web/server" && p["health"] == "healthy")
    }));
    // Released at down: the next up may get another port, and config says none is held.
    a.expect(&["down"], 0);
    assert_eq!(port_of(&a.expect(&["--json", "config"], 0)), 0);
    assert_eq!(
        port_of(&String::from_utf8_lossy(&on_b(&["--json", "config"]).stdout)),
        pb,
        "b's port went with a's down"
    );
    assert!(on_b(&["down"]).status.success());
}

#[test]
fn bad_ports_are_reported_where_they_are_written() {
    let s = Server::new(
        "version: 1\nsessions:\n  s:\n    panes:\n      a: { command: echo, ports: { http: auto, web: autoo, 9x: 80 } }\n      b: { command: echo, ports: { HTTP: 8080 } }\n      c: { command: echo, ports: { p: 70000 } }\n",
    );
    let found = problems(&s, &[]);
    let codes: Vec<(&str, u64)> = found.iter().map(|(c, _, l, _)| (c.as_str(), *l)).collect();
    assert_eq!(
        codes,
        [("invalid_value", 5), ("invalid_name", 5), ("duplicate_name", 6), ("invalid_value", 7)],
        "{found:?}"
    );
    // A fixed port is what the pane and interpolation get.
    s.write(
        "version: 1\nsessions:\n  s:\n    panes:\n      a: { command: 'echo ${PORT_ADMIN} $$PORT_ADMIN; exec sleep 100', ports: { admin: 9000 } }\n",
    );
    let doc = json(&s.expect(&["--json", "config"], 0));
    let a = &doc["sessions"]["s"]["windows"]["s"]["panes"]["a"];
    // Interpolated at load; `$$` left for the shell.
    assert_eq!(a["command"], "echo 9000 $$PORT_ADMIN; exec sleep 100");
    assert_eq!(a["ports"]["admin"], 9000);
    // The pane's environment has it (config writes it back as `ports:`, not under `env:`).
    s.expect(&["up"], 0);
    assert!(
        eventually(Duration::from_secs(10), || s.expect(&["pane", "capture", "s/a"], 0).contains("9000 9000")),
        "{}",
        s.expect(&["pane", "capture", "s/a"], 0)
    );
    s.expect(&["down"], 0);
}

/// What `ctmux` offers at TAB after `words` (the last one is the word being completed), on `s`'s
/// server, from `s`'s project directory, as bash asks.
fn complete(s: &Server, words: &[&str]) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ctmux"))
        .current_dir(s.dir.path())
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", words.len().to_string())
        .env("CTMUX_TMUX_SOCKET", &s.name)
        .env("CTMUX_STATE_DIR", s.state.path())
        .env_remove("CTMUX_PROFILES")
        .arg("--")
        .arg("ctmux")
        .args(words)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split(['\u{b}', '\n']).filter(|w| !w.is_empty()).map(String::from).collect()
}

#[test]
fn completion_offers_targets_sessions_groups_and_profiles_from_the_manifest_and_the_server() {
    let s = composed_project();
    s.write(&BASE.replace("name: comp\n", "name: comp\ngroups: { workers: [app/w1, app/w2] }\n"));
    s.expect(&["up"], 0);
    // Something of the server that is not in the manifest: an unmanaged session, a runtime group.
    s.expect(&["session", "new", "scratch"], 0);
    s.expect(&["group", "new", "adhoc"], 0);
    let restart = complete(&s, &["restart", ""]);
    for want in ["app", "tools", "app/w1", "app/w5", "w3", "tools/where", "workers", "adhoc", "scratch"] {
        assert!(restart.contains(&want.to_string()), "{want} not offered: {restart:?}");
    }
    // The template is off (no profile here): not offered.
    assert!(!restart.contains(&"app/worker".to_string()), "{restart:?}");
    assert_eq!(complete(&s, &["restart", "app/w"]), ["app/w1", "app/w2", "app/w3", "app/w4", "app/w5"]);
    let sessions = complete(&s, &["session", "kill", ""]);
    for want in ["app", "tools", "scratch"] {
        assert!(sessions.contains(&want.to_string()), "{sessions:?}");
    }
    assert!(!sessions.contains(&"app/w1".to_string()));
    assert_eq!(
        complete(&s, &["group", "exec", ""]).into_iter().filter(|w| !w.starts_with('-')).collect::<Vec<_>>(),
        ["workers", "adhoc"]
    );
    assert_eq!(complete(&s, &["--profile", ""]), ["debug", "template"]);
    assert_eq!(complete(&s, &["up", "--profile", "d"]), ["debug"]);
    // The static script is replaced by one that calls ctmux back.
    let script = s.expect(&["completions", "bash"], 0);
    assert!(script.contains("COMPLETE=\"bash\"") || script.contains("COMPLETE=bash"), "{script}");
    s.expect(&["down"], 0);
}
