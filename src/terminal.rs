//! What a terminal would show for one line of raw output (and, in [`Screen`], for a run of
//! lines with reverse indexes between them): the one place readings (`logs`,
//! `pane tail`, `pane stream`, `pane exec`'s output) turn bytes a program wrote into text.
//!
//! A line is rendered on a row of cells with a cursor, as a terminal does: printable characters
//! overwrite the cell under the cursor and move it right, `\r` moves it to column 0, backspace
//! one column left (it erases nothing), and the escapes progress bars use to redraw a line work
//! too (`CSI K` erase in line, `CSI G` column, `CSI C`/`CSI D` right/left). Every other escape
//! sequence (colours, OSC titles and shell-integration marks, …) and control character is
//! dropped; tabs are kept as one cell each (rules match `a\tb`). A `progress 1%\rprogress 2%`
//! line therefore reads `progress 2%`. The promise: the result holds no control character but
//! tab, and a line without `\r`, backspace or escapes comes back unchanged.

/// The text a terminal would show for `raw` (one line; a trailing `\r`/`\n` is ignored).
pub fn render(raw: &str) -> String {
    let raw = raw.trim_end_matches(['\n', '\r']);
    if !raw.contains(|c: char| c.is_control() && c != '\t') {
        return raw.to_string();
    }
    let mut row = Row::default();
    draw(&mut row, raw);
    row.text()
}

/// Applies `raw` to `row` (a reverse index, `ESC M`, is dropped here: [`Screen`] splits at it).
fn draw(row: &mut Row, raw: &str) {
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => row.cursor = 0,
            '\x08' => row.cursor = row.cursor.saturating_sub(1),
            '\x1b' => escape(&mut chars, row),
            // A C1 CSI (0x9b) is rare in UTF-8 text; drop it like other controls.
            '\t' => row.put('\t'),
            c if c.is_control() => {}
            c => row.put(c),
        }
    }
}

/// How many rows a [`Screen`] keeps for a reverse index to move back into.
const SCREEN_ROWS: usize = 64;

/// A reverse index: the cursor moves up one row, keeping its column.
const REVERSE_INDEX: &str = "\x1bM";

/// A pane's output as a terminal shows it, fed one logged line at a time: like [`render`], and
/// a reverse index (`ESC M`, which bash uses to redraw a multi-line command line it echoed)
/// moves the writing up onto a row already read rather than into the line's own row. A row is
/// handed out when the cursor leaves it downward (a line ends on it), and again only if it
/// changed, so a redraw of rows already shown reads once — as on screen.
#[derive(Default)]
pub struct Screen {
    /// The last rows: their text, and whether that text was handed out.
    rows: std::collections::VecDeque<Kept>,
    /// Index in `rows` of the row the next line writes (`rows.len()`: a new row).
    cursor: usize,
}

/// One row a [`Screen`] keeps.
struct Kept {
    text: String,
    /// What was handed out for the row: `Some(None)` its `text` as it is now.
    shown: Option<Option<String>>,
}

impl Screen {
    /// Whether the next line starts a new row (no reverse index left the cursor above).
    pub fn at_bottom(&self) -> bool {
        self.cursor == self.rows.len()
    }

    /// A line without escapes or control characters (but tabs) at the bottom: a new row, shown
    /// as it is. (Kept only for a later reverse index to draw on.)
    pub fn plain(&mut self, text: &str) {
        debug_assert!(self.at_bottom());
        self.rows.push_back(Kept { text: text.to_string(), shown: Some(None) });
        self.cursor += 1;
        if self.rows.len() > SCREEN_ROWS {
            self.rows.pop_front();
            self.cursor -= 1;
        }
    }

    /// The row `raw` (one line) finishes, or `None` when it only redrew what was shown.
    pub fn line(&mut self, raw: &str) -> Option<&str> {
        let raw = raw.trim_end_matches(['\n', '\r']);
        let new = if self.at_bottom() && !raw.contains(REVERSE_INDEX) {
            // The common case: a new row, shown at once.
            self.rows.push_back(Kept { text: render(raw), shown: Some(None) });
            true
        } else {
            let mut col = 0;
            for (i, part) in raw.split(REVERSE_INDEX).enumerate() {
                if i > 0 {
                    self.cursor = self.cursor.saturating_sub(1);
                }
                if self.at_bottom() {
                    self.rows.push_back(Kept { text: String::new(), shown: None });
                }
                let kept = &mut self.rows[self.cursor];
                let cells: Vec<char> = kept.text.chars().collect();
                let mut row = Row { overwritten: !cells.is_empty(), cells, cursor: col };
                draw(&mut row, part);
                col = row.cursor;
                let text = row.text();
                if kept.shown == Some(None) && text != kept.text {
                    // Keep what was shown: the new text is compared with it.
                    kept.shown = Some(Some(std::mem::take(&mut kept.text)));
                }
                kept.text = text;
            }
            let kept = &mut self.rows[self.cursor];
            let new = match &kept.shown {
                None => true,
                Some(None) => false,
                Some(Some(was)) => *was != kept.text,
            };
            kept.shown = Some(None);
            new
        };
        self.cursor += 1;
        while self.rows.len() > SCREEN_ROWS && self.cursor > 1 {
            self.rows.pop_front();
            self.cursor -= 1;
        }
        new.then(|| self.rows[self.cursor - 1].text.as_str())
    }

