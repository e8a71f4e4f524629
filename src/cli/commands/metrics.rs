//! `pane metrics`, `session metrics`, `metrics history`, `pane limit`: what panes' process
//! trees use (CPU, memory, I/O, threads, uptime), what the daemon recorded over time, and
//! runtime limits it enforces.

use std::time::Duration;

use serde::Serialize;

use super::target::Server;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::metrics::{Sampler, Usage};
use crate::tmux::{Cmd, LivePane};

/// One pane's metrics document.
#[derive(Debug, Serialize)]
pub struct PaneMetrics {
    /// `session/pane`, null when unmanaged.
    pub address: Option<String>,
    /// tmux pane id.
    pub tmux_id: String,
    /// The pane's process.
    pub pid: Option<u32>,
    /// Its tree's use; null when the pane's process has exited.
    #[serde(flatten)]
    pub usage: Option<Usage>,
}

/// Looks at `panes` twice, `interval` apart (CPU is a rate).
pub async fn measure(panes: &[LivePane], interval: Duration) -> Vec<PaneMetrics> {
    let mut sampler = Sampler::new();
    sampler.refresh();
    tokio::time::sleep(interval).await;
    sampler.refresh();
    panes
        .iter()
        .map(|lp| PaneMetrics {
            address: (!lp.address.is_empty()).then(|| lp.address.clone()),
            tmux_id: lp.pane_id.clone(),
            pid: (!lp.dead).then_some(lp.pid),
            usage: if lp.dead { None } else { sampler.usage(lp.pid) },
        })
        .collect()
}

fn line(m: &PaneMetrics) -> String {
    let who = m.address.clone().unwrap_or_else(|| m.tmux_id.clone());
    match &m.usage {
        Some(u) => format!(
            "{who:<24} cpu {:>6.1}%  mem {:>10}  threads {:>3}  procs {:>3}  read {:>10}  written {:>10}  up {}",
            u.cpu_percent,
            crate::units::format_size_human(u.memory_bytes),
            u.threads,
            u.processes,
            crate::units::format_size_human(u.io_read_bytes),
            crate::units::format_size_human(u.io_write_bytes),
            crate::units::format_duration(Duration::from_secs(u.uptime_secs)),
        ),
        None => format!("{who:<24} not running"),
    }
}

/// `pane metrics T`.
pub async fn pane(ctx: &Ctx, lp: &LivePane, interval: Duration) -> Result {
    let m = measure(std::slice::from_ref(lp), interval).await.remove(0);
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "metrics": m }));
    } else {
        println!("{}", line(&m));
    }
    Ok(Exit::Ok)
}

/// `session metrics S`: every pane, and the session's total.
pub async fn session(ctx: &Ctx, server: &Server, name: &str, interval: Duration) -> Result {
    let panes: Vec<LivePane> = server.panes().await?.into_iter().filter(|p| p.session == name).collect();
    if panes.is_empty() {
        return Err(Error::NotFound { message: format!("no session `{name}`"), hint: None });
    }
    let all = measure(&panes, interval).await;
    let mut total = Usage::default();
    for u in all.iter().filter_map(|m| m.usage.as_ref()) {
        total.cpu_percent += u.cpu_percent;
        total.memory_bytes += u.memory_bytes;
        total.io_read_bytes += u.io_read_bytes;
        total.io_write_bytes += u.io_write_bytes;
        total.threads += u.threads;
        total.processes += u.processes;
        total.uptime_secs = total.uptime_secs.max(u.uptime_secs);
    }
    total.cpu_percent = (total.cpu_percent * 10.0).round() / 10.0;
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "session": name, "panes": all, "total": total }));
    } else {
        for m in &all {
            println!("{}", line(m));
        }
        println!(
            "{:<24} cpu {:>6.1}%  mem {:>10}",
            "total",
            total.cpu_percent,
            crate::units::format_size_human(total.memory_bytes)
        );
    }
    Ok(Exit::Ok)
}

/// `metrics history T [--since D]`: the daemon's samples of a pane it watches (managed, in a
/// session it watches, or with limits).
pub fn history(ctx: &Ctx, server: &Server, lp: &LivePane, since: Option<&str>) -> Result {
    let since = since.map(super::events::parse_since).transpose()?.unwrap_or(0);
    let store = crate::store::Store::open()?;
    let (project, key) = if lp.address.is_empty() {
        (String::new(), crate::daemon::sampling::unmanaged_address(&lp.session_id, &lp.pane_id))
    } else {
        (lp.project.clone(), lp.address.clone())
    };
    let samples = store.metrics(&server.tmux.socket.key(), &project, &key, since)?;
    let who = if lp.address.is_empty() { lp.pane_id.clone() } else { lp.address.clone() };
    if ctx.json() {
        let docs: Vec<serde_json::Value> = samples
            .iter()
            .map(|(ts, u)| {
                let mut v = serde_json::to_value(u).unwrap_or_default();
                if let Some(m) = v.as_object_mut() {
                    m.shift_insert(0, "ts".into(), (*ts).into());
                }
                v
            })
            .collect();
        let address = (!lp.address.is_empty()).then_some(&lp.address);
        ctx.print_json(&serde_json::json!({ "address": address, "tmux_id": lp.pane_id, "samples": docs }));
    } else if samples.is_empty() {
        ctx.say(format!(
            "no samples of {who} yet (the daemon samples a pane with limits every 10 s, others every 60 s, \
             and only panes it watches)"
        ));
    } else {
        for (ts, u) in &samples {
            println!(
                "{}  cpu {:>6.1}%  mem {:>10}  threads {:>3}  procs {:>3}",
                super::events::format_ms(*ts),
                u.cpu_percent,
                crate::units::format_size_human(u.memory_bytes),
                u.threads,
                u.processes
            );
        }
    }
    Ok(Exit::Ok)
}

