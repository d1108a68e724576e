//! Escaping of untrusted text (server-supplied names, banners, log fields) before it reaches a
//! terminal: control characters, ANSI escapes and bidi overrides are shown, not executed.

/// Escapes `s` for display: printable characters pass, everything else becomes `\xNN` /
/// `\u{NNNN}`. Newlines and tabs are escaped too, so one value stays on one line. A backslash
/// stays as it is (Windows paths and DOMAIN\user must read naturally); a literal `\x1b` in
/// the input is then indistinguishable from an escaped ESC, which is harmless: no control
/// character reaches the terminal either way.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            // C1 controls, bidi controls, line/paragraph separators and other invisible
            // formatting characters
            c if ('\u{80}'..='\u{9f}').contains(&c)
                || ('\u{200b}'..='\u{200f}').contains(&c)
                || ('\u{2028}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || c == '\u{61c}'
                || c == '\u{feff}' =>
            {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// A printable preview of raw bytes (lossy UTF-8, escaped, at most `max` characters).
pub fn preview_bytes(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s = escape(&text);
    if s.chars().count() > max {
        s = s.chars().take(max).collect::<String>() + "...";
    }
    s
}

/// Lowercase hex of up to `max` bytes.
pub fn hex(bytes: &[u8], max: usize) -> String {
    let mut s = String::with_capacity(bytes.len().min(max) * 2);
    for b in bytes.iter().take(max) {
        s.push_str(&format!("{b:02x}"));
    }
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}

/// Whether `c` is a character JSON output writes as `\uXXXX` beyond what JSON itself requires:
/// DEL and the C1 controls (U+007F..U+009F, U+009B is a CSI for some terminals), bidi overrides, embeddings
/// and isolates, zero-width and direction marks, the BOM, and U+2028/U+2029 (line terminators
/// in JavaScript before ES2019). Valid JSON either way; escaped, a terminal or a log viewer
/// showing the raw document cannot be fooled by a server string.
pub fn json_escapes(c: char) -> bool {
    ('\u{7f}'..='\u{9f}').contains(&c)
        || ('\u{200b}'..='\u{200f}').contains(&c)
        || ('\u{2028}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || c == '\u{61c}'
        || c == '\u{feff}'
}

/// A `serde_json` formatter that escapes [`json_escapes`] characters as `\uXXXX` (serde_json
/// itself escapes only C0 controls, `"` and `\`). Every JSON document the tool writes goes
/// through [`to_writer`] or [`to_writer_pretty`].
pub struct SafeJson<F>(pub F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeJson<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if json_escapes(c) {
                writer.write_all(fragment.as_bytes().get(start..i).unwrap_or_default())?;
                writer.write_all(format!("\\u{:04x}", c as u32).as_bytes())?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(fragment.as_bytes().get(start..).unwrap_or_default())
    }

    // serde_json's Formatter methods are default-implemented over a fixed formatting; the
    // pretty printer's state lives in its own methods, so every one of them is forwarded.
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// `serde_json::to_writer` with [`SafeJson`] escaping: one line.
pub fn to_writer<W: std::io::Write, T: ?Sized + serde::Serialize>(
    w: W,
    value: &T,
) -> std::io::Result<()> {
    let mut ser =
        serde_json::Serializer::with_formatter(w, SafeJson(serde_json::ser::CompactFormatter));
    value.serialize(&mut ser).map_err(std::io::Error::other)
}

/// `serde_json::to_writer_pretty` with [`SafeJson`] escaping.
pub fn to_writer_pretty<W: std::io::Write, T: ?Sized + serde::Serialize>(
    w: W,
    value: &T,
) -> std::io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        w,
        SafeJson(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut ser).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(escape("x\ny"), "x\\x0ay");
        assert_eq!(escape("\u{202e}gnp.exe"), "\\u{202e}gnp.exe");
        assert_eq!(escape("héllo"), "héllo");
        assert_eq!(escape("C:\\ProgramData\\x"), "C:\\ProgramData\\x");
        assert_eq!(escape("\u{9b}"), "\\u{009b}");
    }

    #[test]
    fn previews_are_bounded() {
        assert_eq!(
            preview_bytes(b"HTTP/1.1 400\r\n", 100),
            "HTTP/1.1 400\\x0d\\x0a"
        );
        assert_eq!(preview_bytes(&[b'a'; 50], 10), "aaaaaaaaaa...");
        assert_eq!(hex(&[1, 2, 3], 2), "0102...");
    }

    #[test]
    fn json_escapes_c1_and_bidi_and_round_trips() {
        let original = "CN=a\u{9b}31m\u{202e}gnp\u{2028}\u{2066}x\u{7f}\u{1b}é\u{200e}";
        for pretty in [false, true] {
            let mut out = Vec::new();
            if pretty {
                to_writer_pretty(&mut out, &[original]).unwrap();
            } else {
                to_writer(&mut out, &[original]).unwrap();
            }
            let text = String::from_utf8(out.clone()).unwrap();
            for esc in [
                "\\u009b", "\\u202e", "\\u2028", "\\u2066", "\\u001b", "\\u200e",
            ] {
                assert!(text.contains(esc), "{esc} missing in {text}");
            }
            assert!(!text.chars().any(json_escapes), "raw character in {text}");
            assert!(text.contains('é'), "ordinary non-ASCII stays as it is");
            assert_eq!(pretty, text.contains('\n'), "formatting kept");
            let back: Vec<String> = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, [original]);
        }
    }
}