    /// Rows written but never finished (the cursor moved up and did not come back), in order.
    pub fn finish(&mut self) -> Vec<String> {
        let out = self
            .rows
            .iter_mut()
            .skip(self.cursor)
            .filter(|k| k.shown.is_none())
            .map(|k| {
                k.shown = Some(None);
                k.text.clone()
            })
            .collect();
        self.cursor = self.rows.len();
        out
    }
}

/// Renders every line of `text` ([`render`]), keeping its line structure.
pub fn render_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive('\n') {
        out.push_str(&render(piece));
        if piece.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Drops the blank rows at the end of `rows` (a screen's unused rows, a dead pane's
/// padding): a reading of the last N rows then shows the last N that hold something.
pub fn drop_trailing_blank<S: AsRef<str>>(rows: &mut Vec<S>) {
    while rows.last().is_some_and(|r| r.as_ref().trim().is_empty()) {
        rows.pop();
    }
}

/// The first words of the line tmux 3.3a writes on a dead `remain-on-exit` pane, at the
/// bottom of the screen below rows no process printed.
pub const DEAD_LINE: &str = "Pane is dead (";

/// A screen's rows as a reading shows them: trailing blank rows dropped, and on a dead pane
/// the blank padding tmux leaves between the process's last row and its "Pane is dead" line.
pub fn tidy_rows<S: AsRef<str>>(rows: &mut Vec<S>) {
    drop_trailing_blank(rows);
    if rows.last().is_some_and(|r| r.as_ref().starts_with(DEAD_LINE)) {
        let dead = rows.pop();
        drop_trailing_blank(rows);
        rows.extend(dead);
    }
}

#[derive(Default)]
struct Row {
    cells: Vec<char>,
    cursor: usize,
    /// Something moved the cursor back or erased: trailing blanks are redraw leftovers.
    overwritten: bool,
}

impl Row {
    /// The row as read: cells a redraw blanked read as nothing at its end, as on screen.
    fn text(self) -> String {
        let mut out: String = self.cells.into_iter().collect();
        let kept = out.trim_end_matches(' ').len();
        if self.overwritten {
            out.truncate(kept);
        }
        out
    }

    fn put(&mut self, c: char) {
        if self.cursor < self.cells.len() {
            self.cells[self.cursor] = c;
            self.overwritten = true;
        } else {
            self.cells.resize(self.cursor, ' ');
            self.cells.push(c);
        }
        self.cursor += 1;
    }
}

/// Consumes one escape sequence after ESC, applying the cursor and erase ones.
fn escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, row: &mut Row) {
    match chars.next() {
        Some('[') => {
            let mut params = String::new();
            let mut last = None;
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    last = Some(c);
                    break;
                }
                params.push(c);
            }
            let n = |default: usize| params.split(';').next().and_then(|p| p.parse::<usize>().ok()).unwrap_or(default);
            match last {
                Some('K') => {
                    row.overwritten = true;
                    match n(0) {
                        0 => row.cells.truncate(row.cursor),
                        1 => {
                            let end = (row.cursor + 1).min(row.cells.len());
                            row.cells[..end].iter_mut().for_each(|c| *c = ' ');
                        }
                        _ => row.cells.iter_mut().for_each(|c| *c = ' '),
                    }
                }
                Some('G') => {
                    row.cursor = n(1).max(1) - 1;
                    row.overwritten = true;
                }
                Some('C') => row.cursor += n(1).max(1),
                Some('D') => {
                    row.cursor = row.cursor.saturating_sub(n(1).max(1));
                    row.overwritten = true;
                }
                _ => {}
            }
        }
        // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \).
        Some(']' | 'P' | 'X' | '^' | '_') => {
            while let Some(c) = chars.next() {
                if c == '\x07' {
                    break;
                }
                if c == '\x1b' {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        // Two-character sequences with an intermediate (`ESC ( B`).
        Some('(' | ')' | '*' | '+' | '#' | '%') => {
            chars.next();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_progress_bar_reads_as_its_last_state() {
        let bar: String = (1..=100).map(|i| format!("progress {i}%\r")).collect();
        assert_eq!(render(&format!("{bar}\n")), "progress 100%");
        assert_eq!(render("downloading 99%\rdone\x1b[K"), "done");
        assert_eq!(render("downloading 99%\rdone"), "doneloading 99%", "overwrite, not erase");
        assert_eq!(render("\x1b[2K\rstep 3/3\x1b[0K"), "step 3/3");
    }

    #[test]
    fn backspace_moves_left_and_a_blanked_tail_is_dropped() {
        assert_eq!(render("abc\x08X"), "abX");
        assert_eq!(render("abc\x08 \x08"), "ab");
        assert_eq!(render("\x08\x08x"), "x");
        assert_eq!(render("12345\x1b[3Gx"), "12x45");
        assert_eq!(render("a\x1b[3Cb"), "a   b");
    }

    #[test]
    fn escapes_and_marks_go_tabs_and_plain_text_stay() {
        assert_eq!(render("\x1b[31mred\x1b[0m\tx\r\n"), "red\tx");
        assert_eq!(render("\x1b]133;A;aid=7\x1b\\$ \x1b]133;B\x07ls"), "$ ls");
        assert_eq!(render("\x1b]0;title\x07text \x1b(Bend"), "text end");
        assert_eq!(render("plain  "), "plain  ", "trailing spaces of plain text are kept");
        assert_eq!(render("ünï ✓"), "ünï ✓");
    }

    #[test]
    fn a_reverse_index_redraw_reads_once_as_on_screen() {
        // bash 5.2 echoing a two-line command line typed with bracketed paste: the text in
        // reverse video, then ESC M up to the first row and the whole line drawn again.
        let logged = [
            "\x1b]133;A\x1b\\\x1b[?2004h$ \x1b]133;B\x1b\\\x1b[7mecho \"a\x1b[27m",
            "\r\x1b[7mb\"\x1b[27m\x1bM\r$ \x1b]133;B\x1b\\echo \"a",
            "\rb\"",
            "\x1b[?2004l\r\x1b]133;C\x1b\\a",
            "b",
        ];
        let mut screen = Screen::default();
        let shown: Vec<String> = logged.iter().filter_map(|l| screen.line(l).map(str::to_string)).collect();
        assert_eq!(shown, ["$ echo \"a", "b\"", "a", "b"]);
        assert!(screen.finish().is_empty());
        // A redraw that changes a row shows the new row; one left above is shown at the end.
        let mut screen = Screen::default();
        assert_eq!(screen.line("one"), Some("one"));
        assert_eq!(screen.line("two\x1bM\rONE"), Some("ONE"));
        assert_eq!(screen.line("\x1bM\x1bMup"), Some("upE"), "no row above the first: it stays there");
        assert_eq!(screen.finish(), ["two"]);
        // Plain lines are rendered as render does.
        let mut screen = Screen::default();
        assert_eq!(screen.line("a\rb\n"), Some("b"));
        assert_eq!(screen.line("plain  "), Some("plain  "));
    }

    #[test]
    fn trailing_blank_rows_are_dropped() {
        let mut rows = vec!["hello-job", "", "Pane is dead", "", "  ", ""];
        drop_trailing_blank(&mut rows);
        assert_eq!(rows, ["hello-job", "", "Pane is dead"]);
        assert_eq!(render_lines("a\rb\nc\n"), "b\nc\n");
        let mut dead = vec!["hello-job", "", "", "Pane is dead (status 0, now)", ""];
        tidy_rows(&mut dead);
        assert_eq!(dead, ["hello-job", "Pane is dead (status 0, now)"]);
    }

    proptest! {
        #[test]
        fn rendering_leaves_no_control_but_tab(s in "[a-z \\t\\r\\x08\\x1b\\[\\]0-9;KGCDm\\x07\\\\]{0,60}") {
            let out = render(&s);
            prop_assert!(!out.contains(|c: char| c.is_control() && c != '\t'), "{:?} -> {:?}", s, out);
            // Rendering is idempotent: what a terminal shows renders as itself.
            prop_assert_eq!(render(&out), out.clone());
        }

        #[test]
        fn the_last_redraw_after_a_carriage_return_wins(a in "[a-z]{0,20}", b in "[a-z]{1,20}") {
            let out = render(&format!("{a}\r{b}"));
            let mut expect = b.clone();
            if a.len() > b.len() {
                expect.push_str(&a[b.len()..]);
            }
            prop_assert_eq!(out, expect);
        }
    }
}
