//! The MCP server's stdio, with a gate in front of rmcp's reader: every line a client sends is
//! looked at first, and the ones rmcp would drop without a word or answer wrongly are answered
//! here in JSON-RPC's terms.
//!
//! Promise: a line that is not JSON is answered `-32700` (id null) — rmcp ignores it, so the
//! client waits forever; a request for a method MCP defines whose params do not fit it
//! (`tools/call` without params, `initialize` with `protocolVersion: 123` or `null`) is answered
//! `-32602` with its id and what is wrong — rmcp answers such an `initialize` with a message about
//! request `_meta`, and `tools/call` with "method not found"; a line longer than 16 MiB is
//! answered `-32600` and skipped without being held in memory. Every other line reaches rmcp
//! unchanged, and the server keeps serving after each of these answers.

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ErrorData, RequestId, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// The longest line read; longer ones are answered `-32600` and skipped (rmcp's own limit).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// rmcp's stdio transport reading through the gate.
pub struct Gate<W: AsyncWrite + Send + Unpin + 'static> {
    inner: AsyncRwTransport<RoleServer, DuplexStream, W>,
    answers: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
}

/// The gate on `read` (a client's requests) and `write` (where answers go).
pub fn gate<R, W>(read: R, write: W) -> Gate<W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (to_rmcp, rmcp_reads) = tokio::io::duplex(64 * 1024);
    let (answer, answers) = mpsc::unbounded_channel();
    tokio::spawn(pump(read, to_rmcp, answer));
    Gate { inner: AsyncRwTransport::new_server(rmcp_reads, write), answers }
}

/// Reads `read` line by line: lines rmcp can take go on to it, the others are answered.
async fn pump<R: AsyncRead + Unpin>(
    read: R,
    mut to_rmcp: DuplexStream,
    answer: mpsc::UnboundedSender<ServerJsonRpcMessage>,
) {
    let mut read = tokio::io::BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line(&mut read, &mut line).await {
            Ok(Line::Eof) => return,
            Ok(Line::TooLong) => {
                let e = ErrorData::invalid_request(format!("a message longer than {MAX_LINE} bytes was skipped"), None);
                let _ = answer.send(ServerJsonRpcMessage::error(e, None));
            }
            Ok(Line::Whole) => match check(&line) {
                Some(reply) => {
                    let _ = answer.send(reply);
                }
                None => {
                    if to_rmcp.write_all(&line).await.is_err() || to_rmcp.write_all(b"\n").await.is_err() {
                        return;
                    }
                }
            },
            Err(_) => return,
        }
    }
}

/// How a line read ended.
enum Line {
    Whole,
    TooLong,
    Eof,
}

/// Reads one line (without its `\n`) into `line`, never holding more than [`MAX_LINE`] bytes.
async fn read_line<R: AsyncRead + Unpin>(
    read: &mut tokio::io::BufReader<R>,
    line: &mut Vec<u8>,
) -> std::io::Result<Line> {
    let mut too_long = false;
    loop {
        let buf = read.fill_buf().await?;
        if buf.is_empty() {
            // A last line without its newline is still a message.
            return Ok(if too_long {
                Line::TooLong
            } else if line.is_empty() {
                Line::Eof
            } else {
                Line::Whole
            });
        }
        let end = buf.iter().position(|b| *b == b'\n');
        let take = end.map_or(buf.len(), |i| i + 1);
        if !too_long {
            let part = &buf[..end.unwrap_or(buf.len())];
            if line.len() + part.len() > MAX_LINE {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(part);
            }
        }
        read.consume(take);
        if end.is_some() {
            return Ok(if too_long { Line::TooLong } else { Line::Whole });
        }
    }
}

