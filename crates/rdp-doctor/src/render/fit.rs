//! Human output that fits the terminal: the width to write for, the visible width of a
//! styled string (ANSI escape codes take no columns), padding that ignores them, and a
//! writer that wraps every line at the width — long words are broken, never cut, so no
//! evidence is lost.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The width renderers lay their own text out for (tables, hanging indents); set once by
/// `main` from [`output_width`]. 80 until then (tests, library users).
static WIDTH: AtomicUsize = AtomicUsize::new(80);

pub fn set_width(w: usize) {
    WIDTH.store(w.max(MIN_WIDTH), Ordering::Relaxed);
}

pub fn width() -> usize {
    WIDTH.load(Ordering::Relaxed)
}

/// The narrowest width we wrap to; below it continuation indents would eat the line.
const MIN_WIDTH: usize = 20;

/// The columns to write for: the terminal's width when stdout is a terminal, else `COLUMNS`
/// when set, else 80.
pub fn output_width(stdout_is_terminal: bool) -> usize {
    if stdout_is_terminal {
        if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
            return usize::from(w).max(MIN_WIDTH);
        }
    }
    columns_env(std::env::var("COLUMNS").ok().as_deref())
}

/// `COLUMNS` as a width (80 when unset or not a number).
pub fn columns_env(v: Option<&str>) -> usize {
    v.and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|w| *w > 0)
        .map_or(80, |w| w.max(MIN_WIDTH))
}

/// Columns `s` takes on a terminal: characters outside ANSI escape sequences.
pub fn visible_width(s: &str) -> usize {
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            skip_escape(&mut chars);
        } else {
            n += 1;
        }
    }
    n
}

/// Consumes the rest of an escape sequence after ESC (CSI: `[` params final-byte).
fn skip_escape(chars: &mut std::str::Chars<'_>) {
    if chars.clone().next() == Some('[') {
        chars.next();
        for c in chars.by_ref() {
            if ('\x40'..='\x7e').contains(&c) {
                break;
            }
        }
    } else {
        chars.next();
    }
}

