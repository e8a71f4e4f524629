//! process-compose files: `processes` become panes of one session named after the project;
//! `depends_on` conditions, probes, `availability`, `shutdown`, `environment`, `working_dir`
//! translate to their ctmux keys.

use serde_json::{Map, Value, json};

use super::{Imported, Names, env, scalar, shell_text, warn_unknown};

const TOP: &[&str] = &["version", "processes", "environment", "shell", "log_location", "log_level"];
const PROCESS: &[&str] = &[
    "command",
    "working_dir",
    "environment",
    "depends_on",
    "readiness_probe",
    "liveness_probe",
    "availability",
    "shutdown",
    "disabled",
    "description",
];
const PROBE: &[&str] = &[
    "exec",
    "http_get",
    "initial_delay_seconds",
    "period_seconds",
    "timeout_seconds",
    "failure_threshold",
    "success_threshold",
];

/// Translates a process-compose file.
pub fn translate(v: &Value, stem: &str) -> Result<Imported, String> {
    let top = v.as_object().ok_or("expected a map")?;
    let mut warnings = Vec::new();
    warn_unknown(top, TOP, "", &mut warnings);
    for key in ["log_location", "log_level"] {
        if top.contains_key(key) {
            warnings.push(format!("{key}: ctmux's daemon logs every pane under its state directory; ignored"));
        }
    }
    let processes = top.get("processes").and_then(Value::as_object).ok_or("process-compose: no `processes` map")?;
    let mut names = Names::default();
    // Process names → pane names, first, so dependencies can name them.
    let mut renamed: Map<String, Value> = Map::new();
    for (name, p) in processes {
        if p.get("disabled").and_then(Value::as_bool) == Some(true) {
            warnings.push(format!("processes.{name}: disabled; not imported"));
            continue;
        }
        renamed.insert(name.clone(), json!(names.take(name)));
    }
    let session = crate::manifest::lower::sanitize_name(stem);
    let mut panes = Map::new();
    for (name, p) in processes {
        let Some(pane_name) = renamed.get(name).and_then(Value::as_str) else { continue };
        let place = format!("processes.{name}.");
        let p = p.as_object().ok_or(format!("process-compose: process `{name}` is not a map"))?;
        warn_unknown(p, PROCESS, &place, &mut warnings);
        let mut out = Map::new();
        if let Some(c) = p.get("command").and_then(scalar) {
            out.insert("command".into(), shell_text(&c));
        }
        if let Some(dir) = p.get("working_dir").and_then(scalar) {
            out.insert("cwd".into(), json!(dir));
        }
        if let Some(e) = p.get("environment") {
            out.insert("env".into(), Value::Object(env(e)));
        }
        if let Some(deps) = p.get("depends_on").and_then(Value::as_object) {
            let mut d = Map::new();
            for (dep, spec) in deps {
                let Some(target) = renamed.get(dep).and_then(Value::as_str) else {
                    warnings.push(format!("{place}depends_on.{dep}: not an imported process; dropped"));
                    continue;
                };
                let condition = spec.get("condition").and_then(scalar).unwrap_or_else(|| "process_started".into());
                let c = match condition.as_str() {
                    "process_started" => "started",
                    "process_healthy" => "healthy",
                    "process_completed" => "completed",
                    "process_completed_successfully" => "completed_successfully",
                    other => {
                        warnings.push(format!("{place}depends_on.{dep}: condition `{other}` unknown; `started` used"));
                        "started"
                    }
                };
                d.insert(format!("{session}/{target}"), json!(c));
            }
            if !d.is_empty() {
                out.insert("depends_on".into(), Value::Object(d));
            }
        }
        let probe = match (p.get("readiness_probe"), p.get("liveness_probe")) {
            (Some(r), Some(_)) => {
                warnings.push(format!(
                    "{place}liveness_probe: ctmux has one health check (readiness and liveness); readiness_probe used"
                ));
                Some(r)
            }
            (Some(r), None) => Some(r),
            (None, Some(l)) => Some(l),
            (None, None) => None,
        };
        if let Some(probe) = probe.and_then(Value::as_object)
            && let Some(h) = health(probe, &place, &mut warnings)
        {
            out.insert("health".into(), h);
        }
        if let Some(a) = p.get("availability").and_then(Value::as_object) {
            warn_unknown(
                a,
                &["restart", "max_restarts", "backoff_seconds"],
                &format!("{place}availability."),
                &mut warnings,
            );
            match a.get("restart").and_then(scalar).as_deref() {
                Some("always") => {
                    out.insert("restart".into(), json!("always"));
                }
                Some("on_failure") => {
                    out.insert("restart".into(), json!("on-failure"));
                }
                Some("exit_on_failure") => warnings.push(format!(
                    "{place}availability.restart: exit_on_failure (stop everything) has no ctmux meaning; not restarted"
                )),
                Some("no") | None => {}
                Some(other) => warnings.push(format!("{place}availability.restart: `{other}` unknown; ignored")),
            }
            if let Some(n) = a.get("max_restarts").and_then(Value::as_u64) {
                out.insert("max_restarts".into(), json!(n));
            }
            if a.contains_key("backoff_seconds") {
                warnings.push(format!(
                    "{place}availability.backoff_seconds: ctmux's backoff doubles from 1s to 30s; ignored"
                ));
            }
        }
        if let Some(s) = p.get("shutdown").and_then(Value::as_object) {
            warn_unknown(s, &["command", "signal", "timeout_seconds"], &format!("{place}shutdown."), &mut warnings);
            let mut stop = Map::new();
            if let Some(c) = s.get("command").and_then(scalar) {
                stop.insert("command".into(), shell_text(&c));
            }
            if let Some(sig) = s.get("signal").and_then(Value::as_i64) {
                match signal_name(sig) {
                    Some(name) => {
                        stop.insert("signal".into(), json!(name));
                    }
                    None => {
                        warnings.push(format!("{place}shutdown.signal: {sig} has no name ctmux knows; SIGTERM used"))
                    }
                }
            }
            if let Some(t) = s.get("timeout_seconds").and_then(Value::as_u64) {
                stop.insert("timeout".into(), json!(format!("{t}s")));
            }
            if !stop.is_empty() {
                out.insert("stop".into(), Value::Object(stop));
            }
        }
        if p.contains_key("description") {
            out.insert("metadata".into(), json!({ "description": p.get("description").and_then(scalar) }));
        }
        panes.insert(pane_name.to_string(), Value::Object(out));
    }
    let mut doc = Map::new();
    doc.insert("version".into(), json!(1));
    doc.insert("name".into(), json!(session));
    if let Some(e) = top.get("environment") {
        doc.insert("env".into(), Value::Object(env(e)));
    }
    if let Some(shell) = top.get("shell").and_then(Value::as_object) {
        if let Some(cmd) = shell.get("shell_command").and_then(scalar) {
            doc.insert("shell".into(), json!(cmd));
        }
        if shell.get("shell_argument").and_then(scalar).is_some_and(|a| a != "-c") {
            warnings.push("shell.shell_argument: ctmux runs `SHELL -c COMMAND`; ignored".into());
        }
    }
    doc.insert("sessions".into(), json!({ session: { "layout": "tiled", "panes": Value::Object(panes) } }));
    Ok(Imported { document: Value::Object(doc), warnings })
}