/// The answer for a line rmcp must not see, or `None` to pass it on.
fn check(line: &[u8]) -> Option<ServerJsonRpcMessage> {
    let text = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            let e = ErrorData::parse_error(format!("not a JSON message: {e}"), None);
            return Some(ServerJsonRpcMessage::error(e, None));
        }
    };
    // Only requests (a method and an id) for methods MCP defines are checked here; rmcp answers
    // the rest as it should.
    let method = value.get("method")?.as_str()?;
    let id = match value.get("id")? {
        Value::String(s) => RequestId::String(s.as_str().into()),
        Value::Number(n) => RequestId::Number(n.as_i64()?),
        _ => return None,
    };
    let problem = match method {
        "initialize" => params_problem::<rmcp::model::InitializeRequestParams>(&value),
        "tools/call" => params_problem::<rmcp::model::CallToolRequestParams>(&value),
        "tools/list" | "ping" => None,
        _ => return None,
    };
    let problem = problem.or_else(|| {
        // What rmcp makes of it: a method it knows that did not parse as that method is not
        // "method not found", it is bad params.
        match serde_json::from_value::<ClientJsonRpcMessage>(value.clone()) {
            Ok(ClientJsonRpcMessage::Request(r)) if matches!(r.request, ClientRequest::CustomRequest(_)) => {
                Some(format!("the params do not fit `{method}`"))
            }
            _ => None,
        }
    })?;
    let e = ErrorData::invalid_params(format!("invalid params for `{method}`: {problem}"), None);
    Some(ServerJsonRpcMessage::error(e, Some(id)))
}

/// What is wrong with the request's `params` as `P`, if anything.
fn params_problem<P: serde::de::DeserializeOwned>(request: &Value) -> Option<String> {
    match request.get("params") {
        None | Some(Value::Null) => Some("`params` is missing".into()),
        Some(p) => serde_json::from_value::<P>(p.clone()).err().map(|e| {
            let e = e.to_string();
            if e.contains("protocolVersion") || request["method"] != "initialize" {
                e
            } else {
                format!("{e} (`protocolVersion` must be a string such as \"2025-06-18\")")
            }
        }),
    }
}

impl<W: AsyncWrite + Send + Unpin + 'static> Transport<RoleServer> for Gate<W> {
    type Error = std::io::Error;

    fn send(&mut self, item: ServerJsonRpcMessage) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            // Answers first, so one queued before the client hung up still goes out.
            tokio::select! {
                biased;
                Some(reply) = self.answers.recv() => {
                    // The send runs to its end even when this receive is dropped.
                    tokio::spawn(self.inner.send(reply));
                }
                msg = self.inner.receive() => return msg,
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> Option<(i32, Value)> {
        check(line.as_bytes()).map(|m| {
            let v = serde_json::to_value(&m).unwrap();
            (v["error"]["code"].as_i64().unwrap() as i32, v)
        })
    }

    #[test]
    fn lines_rmcp_would_drop_or_misanswer_are_answered_here() {
        let (c, v) = code("not json").unwrap();
        assert!(c == -32700 && v["id"].is_null(), "{v}");
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/ca"#).unwrap().0, -32700);
        let (c, v) = code(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call"}"#).unwrap();
        assert!(c == -32602 && v["id"] == 5 && v["error"]["message"].as_str().unwrap().contains("params"), "{v}");
        let (c, v) = code(r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":5}}"#).unwrap();
        assert!(c == -32602 && v["id"] == "x", "{v}");
        for bad in ["123", "null"] {
            let line = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":{bad},"capabilities":{{}},"clientInfo":{{"name":"c","version":"1"}}}}}}"#
            );
            let (c, v) = code(&line).unwrap();
            assert!(c == -32602 && v["error"]["message"].as_str().unwrap().contains("protocolVersion"), "{v}");
        }
    }

    #[test]
    fn good_lines_notifications_and_unknown_methods_pass_to_rmcp() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"status","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"no/such/method"}"#,
            "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}\r",
            "",
            "  ",
        ] {
            assert!(code(line).is_none(), "{line}");
        }
    }

    #[tokio::test]
    async fn an_endless_line_is_skipped_without_being_held_and_the_next_one_read() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\n{\"a\":1}\nlast");
        let mut read = tokio::io::BufReader::new(&input[..]);
        let mut line = Vec::new();
        assert!(matches!(read_line(&mut read, &mut line).await.unwrap(), Line::TooLong));
        assert!(line.capacity() <= MAX_LINE * 2);
        line.clear();
        assert!(matches!(read_line(&mut read, &mut line).await.unwrap(), Line::Whole));
        assert_eq!(line, b"{\"a\":1}");
        line.clear();
        assert!(matches!(read_line(&mut read, &mut line).await.unwrap(), Line::Whole));
        assert_eq!(line, b"last");
        line.clear();
        assert!(matches!(read_line(&mut read, &mut line).await.unwrap(), Line::Eof));
    }
}
