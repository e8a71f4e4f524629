//! Escape stripping for output text that rules, waits and logs match against.

/// `text` without ANSI escape sequences, keeping tabs (which the stripper would drop along
/// with other control characters, so a rule for `a\tb` could never match).
pub fn strip(text: &str) -> String {
    if !text.contains('\x1b') && !text.contains(|c: char| c.is_control() && c != '\t') {
        return text.to_string();
    }
    text.split('\t').map(strip_ansi_escapes::strip_str).collect::<Vec<_>>().join("\t")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_go_and_tabs_stay() {
        assert_eq!(super::strip("\x1b[31mred\x1b[0m\tx"), "red\tx");
        assert_eq!(super::strip("plain"), "plain");
    }
}
