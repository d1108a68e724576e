//! Text helpers shared by the file readers: decoding what Windows tools write, and shortening
//! for display.

/// Text as Windows tools write it: UTF-16LE with BOM (mstsc, PowerShell 5.1 `Out-File`),
/// UTF-16BE with BOM, UTF-8 with or without BOM. A UTF-16LE file without BOM is recognised by
/// its zero high bytes. Invalid sequences become U+FFFD; never fails.
pub fn decode_text(bytes: &[u8]) -> (String, &'static str) {
    fn utf16(bytes: &[u8], le: bool) -> String {
        let units = bytes.chunks_exact(2).map(|c| match c {
            [a, b] if le => u16::from_le_bytes([*a, *b]),
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0xFFFD,
        });
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
    match bytes {
        [0xFF, 0xFE, rest @ ..] => (utf16(rest, true), "utf-16le"),
        [0xFE, 0xFF, rest @ ..] => (utf16(rest, false), "utf-16be"),
        [0xEF, 0xBB, 0xBF, rest @ ..] => (String::from_utf8_lossy(rest).into_owned(), "utf-8"),
        _ => {
            // No BOM: UTF-16LE text has a zero byte in (nearly) every odd position.
            let sample = bytes.get(..bytes.len().min(512)).unwrap_or(bytes);
            let pairs = sample.len() / 2;
            let zero_high = sample
                .chunks_exact(2)
                .filter(|c| c.get(1) == Some(&0))
                .count();
            if pairs >= 2 && zero_high * 10 >= pairs * 9 {
                (utf16(bytes, true), "utf-16le")
            } else {
                (String::from_utf8_lossy(bytes).into_owned(), "utf-8")
            }
        }
    }
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        s.chars().take(max).collect::<String>() + "..."
    } else {
        s.to_string()
    }
}