/// `s` followed by spaces up to `width` visible columns (`{:<width}` that ignores colour).
pub fn pad(s: &str, width: usize) -> String {
    let n = visible_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

/// One line (no newline) as lines of at most `width` visible columns. Breaks at spaces;
/// continuation lines are indented by the line's own indent plus `extra`, capped at a third of
/// the width; a word longer than the room left is split across lines.
pub fn wrap_line(line: &str, width: usize, extra: usize) -> Vec<String> {
    let width = width.max(MIN_WIDTH);
    if visible_width(line) <= width {
        return vec![line.to_string()];
    }
    let lead = line.len() - line.trim_start_matches(' ').len();
    let cont = (lead + extra).min(width / 3);
    let mut out = Vec::new();
    let mut cur = " ".repeat(lead);
    let mut cur_w = lead;
    let mut at_start = true;
    for (is_space, seg) in segments(line.get(lead..).unwrap_or("")) {
        let seg_w = visible_width(seg);
        if is_space {
            if at_start {
                continue;
            }
            if cur_w + seg_w >= width {
                out.push(std::mem::take(&mut cur));
                cur = " ".repeat(cont);
                cur_w = cont;
                at_start = true;
            } else {
                cur.push_str(seg);
                cur_w += seg_w;
            }
            continue;
        }
        if cur_w + seg_w > width && !at_start {
            out.push(cur.trim_end().to_string());
            cur = " ".repeat(cont);
            cur_w = cont;
        }
        // A word wider than a whole line: split it by columns.
        let mut word = seg;
        while cur_w + visible_width(word) > width {
            let room = width.saturating_sub(cur_w);
            if room == 0 {
                // an indent as wide as the line: start a continuation line (narrower)
                out.push(std::mem::take(&mut cur));
                cur = " ".repeat(cont);
                cur_w = cont;
                continue;
            }
            let (head, tail) = split_at_columns(word, room);
            cur.push_str(head);
            out.push(std::mem::take(&mut cur));
            cur = " ".repeat(cont);
            cur_w = cont;
            word = tail;
        }
        cur.push_str(word);
        cur_w += visible_width(word);
        at_start = false;
    }
    let last = cur.trim_end();
    if !last.trim().is_empty() {
        out.push(last.to_string());
    }
    out
}

/// Runs of spaces and runs of other characters, in order: `(is_space, text)`.
fn segments(s: &str) -> Vec<(bool, &str)> {
    let mut v = Vec::new();
    let mut start = 0;
    let mut space = None;
    for (i, c) in s.char_indices() {
        let sp = c == ' ';
        match space {
            Some(prev) if prev != sp => {
                v.push((prev, s.get(start..i).unwrap_or("")));
                start = i;
            }
            _ => {}
        }
        space = Some(sp);
    }
    if let Some(sp) = space {
        v.push((sp, s.get(start..).unwrap_or("")));
    }
    v
}

/// The first `cols` visible columns of `s` (escape codes kept with them) and the rest.
fn split_at_columns(s: &str, cols: usize) -> (&str, &str) {
    let mut n = 0;
    // 0: text, 1: after ESC, 2: inside a CSI sequence
    let mut esc = 0u8;
    for (i, c) in s.char_indices() {
        match (esc, c) {
            (0, '\x1b') => esc = 1,
            (1, '[') => esc = 2,
            (1, _) => esc = 0,
            (2, c) if ('\x40'..='\x7e').contains(&c) => esc = 0,
            (2, _) => {}
            _ => {
                if n == cols {
                    return (s.get(..i).unwrap_or(s), s.get(i..).unwrap_or(""));
                }
                n += 1;
            }
        }
    }
    (s, "")
}

/// A writer that wraps each complete line written through it at `width` columns.
pub struct Wrap<W: Write> {
    inner: W,
    width: usize,
    buf: Vec<u8>,
}

impl<W: Write> Wrap<W> {
    pub fn new(inner: W, width: usize) -> Self {
        Wrap {
            inner,
            width,
            buf: Vec::new(),
        }
    }

    fn emit(&mut self, line: &[u8]) -> io::Result<()> {
        match std::str::from_utf8(line) {
            Ok(text) => {
                for l in wrap_line(text, self.width, 4) {
                    self.inner.write_all(l.as_bytes())?;
                    self.inner.write_all(b"\n")?;
                }
                Ok(())
            }
            Err(_) => {
                self.inner.write_all(line)?;
                self.inner.write_all(b"\n")
            }
        }
    }
}

impl<W: Write> Write for Wrap<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            self.emit(line.get(..nl).unwrap_or(&[]))?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.inner.write_all(&rest)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Wrap<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_codes_take_no_columns() {
        assert_eq!(visible_width("\x1b[2mhost:\x1b[0m"), 5);
        assert_eq!(pad("\x1b[2mhost:\x1b[0m", 8), "\x1b[2mhost:\x1b[0m   ");
    }

    #[test]
    fn long_lines_wrap_without_losing_a_character() {
        let line = format!("  x224      ok  {} {}", "word ".repeat(40), "y".repeat(150));
        let out = wrap_line(&line, 80, 4);
        assert!(out.len() > 2);
        for l in &out {
            assert!(visible_width(l) <= 80, "{l}");
        }
        let joined: String = out.concat().split_whitespace().collect();
        let want: String = line.split_whitespace().collect();
        assert_eq!(joined, want, "nothing cut");
        assert!(out.iter().skip(1).all(|l| l.starts_with("      ")));
    }

    #[test]
    fn short_lines_and_colours_pass_through() {
        assert_eq!(wrap_line("  ok", 80, 4), vec!["  ok".to_string()]);
        let coloured = format!("\x1b[31m{}\x1b[0m", "a ".repeat(60));
        for l in wrap_line(&coloured, 40, 2) {
            assert!(visible_width(&l) <= 40);
        }
    }

    #[test]
    fn the_writer_wraps_complete_lines() {
        let mut out = Vec::new();
        {
            let mut w = Wrap::new(&mut out, 20);
            write!(w, "one two three four five six seven\nshort").expect("write");
        }
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(text, "one two three four\n    five six seven\nshort");
    }

    #[test]
    fn columns_falls_back_to_80() {
        assert_eq!(columns_env(None), 80);
        assert_eq!(columns_env(Some("x")), 80);
        assert_eq!(columns_env(Some("132")), 132);
    }
}
