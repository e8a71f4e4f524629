//! `pane metrics` against ground truth: a process burning about half a core and one holding
//! 200 MiB, measured by ctmux and, over the same moments, from `/proc` and `ps`.

use std::time::{Duration, Instant};

use crate::harness::{Server, eventually};

const MANIFEST: &str = r#"version: 1
name: accuracy
sessions:
  load:
    panes:
      busy: [python3, -c, "import time\nwhile True:\n    t = time.monotonic()\n    while time.monotonic() - t < 0.02:\n        pass\n    time.sleep(0.02)\n"]
      hold: [python3, -c, "import sys, time\nb = b'\\x01' * (200 << 20)\nprint('holding', flush=True)\ntime.sleep(600)\n"]
"#;

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn ps(pid: u32, field: &str) -> String {
    let out =
        std::process::Command::new("ps").args(["-o", &format!("{field}="), "-p", &pid.to_string()]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn metrics(s: &Server, target: &str, interval: &str) -> serde_json::Value {
    serde_json::from_str(&s.expect(&["pane", "metrics", target, "--interval", interval, "--json"], 0)).unwrap()
}

/// The pane's command (a managed pane's own process is the sink binary's runner).
fn pid_of(s: &Server, address: &str) -> u32 {
    ctmux::process::command_of(s.panes().into_iter().find(|p| p.0 == address).unwrap().2)
}

#[test]
fn pane_metrics_cpu_and_memory_are_within_five_percent_of_proc() {
    let s = Server::new(MANIFEST);
    s.expect(&["up", "--no-daemon"], 0);
    assert!(eventually(Duration::from_secs(30), || s.expect(&["pane", "capture", "load/hold"], 0).contains("holding")));
    let (busy, hold) = (pid_of(&s, "load/busy"), pid_of(&s, "load/hold"));
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;

    // CPU: three windows of 5 s; /proc is read right before and after each call, so its window
    // holds ctmux's start-up too (~0.1 s): under a shared machine's load the duty cycle wanders
    // within a window, so each window must be within 10% and their median within 5%.
    let mut errors = Vec::new();
    for _ in 0..3 {
        let (t0, c0) = (Instant::now(), cpu_ticks(busy));
        let m = metrics(&s, "load/busy", "5s");
        let (t1, c1) = (Instant::now(), cpu_ticks(busy));
        let truth = (c1 - c0) as f64 / ticks_per_sec / (t1 - t0).as_secs_f64() * 100.0;
        let measured = m["metrics"]["cpu_percent"].as_f64().unwrap();
        let error = (measured - truth).abs() / truth;
        eprintln!(
            "cpu: ctmux {measured:.1}%  /proc {truth:.1}%  error {:.1}%  (ps lifetime {}%)",
            error * 100.0,
            ps(busy, "%cpu")
        );
        assert!((15.0..=70.0).contains(&truth), "the load is not about half a core: {truth:.1}%");
        assert!(error <= 0.10, "CPU off by {:.1}% in one window", error * 100.0);
        errors.push(error);
    }
    errors.sort_by(f64::total_cmp);
    assert!(errors[1] <= 0.05, "CPU off by a median {:.1}%", errors[1] * 100.0);

    // Memory: resident set of the 200 MiB holder.
    let m = metrics(&s, "load/hold", "200ms");
    let measured = m["metrics"]["memory_bytes"].as_u64().unwrap() as f64 / 1024.0;
    let proc = rss_kib(hold) as f64;
    let by_ps: f64 = ps(hold, "rss").parse().unwrap();
    eprintln!("rss: ctmux {measured:.0} KiB  /proc {proc:.0} KiB  ps {by_ps:.0} KiB");
    assert!(proc > 200.0 * 1024.0, "the holder holds {proc} KiB");
    assert!((measured - proc).abs() / proc <= 0.05, "RSS: ctmux {measured} KiB, /proc {proc} KiB");
    assert!((measured - by_ps).abs() / by_ps <= 0.05, "RSS: ctmux {measured} KiB, ps {by_ps} KiB");
}
