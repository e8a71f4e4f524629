//! `ctmux import FORMAT FILE [-o OUT]`: another tool's file as a ctmux manifest, checked by the
//! same loader `validate` uses before it is written.

use std::collections::HashMap;

use serde::Serialize;

use crate::cli::args::ImportArgs;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;

#[derive(Serialize)]
struct ImportDoc<'a> {
    schema_version: u32,
    file: Option<String>,
    warnings: &'a [String],
    /// The manifest text when no `-o` was given.
    manifest: Option<&'a str>,
}

/// Translates, validates, writes.
pub fn run(ctx: &Ctx, args: &ImportArgs) -> Result {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", args.file.display()), None))?;
    let source = std::path::absolute(&args.file).unwrap_or_else(|_| args.file.clone());
    let stem = source
        .parent()
        .and_then(|d| d.file_name())
        .map_or_else(|| "imported".to_string(), |n| n.to_string_lossy().into_owned());
    let imported = crate::import::translate(args.format, &text, &stem).map_err(|message| Error::Usage {
        message: format!("{}: {message}", args.file.display()),
        hint: Some(format!("is it a {} file?", format_name(args.format))),
    })?;
    let toml = args.output.as_ref().is_some_and(|f| f.extension().is_some_and(|e| e == "toml"));
    let body = if toml {
        toml::to_string_pretty(&imported.document)
            .map_err(|e| Error::failed(format!("cannot write TOML: {e}"), None))?
    } else {
        serde_saphyr::to_string(&imported.document)
            .map_err(|e| Error::failed(format!("cannot write YAML: {e}"), None))?
    };
    let mut header = format!("# imported by `ctmux import` from {} ({})\n", source.display(), format_name(args.format));
    for w in &imported.warnings {
        header.push_str(&format!("# warning: {w}\n"));
    }
    let out = format!("{header}{body}");
    // Relative paths resolve against where the manifest will live.
    let anchor = match &args.output {
        Some(o) => std::path::absolute(o).unwrap_or_else(|_| o.clone()),
        None => std::env::current_dir().unwrap_or_default().join(if toml { "ctmux.toml" } else { "ctmux.yaml" }),
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    // What does not validate is the source's content (a bad env key, a dependency cycle, a
    // layout tmux would crash on): the user's to fix, each problem shown at its place in the
    // translation (exit 2).
    let shown = std::path::PathBuf::from(format!(
        "{} → {}",
        args.file.display(),
        anchor.file_name().map_or_else(|| "ctmux.yaml".into(), |n| n.to_string_lossy())
    ));
    if let Err(e) = crate::manifest::parse(&out, &shown, &anchor, &env) {
        ctx.warn(format!("{} does not translate to a valid manifest; fix these in it:", args.file.display()));
        return Err(Error::Manifest(e));
    }
    if let Some(o) = &args.output {
        crate::snapshot::store::write_atomically(o, out.as_bytes())
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", o.display()), None))?;
    }
    if ctx.json() {
        ctx.print_json(&ImportDoc {
            schema_version: 1,
            file: args.output.as_ref().map(|o| o.display().to_string()),
            warnings: &imported.warnings,
            manifest: args.output.is_none().then_some(out.as_str()),
        });
        return Ok(Exit::Ok);
    }
    for w in &imported.warnings {
        ctx.warn(format!("{}: {w}", args.file.display()));
    }
    match &args.output {
        Some(o) => ctx.say(format!("wrote {}", o.display())),
        None => crate::cli::output::write_stdout(out.as_bytes())
            .map_err(|e| Error::failed(format!("cannot print the manifest: {e}"), None))?,
    }
    Ok(Exit::Ok)
}

fn format_name(f: crate::import::Format) -> &'static str {
    match f {
        crate::import::Format::Tmuxp => "tmuxp",
        crate::import::Format::Tmuxinator => "tmuxinator",
        crate::import::Format::Procfile => "Procfile",
        crate::import::Format::ProcessCompose => "process-compose",
    }
}
