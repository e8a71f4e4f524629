//! Reads TOML into the same [`Node`] tree as YAML, so `ctmux.toml` gets identical diagnostics.
//!
//! `toml`'s serde path drops spans, so we walk its spanned `DeTable` instead.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::node::{Key, Node, NodeKind};
use super::yaml::SyntaxError;

/// Parses TOML text into a node tree.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let table = DeTable::parse(text)
        .map_err(|err| SyntaxError { message: err.message().to_string(), offset: err.span().map_or(0, |s| s.start) })?;
    let span = table.span();
    Ok(Node { span: 0..span.end.max(text.len()), kind: table_kind(table.get_ref()) })
}

fn table_kind(table: &DeTable<'_>) -> NodeKind {
    NodeKind::Map(
        table
            .iter()
            .map(|(key, value)| (Key { name: key.get_ref().to_string(), span: key.span() }, value_node(value)))
            .collect(),
    )
}

fn value_node(value: &Spanned<DeValue<'_>>) -> Node {
    let scalar = |text: String, quoted: bool| NodeKind::Scalar { text, quoted };
    let kind = match value.get_ref() {
        DeValue::String(s) => scalar(s.to_string(), true),
        DeValue::Integer(i) => {
            let text =
                i64::from_str_radix(i.as_str(), i.radix()).map_or_else(|_| i.as_str().to_string(), |n| n.to_string());
            scalar(text, false)
        }
        DeValue::Float(f) => scalar(f.as_str().to_string(), false),
        DeValue::Boolean(b) => scalar(b.to_string(), false),
        DeValue::Datetime(d) => scalar(d.to_string(), true),
        DeValue::Array(items) => NodeKind::Seq(items.iter().map(value_node).collect()),
        DeValue::Table(table) => table_kind(table),
    };
    Node { span: value.span(), kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tables_in_order_with_spans() {
        let text = "version = 1\nname = \"x\"\n[sessions.b]\n[sessions.a]\n";
        let node = parse(text).unwrap();
        let NodeKind::Map(entries) = &node.kind else { panic!() };
        assert_eq!(entries[0].0.name, "version");
        assert_eq!(entries[0].1.as_scalar(), Some("1"));
        let NodeKind::Map(sessions) = &entries[2].1.kind else { panic!() };
        let names: Vec<_> = sessions.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(&text[entries[1].0.span.clone()], "name");
    }

    #[test]
    fn syntax_error() {
        assert!(parse("a = [1,").is_err());
    }
}
