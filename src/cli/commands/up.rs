//! `ctmux up` and `ctmux plan`: compute the plan under the project lock, print it, apply it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::stack::{Stack, parse_timeout, runtime};
use crate::cli::args::{PlanArgs, UpArgs};
use crate::cli::{Ctx, Result};
use crate::exit::Exit;
use crate::reconcile::plan::{self, Change, Plan};
use crate::reconcile::up::{Gate, PaneResult, Progress, Settings, Up};
use crate::reconcile::{lock, pending};

struct Printer<'a>(&'a Ctx);

impl Progress for Printer<'_> {
    fn line(&self, text: &str) {
        if !self.0.json() && !self.0.global.quiet {
            eprintln!("{text}");
        }
    }
}

#[derive(Serialize)]
struct PlanDoc<'a> {
    project: &'a str,
    changes: &'a [plan::Step],
    unchanged: &'a [String],
    orphans: &'a [String],
    /// Placeholders still waiting for their dependencies (nothing to change).
    waiting: &'a [String],
    /// tmux options set again (drifted).
    options: &'a [crate::reconcile::options::OptionChange],
    /// With `-v`: per recreated pane, the fields that changed (see [`spec_changes`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    changed_fields: &'a BTreeMap<String, Vec<String>>,
}

#[derive(Serialize)]
struct UpDoc<'a> {
    project: &'a str,
    changes: &'a [plan::Step],
    options: &'a [crate::reconcile::options::OptionChange],
    unchanged: usize,
    panes: Vec<PaneResult>,
}

/// Renders a plan for people; `fields` adds, under a recreate, what changed (`plan -v`).
pub fn render_plan(plan: &Plan, fields: &BTreeMap<String, Vec<String>>, half_built_note: bool) -> String {
    let mut out = String::new();
    for step in &plan.steps {
        if let Some(changed) = fields.get(&step.address) {
            out.push_str(&format!("~ recreate {} (changed: {})\n", step.address, changed.join(", ")));
            continue;
        }
        let line = match &step.change {
            Change::Create => match &step.reason {
                Some(why) => format!("+ create   {} ({why})", step.address),
                None => format!("+ create   {}", step.address),
            },
            Change::Recreate { reason, .. } => format!("~ recreate {} ({reason})", step.address),
            Change::Move { from_window, .. } => {
                format!("~ move     {} (from window {from_window})", step.address)
            }
            Change::Remove { .. } => format!("- remove   {} (not in the manifest)", step.address),
        };
        out.push_str(&line);
        out.push('\n');
    }
    for w in &plan.waiting {
        out.push_str(&format!("… waiting  {w} (for its dependencies; started when they hold)\n"));
    }
    for o in &plan.options {
        let at = if o.target.is_empty() { String::new() } else { format!(" {}", o.target) };
        let was = match &o.was {
            Some(v) => format!("was {v:?}"),
            None => "not set at this level: tmux's default or an inherited value applies".into(),
        };
        out.push_str(&format!("~ option   {}{at} {} = {:?} ({was})\n", o.level, o.option, o.value));
    }
    for orphan in &plan.orphans {
        out.push_str(&format!("! orphan   {orphan} (not in the manifest; --remove-orphans removes it)\n"));
    }
    let creates = plan.steps.iter().filter(|s| matches!(s.change, Change::Create)).count();
    let present = plan.unchanged.len()
        + plan.waiting.len()
        + plan.steps.iter().filter(|s| matches!(s.change, Change::Recreate { .. } | Change::Move { .. })).count();
    if half_built_note && creates > 0 && present > 0 {
        out.push_str(&format!(
            "! the layout is half built: {creates} of {} panes missing (new in the manifest, an `up` stopped before it finished, or panes were killed)\n",
            creates + present
        ));
    }
    if plan.is_empty() {
        out.push_str(&format!("nothing to do: {} pane(s) up to date\n", plan.unchanged.len()));
    } else if !plan.unchanged.is_empty() {
        out.push_str(&format!("= {} pane(s) unchanged\n", plan.unchanged.len()));
    }
    out
}

