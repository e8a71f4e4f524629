//! `ctmux mcp`: serve the verbs as Model Context Protocol tools on stdio (see `crate::mcp`).

use crate::cli::args::McpArgs;
use crate::cli::{Ctx, Result};
use crate::error::Error;
use crate::exit::Exit;

/// Serves until the client closes stdin.
pub fn run(ctx: &Ctx, args: &McpArgs) -> Result {
    // Calls get -L/-S only as given: without them each call picks the server as the CLI does
    // (CTMUX_TMUX_SOCKET, the manifest's `socket:`), and so does the own-pane check below.
    let mut socket_flags = Vec::new();
    if let Some(n) = &ctx.global.socket_name {
        socket_flags.extend(["-L".to_string(), n.clone()]);
    }
    if let Some(p) = &ctx.global.socket_path {
        socket_flags.extend(["-S".to_string(), p.display().to_string()]);
    }
    let tmux_flags = super::daemon::socket(ctx).client_flags();
    if ctx.global.file.len() > 1 || !ctx.global.profile.is_empty() || !ctx.global.env_file.is_empty() {
        return Err(Error::Usage {
            message: "`ctmux mcp` with several -f, --profile or --env-file is not supported yet".into(),
            hint: Some("serve one manifest file: `ctmux mcp -f FILE` (CTMUX_PROFILES applies to its calls)".into()),
        });
    }
    let cfg =
        crate::mcp::config(ctx.global.file.first().cloned(), socket_flags, tmux_flags, args.read_only, args.max_bytes)
            .map_err(|e| Error::failed(e, None))?;
    // MCP clients often start servers with a minimal environment (the Python SDK passes only
    // HOME, PATH, SHELL, TERM, USER, LOGNAME): with no locale, tmux treats its clients as not
    // UTF-8 and rewrites the field separators of format output, and the calls find no panes.
    // Every call and tmux client this server starts inherits a UTF-8 character type instead.
    if ["LC_ALL", "LC_CTYPE", "LANG"].iter().all(|v| std::env::var_os(v).is_none_or(|x| x.is_empty())) {
        // SAFETY: no other thread runs yet (the runtime is built below), so nothing reads the
        // environment while it changes.
        unsafe { std::env::set_var("LC_CTYPE", "C.UTF-8") };
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}"), None))?;
    rt.block_on(crate::mcp::serve(cfg)).map_err(|e| Error::failed(e, None))?;
    Ok(Exit::Ok)
}
