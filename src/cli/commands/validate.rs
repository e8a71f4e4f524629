//! `ctmux validate`: load the manifest and report every problem; touches nothing.

use serde::Serialize;

use crate::cli::{Ctx, Result};
use crate::exit::Exit;

#[derive(Serialize)]
struct Valid<'a> {
    valid: bool,
    file: String,
    project: &'a str,
    sessions: usize,
    panes: usize,
}

/// Runs `validate`.
pub fn run(ctx: &Ctx) -> Result {
    let loaded = super::load(ctx)?;
    let p = &loaded.project;
    let doc = Valid {
        valid: true,
        file: p.file.display().to_string(),
        project: &p.name,
        sessions: p.sessions.len(),
        panes: p.panes().count(),
    };
    if ctx.json() {
        ctx.print_json(&doc);
    } else {
        ctx.say(format!("{}: valid ({} sessions, {} panes)", doc.file, doc.sessions, doc.panes));
    }
    Ok(Exit::Ok)
}