fn options(
    stack: &Stack,
    targets: &[String],
    cascade: bool,
    recreate: bool,
    remove_orphans: bool,
) -> Result<(plan::Options, Vec<String>)> {
    let addresses = stack.addresses(targets)?;
    let closure = stack.graph.with_dependencies(&addresses);
    let ordered: Vec<String> = stack.project().panes().map(|p| p.address()).filter(|a| closure.contains(a)).collect();
    let opts = plan::Options {
        targets: (!targets.is_empty()).then_some(closure),
        cascade,
        recreate,
        remove_orphans: remove_orphans && targets.is_empty(),
        collected: crate::gc::removed_jobs(&stack.tmux.socket.key(), stack.project()),
    };
    Ok((opts, ordered))
}

/// Runs `plan`.
pub fn run_plan(ctx: &Ctx, args: &PlanArgs) -> Result {
    let stack = Stack::open(ctx)?;
    let (opts, _) = options(&stack, &args.targets, args.cascade, args.recreate, args.remove_orphans)?;
    let rt = runtime()?;
    let live = rt.block_on(stack.tmux.live()).map_err(|e| e.into_error("reading tmux state"))?;
    let mut plan = plan::plan(stack.project(), &live, &stack.graph, &opts);
    plan.options = rt
        .block_on(crate::reconcile::options::drift(&stack.tmux, stack.project(), &live, opts.targets.as_ref()))
        .map_err(|e| e.into_error("reading tmux options"))?;
    let fields = if ctx.global.verbose > 0 { rt.block_on(spec_changes(&stack, &plan))? } else { BTreeMap::new() };
    if ctx.json() {
        ctx.print_json(&PlanDoc {
            project: &stack.project().name,
            changes: &plan.steps,
            unchanged: &plan.unchanged,
            orphans: &plan.orphans,
            waiting: &plan.waiting,
            options: &plan.options,
            changed_fields: &fields,
        });
    } else {
        print!("{}", render_plan(&plan, &fields, true));
    }
    stack.report_traffic(ctx);
    Ok(if args.exit_code && !plan.is_empty() { Exit::Changes } else { Exit::Ok })
}

/// For each pane the plan recreates because its spec changed: which fields (command, cwd, env
/// key names; never values), read from the `@ctmux-spec` it was started with, in one tmux call.
async fn spec_changes(stack: &Stack, plan: &Plan) -> Result<BTreeMap<String, Vec<String>>> {
    let changed: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.change {
            Change::Recreate { tmux_id, reason } if reason == "spec changed" => {
                Some((s.address.as_str(), tmux_id.as_str()))
            }
            _ => None,
        })
        .collect();
    if changed.is_empty() {
        return Ok(BTreeMap::new());
    }
    let cmds: Vec<crate::tmux::Cmd> = changed
        .iter()
        .map(|(_, id)| crate::tmux::Cmd::query("display-message").args(["-p", "-t", id, "#{@ctmux-spec}"]))
        .collect();
    let out = stack.tmux.run(&cmds).await.map_err(|e| e.into_error("reading pane specs"))?;
    let mut lines = out.lines();
    let mut fields = BTreeMap::new();
    for (address, _) in changed {
        let recorded = lines.next().unwrap_or_default();
        let Some(pane) = stack.project().pane(address) else { continue };
        let mut list = crate::reconcile::spec::changed_fields(recorded, pane);
        if list.is_empty() {
            list.push("unknown: the pane was started by a ctmux that did not record its fields".into());
        }
        fields.insert(address.to_string(), list);
    }
    Ok(fields)
}

