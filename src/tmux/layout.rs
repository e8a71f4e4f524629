//! Layouts checked before tmux sees them: tmux 3.3a crashes on some bad `select-layout`
//! arguments (`tiled x`, `tiledd`, `main-vertical `: `layout_parse` fails before it sets the
//! error message it then prints), so every layout a manifest, a snapshot or an import names is
//! checked here first, and only what passes is ever sent.
//!
//! The rules are those of tmux 3.3a's `layout-set.c` and `layout-custom.c`, made stricter where
//! tmux reads past its input: a name is one of the five preset names exactly (tmux would also
//! take an unambiguous prefix), and a layout string is `CCCC,` (four hex digits, tmux's checksum
//! of the rest) then one cell — `WxH,X,Y` followed by `,ID` (a pane), `{cells}` (side by side)
//! or `[cells]` (stacked) — with nothing after it, sizes that add up the way `layout_check`
//! wants (after tmux's fix of an oversized top cell) and fit tmux's window limits.

/// tmux's preset layout names.
pub const NAMES: &[&str] = &["even-horizontal", "even-vertical", "main-horizontal", "main-vertical", "tiled"];

/// The largest window side tmux accepts (`WINDOW_MAXIMUM`).
const MAX_SIDE: u32 = 10_000;

/// Deepest nesting of splits accepted (tmux recurses once per level).
const MAX_DEPTH: usize = 64;

/// tmux's layout checksum (`layout_checksum` in layout-custom.c).
pub fn checksum(body: &str) -> u16 {
    let mut csum: u16 = 0;
    for b in body.bytes() {
        csum = (csum >> 1) | ((csum & 1) << 15);
        csum = csum.wrapping_add(u16::from(b));
    }
    csum
}

/// What a valid layout is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A preset name.
    Name,
    /// A layout string with this many panes (cells without children).
    Custom {
        /// Its panes.
        panes: usize,
    },
}

/// Checks `layout` as tmux 3.3a's `select-layout` would read it; the error says what is wrong.
pub fn check(layout: &str) -> Result<Layout, String> {
    if NAMES.contains(&layout) {
        return Ok(Layout::Name);
    }
    let looks_custom = layout.len() > 5 && layout.as_bytes()[..4].iter().all(u8::is_ascii_hexdigit);
    if !looks_custom || layout.as_bytes()[4] != b',' {
        return Err(format!(
            "unknown layout `{}`: use {} or a layout string such as tmux's `#{{window_layout}}`",
            layout.escape_debug(),
            NAMES.join(", ")
        ));
    }
    let (sum, body) = layout.split_at(5);
    let want = u16::from_str_radix(&sum[..4], 16).map_err(|e| e.to_string())?;
    let have = checksum(body);
    if want != have {
        return Err(format!("layout string checksum is {:04x}, but its text sums to {have:04x}", want));
    }
    let mut reader = Reader { text: body.as_bytes(), at: 0 };
    let mut top = reader.cell(0).ok_or_else(|| reader.error())?;
    if reader.at != body.len() {
        return Err(reader.error());
    }
    // layout_parse: a top cell larger than its children is corrected to their size.
    if !top.children.is_empty() {
        let (mut sx, mut sy) = (0u64, 0u64);
        for c in &top.children {
            if top.kind == b'{' {
                sy = u64::from(c.sy) + 1;
                sx += u64::from(c.sx) + 1;
            } else {
                sx = u64::from(c.sx) + 1;
                sy += u64::from(c.sy) + 1;
            }
        }
        top.sx = u32::try_from(sx - 1).unwrap_or(u32::MAX);
        top.sy = u32::try_from(sy - 1).unwrap_or(u32::MAX);
    }
    if top.sx > MAX_SIDE || top.sy > MAX_SIDE {
        return Err(format!("layout string is {}x{}; tmux windows are at most {MAX_SIDE}x{MAX_SIDE}", top.sx, top.sy));
    }
    if !top.fits() {
        return Err("layout string sizes do not add up (tmux: size mismatch after applying layout)".into());
    }
    Ok(Layout::Custom { panes: top.panes() })
}

/// One cell of a layout string.
struct Cell {
    sx: u32,
    sy: u32,
    /// `{` side by side, `[` stacked, 0 a pane.
    kind: u8,
    children: Vec<Cell>,
}

impl Cell {
    fn panes(&self) -> usize {
        if self.children.is_empty() { 1 } else { self.children.iter().map(Cell::panes).sum() }
    }

    /// `layout_check`: children span their parent exactly, with one-cell borders between.
    fn fits(&self) -> bool {
        if self.sx == 0 || self.sy == 0 {
            return false;
        }
        if self.children.is_empty() {
            return true;
        }
        let mut n: u64 = 0;
        for c in &self.children {
            let same = if self.kind == b'{' { c.sy == self.sy } else { c.sx == self.sx };
            if !same || !c.fits() {
                return false;
            }
            n += u64::from(if self.kind == b'{' { c.sx } else { c.sy }) + 1;
        }
        n - 1 == u64::from(if self.kind == b'{' { self.sx } else { self.sy })
    }
}

struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self) -> String {
        let shown: String =
            String::from_utf8_lossy(&self.text[self.at.min(self.text.len())..]).chars().take(20).collect();
        if shown.is_empty() {
            format!("layout string ends early (after byte {})", self.at + 5)
        } else {
            format!("invalid layout string at byte {}: `{}`", self.at + 5, shown.escape_debug())
        }
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.at;
        while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        std::str::from_utf8(&self.text[start..self.at]).ok()?.parse().ok()
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.text.get(self.at) == Some(&want)).then(|| self.at += 1)
    }

    fn cell(&mut self, depth: usize) -> Option<Cell> {
        if depth > MAX_DEPTH {
            return None;
        }
        let sx = self.number()?;
        self.byte(b'x')?;
        let sy = self.number()?;
        self.byte(b',')?;
        self.number()?;
        self.byte(b',')?;
        self.number()?;
        match self.text.get(self.at) {
            Some(b',') if !self.next_is_cell() => {
                self.at += 1;
                self.number()?;
                Some(Cell { sx, sy, kind: 0, children: Vec::new() })
            }
            None | Some(b',' | b'}' | b']') => Some(Cell { sx, sy, kind: 0, children: Vec::new() }),
            Some(&open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                let mut children = Vec::new();
                loop {
                    self.at += 1;
                    children.push(self.cell(depth + 1)?);
                    if self.text.get(self.at) != Some(&b',') {
                        break;
                    }
                }
                self.byte(close)?;
                Some(Cell { sx, sy, kind: open, children })
            }
            Some(_) => None,
        }
    }

    /// After `X,Y`, is the `,` that follows the start of the next cell (`,80x24,…`) rather than
    /// a pane id (tmux looks for an `x` after the digits)?
    fn next_is_cell(&self) -> bool {
        let mut i = self.at + 1;
        while self.text.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        self.text.get(i) == Some(&b'x')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_sum(body: &str) -> String {
        format!("{:04x},{body}", checksum(body))
    }

    #[test]
    fn names_are_exact() {
        for ok in NAMES {
            assert_eq!(check(ok), Ok(Layout::Name));
        }
        for bad in ["tiled x", "tiledd", "main-vertical ", "foo", "", " tiled", "Tiled", "til", "tiled\n"] {
            assert!(check(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn strings_tmux_printed_pass() {
        for s in [
            "b8bd,194x33,0,0,0",
            "aea0,194x33,0,0{100x33,0,0[100x16,0,0,1,100x16,0,17{45x16,0,17,2,54x16,46,17,3}],42x33,101,0,4,25x33,144,0,5,24x33,170,0,6}",
            "c2ce,240x60,0,0[240x30,0,0,1,240x29,0,31{120x29,0,31,2,119x29,121,31,3}]",
        ] {
            assert!(check(s).is_ok(), "{s}: {:?}", check(s));
        }
        assert_eq!(
            check(
                "aea0,194x33,0,0{100x33,0,0[100x16,0,0,1,100x16,0,17{45x16,0,17,2,54x16,46,17,3}],42x33,101,0,4,25x33,144,0,5,24x33,170,0,6}"
            ),
            Ok(Layout::Custom { panes: 6 })
        );
        // Pane ids are optional (tmux's own parser allows cells without them).
        assert_eq!(check(&with_sum("80x24,0,0{40x24,0,0,39x24,41,0}")), Ok(Layout::Custom { panes: 2 }));
    }

    #[test]
    fn bad_strings_fail_with_a_reason() {
        let cases = [
            "b8be,194x33,0,0,0".to_string(),                                         // checksum
            with_sum("194x33,0,0,0x"),                                               // trailing text
            with_sum("194x33,0,0{100x33,0,0,1"),                                     // unclosed
            with_sum("194x33,0,0{100x33,0,0,1]"),                                    // wrong bracket
            with_sum("80x24,0,0[80x12,0,0{40x12,0,0,1,30x12,41,0,2},80x11,0,13,3]"), // widths do not add up
            with_sum("80x24,0,0{40x24,0,0,1,39x20,41,0,2}"),                         // heights differ
            with_sum("0x24,0,0,1"),                                                  // empty
            with_sum("20000x24,0,0,1"),                                              // too large
            with_sum("99999999999x24,0,0,1"),                                        // overflows
            with_sum("80x24,0,0"),                                                   // fine ... but see below
            "zzzz,80x24,0,0,1".into(),
            "abc,".into(),
        ];
        for c in &cases[..9] {
            assert!(check(c).is_err(), "{c} passed");
        }
        assert!(check(&cases[9]).is_ok());
        assert!(check(&cases[10]).is_err() && check(&cases[11]).is_err());
        let deep = format!("{}80x24,0,0,1{}", "80x24,0,0[".repeat(100), "]".repeat(100));
        assert!(check(&with_sum(&deep)).is_err());
    }

    #[test]
    fn an_oversized_top_cell_is_corrected_as_tmux_does() {
        assert!(check(&with_sum("90x30,0,0{40x24,0,0,1,39x24,41,0,2}")).is_ok());
        assert!(check(&with_sum("80x24,0,0{40x24,0,0,1,30x24,41,0,2}")).is_ok());
    }
}
