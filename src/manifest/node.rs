//! A format-neutral tree of the manifest with a byte span on every key and value.
//!
//! YAML and TOML are both read into this tree first, so one lowering pass (see `lower.rs`) gives
//! the same model and the same diagnostics for either format. Scalars keep their source text:
//! a key that wants a string accepts `8080` as `"8080"`, as compose does for `environment`.

use std::ops::Range;

/// Byte range in the manifest source; carried everywhere so every error can point at its text.
pub type Span = Range<usize>;

/// One value of the manifest with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value is written in the source.
    pub span: Span,
    /// What the value is.
    pub kind: NodeKind,
}

/// The shapes a manifest value can take.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or an empty value.
    Null,
    /// A scalar and whether it was quoted (quoted scalars are always strings).
    Scalar {
        /// The scalar's text after escape processing.
        text: String,
        /// True for quoted or block scalars and TOML strings.
        quoted: bool,
    },
    /// A list.
    Seq(Vec<Node>),
    /// A map with its keys in source order.
    Map(Vec<(Key, Node)>),
}

/// A map key with its own span, so "unknown key" errors point at the key, not the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key's text.
    pub name: String,
    /// Where the key is written.
    pub span: Span,
}

impl Node {
    /// A short noun for the value's shape, used in "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Scalar { text, quoted } => {
                if *quoted {
                    "a string"
                } else if text == "true" || text == "false" {
                    "a boolean"
                } else if text.parse::<f64>().is_ok() {
                    "a number"
                } else {
                    "a string"
                }
            }
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    /// The scalar text, if this is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}
