//! Layout strings in a canonical form: `#{window_layout}` names each pane by its tmux id
//! (`…,120x30,0,0,17`), which differs from server to server, but `select-layout` ignores those
//! ids (it fills the cells with the window's panes in order). A snapshot renumbers them 0, 1, …
//! in order and recomputes the checksum, so the same layout is the same text on any server.

pub use crate::tmux::layout::checksum;

/// `layout` with its pane ids renumbered in order and its checksum recomputed; unchanged when
/// it is not a custom layout string (a name such as `tiled`).
pub fn canonical(layout: &str) -> String {
    let Some((sum, body)) = layout.split_once(',') else {
        return layout.to_string();
    };
    if sum.len() != 4 || !sum.chars().all(|c| c.is_ascii_hexdigit()) {
        return layout.to_string();
    }
    let mut cells = Cells { text: body.as_bytes(), at: 0, next: 0, out: String::with_capacity(body.len()) };
    if cells.cell().is_none() || cells.at != body.len() {
        return layout.to_string();
    }
    let out = cells.out;
    format!("{:04x},{out}", checksum(&out))
}

/// A recursive reader of layout cells: `WxH,X,Y` then `,ID` (a pane) or `{cells}` / `[cells]`
/// (a split), copying each to `out` with pane ids renumbered.
struct Cells<'a> {
    text: &'a [u8],
    at: usize,
    next: usize,
    out: String,
}

impl Cells<'_> {
    fn number(&mut self) -> Option<&str> {
        let start = self.at;
        while self.at < self.text.len() && self.text[self.at].is_ascii_digit() {
            self.at += 1;
        }
        (self.at > start).then(|| std::str::from_utf8(&self.text[start..self.at]).unwrap_or_default())
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.text.get(self.at) == Some(&want)).then(|| {
            self.at += 1;
            self.out.push(want as char);
        })
    }

    fn copy_number(&mut self) -> Option<()> {
        let n = self.number()?.to_string();
        self.out.push_str(&n);
        Some(())
    }

    fn cell(&mut self) -> Option<()> {
        self.copy_number()?;
        self.byte(b'x')?;
        self.copy_number()?;
        self.byte(b',')?;
        self.copy_number()?;
        self.byte(b',')?;
        self.copy_number()?;
        match self.text.get(self.at)? {
            b',' => {
                self.byte(b',')?;
                self.number()?;
                self.out.push_str(&self.next.to_string());
                self.next += 1;
            }
            open @ (b'{' | b'[') => {
                let close = if *open == b'{' { b'}' } else { b']' };
                let open = *open;
                self.byte(open)?;
                self.cell()?;
                while self.byte(b',').is_some() {
                    self.cell()?;
                }
                self.byte(close)?;
            }
            _ => return None,
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_tmuxs() {
        // Strings tmux 3.3a printed.
        for s in [
            "b8bd,194x33,0,0,0",
            "aea0,194x33,0,0{100x33,0,0[100x16,0,0,1,100x16,0,17{45x16,0,17,2,54x16,46,17,3}],42x33,101,0,4,25x33,144,0,5,24x33,170,0,6}",
            "af03,194x33,0,0{100x33,0,0[100x16,0,0,1,100x16,0,17{45x16,0,17,5,54x16,46,17,6}],42x33,101,0,2,25x33,144,0,3,24x33,170,0,4}",
            "c2ce,240x60,0,0[240x30,0,0,1,240x29,0,31{120x29,0,31,2,119x29,121,31,3}]",
        ] {
            let (sum, body) = s.split_once(',').unwrap();
            assert_eq!(format!("{:04x}", checksum(body)), sum, "{s}");
        }
    }

    #[test]
    fn the_same_geometry_with_other_pane_ids_is_the_same_text() {
        let a = "aea0,194x33,0,0{100x33,0,0[100x16,0,0,1,100x16,0,17{45x16,0,17,2,54x16,46,17,3}],42x33,101,0,4,25x33,144,0,5,24x33,170,0,6}";
        let b = "af03,194x33,0,0{100x33,0,0[100x16,0,0,1,100x16,0,17{45x16,0,17,5,54x16,46,17,6}],42x33,101,0,2,25x33,144,0,3,24x33,170,0,4}";
        assert_eq!(canonical(a), canonical(b));
        assert!(canonical(a).ends_with(
            "[100x16,0,0,0,100x16,0,17{45x16,0,17,1,54x16,46,17,2}],42x33,101,0,3,25x33,144,0,4,24x33,170,0,5}"
        ));
        assert_eq!(canonical("b8bd,194x33,0,0,7"), canonical("b8bd,194x33,0,0,0"));
        assert_eq!(canonical("tiled"), "tiled");
    }
}