/// Runs `up`.
pub fn run_up(ctx: &Ctx, args: &UpArgs) -> Result {
    let stack = Stack::open_ports(ctx, true)?;
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let (opts, targets) = options(&stack, &args.targets, args.cascade, args.recreate, args.remove_orphans)?;
    let _lock = lock::acquire(&stack.tmux.socket.key(), &stack.project().name, "ctmux up", ctx.notice())?;
    let rt = runtime()?;
    // What a killed server left running (a `nohup` child) goes before anything starts again.
    let _ = super::down::stop_leftovers(ctx, &stack, &rt, None);
    let live = rt.block_on(stack.tmux.live()).map_err(|e| e.into_error("reading tmux state"))?;
    let first = first_up(&stack, &live);
    run_before_hooks(ctx, &stack, &live)?;
    let mut plan = plan::plan(stack.project(), &live, &stack.graph, &opts);
    plan.options = rt
        .block_on(crate::reconcile::options::drift(&stack.tmux, stack.project(), &live, opts.targets.as_ref()))
        .map_err(|e| e.into_error("reading tmux options"))?;
    let printer = Printer(ctx);
    if !ctx.json() && !ctx.global.quiet && !plan.is_empty() {
        // `up` builds what is missing: no "half built" note while it does.
        eprint!("{}", render_plan(&plan, &BTreeMap::new(), false));
    }
    // A running daemon gets the version we act on before we change anything: a restart it
    // has queued, or a waiting pane it starts, must not use the one it held (it ran the
    // previous command in the pane `up` had just recreated). `--no-daemon`: it forgets us.
    if args.no_daemon {
        let forget = crate::daemon::protocol::Request::Forget { project: stack.project().name.clone() };
        let _ = crate::daemon::client::request(&stack.tmux.socket, forget);
    } else if !plan.is_empty() {
        let _ = crate::daemon::client::request(&stack.tmux.socket, load_request(&stack.loaded));
    }
    // The daemon watches new sessions before their commands start (see `Settings::gate`).
    let gate = (!args.no_daemon).then(|| {
        let socket = stack.tmux.socket.clone();
        let load = load_request(&stack.loaded);
        Gate(std::sync::Arc::new(move || {
            // No daemon is no reason to leave the stack half built: go on; the end of `up`
            // reports it (or the tmux error that caused it).
            let _ = crate::daemon::client::ensure_started(&socket)
                .and_then(|_| crate::daemon::client::request(&socket, load.clone()));
            Ok(())
        }) as std::sync::Arc<dyn Fn() -> Result<()>>)
    });
    let settings = Settings { wait: args.wait, timeout, targets, gate };
    let result = rt.block_on(Up::new(&stack.tmux, stack.project(), settings, &printer).run(&plan, &live));
    stack.report_traffic(ctx);
    let panes = result?;
    // The choice is remembered on the project's sessions: other verbs restart a dead daemon
    // only for projects that did not opt out.
    let sessions: std::collections::BTreeSet<&str> = stack.project().panes().map(|p| p.session.as_str()).collect();
    let choice: Vec<crate::tmux::Cmd> = sessions
        .iter()
        .map(|s| {
            let target = format!("={s}:");
            let cmd = crate::tmux::Cmd::new("set-option").args(["-q", "-t", &target]);
            if args.no_daemon {
                cmd.args([super::supervise::NO_DAEMON, "1"])
            } else {
                cmd.args(["-u", super::supervise::NO_DAEMON])
            }
        })
        .collect();
    let _ = rt.block_on(stack.tmux.run(&choice));
    let daemon = hand_to_daemon(&stack, !args.no_daemon)?;
    let waiting: Vec<String> = panes
        .iter()
        .filter_map(|p| Some(format!("{} (for {})", p.address, pending::describe(p.waiting_for.as_ref()?))))
        .collect();
    if !waiting.is_empty() && !daemon {
        ctx.warn(format!(
            "left waiting, with no daemon to start them: {}; `ctmux up --wait` (or `ctmux daemon start`) starts them when that holds",
            waiting.join(", ")
        ));
    }
    let extra = [("CTMUX_FIRST_UP", if first { "1" } else { "0" })];
    crate::hooks::run(stack.project(), &stack.tmux.socket, crate::hooks::Phase::AfterUp, !ctx.global.quiet, &extra)?;
    if ctx.json() {
        ctx.print_json(&UpDoc {
            project: &stack.project().name,
            changes: &plan.steps,
            options: &plan.options,
            unchanged: plan.unchanged.len(),
            panes,
        });
    } else if !ctx.global.quiet {
        let what = if plan.is_empty() {
            "nothing to do".to_string()
        } else {
            format!("{} change(s)", plan.steps.len() + plan.options.len())
        };
        let ready = if args.wait {
            ", all ready".to_string()
        } else if !waiting.is_empty() && daemon {
            format!(", {} waiting (the daemon starts each when its dependencies hold)", waiting.len())
        } else {
            String::new()
        };
        ctx.say(format!("✔ {} is up on `{}`: {what}{ready}", stack.project().name, stack.tmux.command_line()));
    }
    Ok(Exit::Ok)
}