/// A process-compose probe as a ctmux `health` map.
fn health(probe: &Map<String, Value>, place: &str, warnings: &mut Vec<String>) -> Option<Value> {
    warn_unknown(probe, PROBE, &format!("{place}probe."), warnings);
    let mut h = Map::new();
    if let Some(cmd) = probe.get("exec").and_then(|e| e.get("command")).and_then(scalar) {
        h.insert("exec".into(), shell_text(&cmd));
    } else if let Some(g) = probe.get("http_get").and_then(Value::as_object) {
        let scheme = g.get("scheme").and_then(scalar).unwrap_or_else(|| "http".into());
        let host = g.get("host").and_then(scalar).unwrap_or_else(|| "127.0.0.1".into());
        let port = g.get("port").and_then(scalar).map(|p| format!(":{p}")).unwrap_or_default();
        let path = g.get("path").and_then(scalar).unwrap_or_else(|| "/".into());
        if scheme != "http" {
            warnings.push(format!("{place}probe.http_get.scheme: ctmux probes http:// only; `{scheme}` dropped"));
            return None;
        }
        h.insert("http".into(), shell_text(&format!("http://{host}{port}{path}")));
    } else {
        warnings.push(format!("{place}probe: neither exec nor http_get; no health check"));
        return None;
    }
    let secs = |k: &str| probe.get(k).and_then(Value::as_u64).map(|n| json!(format!("{n}s")));
    if let Some(v) = secs("period_seconds") {
        h.insert("interval".into(), v);
    }
    if let Some(v) = secs("timeout_seconds") {
        h.insert("timeout".into(), v);
    }
    if let Some(v) = secs("initial_delay_seconds") {
        h.insert("start_period".into(), v);
    }
    if let Some(n) = probe.get("failure_threshold").and_then(Value::as_u64) {
        h.insert("retries".into(), json!(n));
    }
    if probe.contains_key("success_threshold") {
        warnings.push(format!("{place}probe.success_threshold: one success makes a ctmux pane healthy; ignored"));
    }
    Some(Value::Object(h))
}

/// The name of signal number `n` (process-compose writes numbers).
fn signal_name(n: i64) -> Option<&'static str> {
    crate::manifest::model::SIGNALS.iter().copied().find(|s| crate::process::signal_number(s) == Some(n as i32))
}
