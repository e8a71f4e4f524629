//! `snapshot ls|show|rm`: the stored snapshots under the state directory.

use serde::Serialize;

use crate::cli::args::SnapshotCmd;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;
use crate::snapshot::store::{self, Entry};

#[derive(Serialize)]
struct ListDoc<'a> {
    schema_version: u32,
    snapshots: &'a [Entry],
}

#[derive(Serialize)]
struct RemovedDoc<'a> {
    schema_version: u32,
    removed: &'a Entry,
}

#[derive(Serialize)]
struct ShowDoc<'a> {
    schema_version: u32,
    snapshot: &'a Entry,
    manifest: &'a str,
}

/// Runs one store verb.
pub fn run(ctx: &Ctx, cmd: &SnapshotCmd) -> Result {
    match cmd {
        SnapshotCmd::Ls => {
            let all = store::list(None);
            if ctx.json() {
                ctx.print_json(&ListDoc { schema_version: 1, snapshots: &all });
            } else if all.is_empty() {
                ctx.say(format!("no stored snapshots in {}", store::root().display()));
            } else {
                println!("{:<24} {:<20} {:>8} {:>6} {:>9}", "ID", "PROJECT", "SESSIONS", "PANES", "BYTES");
                for e in &all {
                    let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
                    println!("{:<24} {:<20} {:>8} {:>6} {:>9}", e.id, e.project, n(e.sessions), n(e.panes), e.bytes);
                }
            }
        }
        SnapshotCmd::Show { id } => {
            let e = found(id)?;
            let text = std::fs::read_to_string(&e.path)
                .map_err(|err| Error::failed(format!("cannot read {}: {err}", e.path.display()), None))?;
            if ctx.json() {
                ctx.print_json(&ShowDoc { schema_version: 1, snapshot: &e, manifest: &text });
            } else {
                crate::cli::output::write_stdout(text.as_bytes())
                    .map_err(|err| Error::failed(format!("cannot print the snapshot: {err}"), None))?;
            }
        }
        SnapshotCmd::Rm { id } => {
            let e = found(id)?;
            crate::fs_safe::remove(&e.path)
                .map_err(|err| Error::failed(format!("cannot remove {}: {err}", e.path.display()), None))?;
            if ctx.json() {
                ctx.print_json(&RemovedDoc { schema_version: 1, removed: &e });
            } else {
                ctx.say(format!("removed snapshot {} of {}", e.id, e.project));
            }
        }
    }
    Ok(Exit::Ok)
}

fn found(id: &str) -> Result<Entry> {
    store::find(id).map_err(|message| Error::NotFound {
        message,
        hint: Some("`ctmux snapshot ls` lists the stored snapshots".into()),
    })
}