/// `hooks.before_up`, then `hooks.first_up` when no pane of the project is running on this
/// server (none exists, or every one is dead): before `up` changes anything, so a failure
/// leaves everything as it was.
fn run_before_hooks(ctx: &Ctx, stack: &Stack, live: &crate::tmux::Live) -> Result<()> {
    use crate::hooks::{Phase, run};
    let echo = !ctx.global.quiet;
    let first = first_up(stack, live);
    let extra = [("CTMUX_FIRST_UP", if first { "1" } else { "0" })];
    run(stack.project(), &stack.tmux.socket, Phase::BeforeUp, echo, &extra)?;
    if first {
        run(stack.project(), &stack.tmux.socket, Phase::FirstUp, echo, &extra)?;
    }
    Ok(())
}

/// Whether no pane of the project is running on this server (none exists, or all exited).
fn first_up(stack: &Stack, live: &crate::tmux::Live) -> bool {
    live.managed(&stack.project().name).values().all(|p| p.dead)
}

/// The daemon request that hands over the manifest as we read it (its text, so the daemon acts
/// on this version and not on the file as it may be a moment later) with our environment.
pub fn load_request(loaded: &crate::manifest::Loaded) -> crate::daemon::protocol::Request {
    let project = &loaded.project;
    let mut env: Vec<(String, String)> =
        std::env::vars().filter(|(k, _)| k != crate::manifest::compose::COMPOSE_VAR).collect();
    if let Some(compose) = &project.compose {
        // Several files, profiles or env files: the daemon composes the same.
        env.push((crate::manifest::compose::COMPOSE_VAR.into(), compose.clone()));
    }
    crate::daemon::protocol::Request::Load {
        file: project.file.display().to_string(),
        env: env.into_iter().collect(),
        content: Some(loaded.text.clone()),
    }
}

/// Gives the manifest to the server's daemon, starting one unless `start` is false (then only a
/// running daemon hears of it): rules change without a restart, new processes are watched, and
/// waiting panes are started when their dependencies hold. Returns whether a daemon has it.
pub fn hand_to_daemon(stack: &Stack, start: bool) -> Result<bool> {
    use crate::daemon::client;
    if start {
        client::ensure_started(&stack.tmux.socket)?;
    } else if no_daemon(stack) {
        // Brought up with `--no-daemon`: another project's daemon on this server leaves it be.
        let forget = crate::daemon::protocol::Request::Forget { project: stack.project().name.clone() };
        client::request(&stack.tmux.socket, forget)?;
        return Ok(false);
    }
    let Some(response) = client::request(&stack.tmux.socket, load_request(&stack.loaded))? else {
        return Ok(false);
    };
    if !response.ok {
        return Err(crate::error::Error::failed(
            format!("the daemon refused the manifest: {}", response.error.unwrap_or_default()),
            None,
        ));
    }
    Ok(true)
}

/// Whether the project's panes on this server were brought up with `up --no-daemon`.
fn no_daemon(stack: &Stack) -> bool {
    let format = format!("#{{@ctmux-project}}\t#{{{}}}", super::supervise::NO_DAEMON);
    let Ok(rt) = runtime() else { return false };
    let ask = crate::tmux::Cmd::query("list-panes").args(["-a", "-F", &format]);
    rt.block_on(stack.tmux.run(&[ask])).is_ok_and(|out| {
        out.lines().any(|l| l.split_once('\t').is_some_and(|(p, off)| p == stack.project().name && off == "1"))
    })
}
