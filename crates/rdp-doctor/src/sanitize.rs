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
            // C1 controls, bidi controls and other invisible formatting characters
            c if ('\u{80}'..='\u{9f}').contains(&c)
                || ('\u{200b}'..='\u{200f}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
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
}
