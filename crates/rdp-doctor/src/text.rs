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

/// Reads a whole file of a bounded kind: at most `cap` bytes, else an error that names the
/// cap and the kind (issue 15: `--ca /dev/zero` grew ~1 GiB/s; `--config /dev/zero` parsed
/// 1 MiB of NULs). `kind` reads in a sentence: "CA certificate file".
pub fn read_capped(path: &std::path::Path, cap: u64, kind: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let name = crate::sanitize::escape(&truncate(&path.display().to_string(), 200));
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read the {kind} {name}: {e}"))?;
    let mut buf = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read the {kind} {name}: {e}"))?;
    if buf.len() as u64 > cap {
        return Err(format!(
            "the {kind} {name} is larger than {}, the limit for a {kind}",
            human_size(cap)
        ));
    }
    Ok(buf)
}

/// `4 MiB`, `64 KiB`, `512 bytes`.
pub fn human_size(n: u64) -> String {
    if n >= 1024 * 1024 && n % (1024 * 1024) == 0 {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n % 1024 == 0 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod capped_tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn dev_zero_stops_at_the_cap_with_the_cap_named() {
        let t0 = std::time::Instant::now();
        let e = read_capped(std::path::Path::new("/dev/zero"), 4096, "password file")
            .expect_err("too large");
        assert_eq!(
            e,
            "the password file /dev/zero is larger than 4 KiB, the limit for a password file"
        );
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(human_size(1024 * 1024), "1 MiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }
}