/// `pane limit T [--memory M] [--cpu C] [--action A] [--clear]`: limits kept as pane options
/// (`@ctmux-limit-*`, over the manifest's), enforced by the daemon, which looks at once.
pub async fn limit(
    ctx: &Ctx,
    server: &Server,
    lp: &LivePane,
    memory: Option<&str>,
    cpu: Option<&str>,
    action: Option<&str>,
    clear: bool,
) -> Result {
    let usage = |m: String| Error::Usage { message: m, hint: None };
    let memory = memory.map(|m| crate::units::parse_size(m).map(|_| m).map_err(|e| usage(format!("--memory: {e}"))));
    let memory = memory.transpose()?;
    let cpu = cpu.map(|c| crate::units::parse_cpu(c).map(|_| c).map_err(|e| usage(format!("--cpu: {e}"))));
    let cpu = cpu.transpose()?;
    if let Some(a) = action
        && !crate::manifest::model::LimitAction::NAMES.contains(&a)
    {
        return Err(usage(format!("--action `{a}`: one of warn, restart, kill")));
    }
    if !clear && memory.is_none() && cpu.is_none() {
        return Err(Error::Usage {
            message: "pane limit needs --memory and/or --cpu (or --clear)".into(),
            hint: Some("e.g. `ctmux pane limit api/web --memory 512MiB --cpu 150% --action restart`".into()),
        });
    }
    let id = lp.pane_id.as_str();
    let set = |k: &str, v: Option<&str>| match v {
        Some(v) => Cmd::new("set-option").args(["-p", "-t", id, k, v]),
        None => Cmd::new("set-option").args(["-p", "-u", "-t", id, k]),
    };
    // Only what is given changes (`--memory` alone keeps an earlier `--cpu`); `--clear` removes all.
    let cmds = if clear {
        vec![set("@ctmux-limit-memory", None), set("@ctmux-limit-cpu", None), set("@ctmux-limit-action", None)]
    } else {
        let mut cmds = Vec::new();
        if memory.is_some() {
            cmds.push(set("@ctmux-limit-memory", memory));
        }
        if cpu.is_some() {
            cmds.push(set("@ctmux-limit-cpu", cpu));
        }
        if action.is_some() {
            cmds.push(set("@ctmux-limit-action", action));
        }
        cmds
    };
    server.tmux.run(&cmds).await.map_err(|e| e.into_error("setting limits"))?;
    let format = "#{@ctmux-limit-memory}\x1f#{@ctmux-limit-cpu}\x1f#{@ctmux-limit-action}";
    let now = server.tmux.run(&[Cmd::query("display-message").args(["-p", "-t", id, format])]).await;
    let now = now.map_err(|e| e.into_error("reading limits"))?;
    let f: Vec<&str> = now.trim_end_matches('\n').split('\x1f').collect();
    let some = |i: usize| f.get(i).filter(|v| !v.is_empty()).map(|v| v.to_string());
    let (memory, cpu) = (some(0), some(1));
    let action = some(2).unwrap_or_else(|| "warn".into());
    // Limits are the daemon's to enforce, on any pane: start one if none runs, and have it check
    // now rather than at its next tick.
    if !clear {
        crate::daemon::client::ensure_started(&server.tmux.socket)?;
    }
    let running = crate::daemon::client::request(&server.tmux.socket, crate::daemon::protocol::Request::Sample)?;
    if running.is_none() && !clear {
        return Err(Error::failed("the daemon did not answer: the limits are set but not enforced", None));
    }
    let who = if lp.address.is_empty() { id.to_string() } else { lp.address.clone() };
    if ctx.json() {
        let limits = serde_json::json!({ "memory": memory, "cpu": cpu, "action": (memory.is_some() || cpu.is_some()).then_some(action.clone()) });
        ctx.print_json(&serde_json::json!({ "tmux_id": id, "limits": limits }));
    } else if memory.is_none() && cpu.is_none() {
        ctx.say(format!("{who}: no runtime limits"));
    } else {
        ctx.say(format!(
            "{who}: memory {}, cpu {}, then {action}",
            memory.as_deref().unwrap_or("unlimited"),
            cpu.as_deref().unwrap_or("unlimited")
        ));
    }
    Ok(Exit::Ok)
}
