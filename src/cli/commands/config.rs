//! `ctmux config`: the normalized manifest (YAML, or JSON with `--json`), or its JSON Schema.

use crate::cli::args::ConfigArgs;
use crate::cli::{Ctx, Result};
use crate::exit::Exit;
use crate::manifest::{config, schema};

/// Runs `config`.
pub fn run(ctx: &Ctx, args: &ConfigArgs) -> Result {
    if args.schema {
        print!("{}", schema::schema_json());
        return Ok(Exit::Ok);
    }
    let loaded = super::load(ctx)?;
    if ctx.json() {
        println!("{}", serde_json::to_string_pretty(&config::render(&loaded.project)).unwrap_or_default());
    } else if ctx.global.verbose > 0 {
        // Each value with the file and line it came from (after -f merging, include, extends).
        print!("{}", config::to_yaml_with_origins(&loaded.project, &loaded.tree, &loaded.sources));
    } else {
        print!("{}", config::to_yaml(&loaded.project));
    }
    Ok(Exit::Ok)
}
