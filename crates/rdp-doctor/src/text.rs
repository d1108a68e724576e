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

/// [`decode_text`] as a stream: UTF-8 out of a reader of any encoding `decode_text` knows,
/// decided from the first 512 bytes (or fewer, at the end of the input), the BOM dropped.
/// Invalid sequences become U+FFFD, as in `decode_text`; memory is a few buffers.
pub struct Utf8Reader<R> {
    inner: R,
    enc: Encoding,
    /// Input bytes not decoded yet (a sequence cut by a read).
    raw: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    eof: bool,
    /// At the start of the text: leading U+FEFF are dropped.
    start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

const CHUNK: usize = 64 * 1024;

impl<R: std::io::Read> Utf8Reader<R> {
    /// Reads the first bytes to decide the encoding.
    pub fn new(mut inner: R) -> std::io::Result<Utf8Reader<R>> {
        let mut head = vec![0u8; 512];
        let mut n = 0;
        while n < head.len() {
            match inner.read(head.get_mut(n..).unwrap_or(&mut [])) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        head.truncate(n);
        let eof = n < 512;
        let (enc, bom) = match head.as_slice() {
            [0xFF, 0xFE, ..] => (Encoding::Utf16Le, 2),
            [0xFE, 0xFF, ..] => (Encoding::Utf16Be, 2),
            [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8, 3),
            sample => {
                let pairs = sample.len() / 2;
                let zero_high = sample
                    .chunks_exact(2)
                    .filter(|c| c.get(1) == Some(&0))
                    .count();
                if pairs >= 2 && zero_high * 10 >= pairs * 9 {
                    (Encoding::Utf16Le, 0)
                } else {
                    (Encoding::Utf8, 0)
                }
            }
        };
        head.drain(..bom);
        let mut r = Utf8Reader {
            inner,
            enc,
            raw: head,
            out: Vec::new(),
            pos: 0,
            eof,
            start: true,
        };
        r.decode();
        Ok(r)
    }

    /// Moves what `raw` holds of whole characters into `out` (all of it at the end).
    fn decode(&mut self) {
        self.out.clear();
        self.pos = 0;
        match self.enc {
            Encoding::Utf8 => {
                let mut rest: &[u8] = &self.raw;
                loop {
                    match std::str::from_utf8(rest) {
                        Ok(s) => {
                            self.out.extend_from_slice(s.as_bytes());
                            rest = &[];
                            break;
                        }
                        Err(e) => {
                            let (good, bad) = rest.split_at(e.valid_up_to());
                            self.out.extend_from_slice(good);
                            match e.error_len() {
                                Some(len) => {
                                    self.out.extend_from_slice("\u{fffd}".as_bytes());
                                    rest = bad.get(len..).unwrap_or(&[]);
                                }
                                // A sequence cut at the end: wait for more, unless none comes.
                                None if !self.eof => {
                                    rest = bad;
                                    break;
                                }
                                None => {
                                    self.out.extend_from_slice("\u{fffd}".as_bytes());
                                    rest = &[];
                                    break;
                                }
                            }
                        }
                    }
                }
                let keep = rest.len();
                let from = self.raw.len() - keep;
                self.raw.drain(..from);
            }
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let le = self.enc == Encoding::Utf16Le;
                let mut units: Vec<u16> = self
                    .raw
                    .chunks_exact(2)
                    .map(|c| match c {
                        [a, b] if le => u16::from_le_bytes([*a, *b]),
                        [a, b] => u16::from_be_bytes([*a, *b]),
                        _ => 0xFFFD,
                    })
                    .collect();
                let mut used = units.len() * 2;
                // A high surrogate at the end may pair with the next read's first unit.
                if !self.eof && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
                    units.pop();
                    used -= 2;
                }
                let text: String = char::decode_utf16(units)
                    .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect();
                self.out.extend_from_slice(text.as_bytes());
                if self.eof {
                    // An odd last byte is dropped, as decode_text does.
                    self.raw.clear();
                } else {
                    self.raw.drain(..used);
                }
            }
        }
        if self.start {
            let mut skip = 0;
            while self.out.get(skip..skip + 3) == Some("\u{feff}".as_bytes()) {
                skip += 3;
            }
            self.pos = skip;
            if self.out.len() > skip {
                self.start = false;
            }
        }
    }
}

impl<R: std::io::Read> std::io::Read for Utf8Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.out.len() {
            if self.eof && self.raw.is_empty() {
                return Ok(0);
            }
            if !self.eof {
                let have = self.raw.len();
                self.raw.resize(have + CHUNK, 0);
                let n = loop {
                    match self.inner.read(self.raw.get_mut(have..).unwrap_or(&mut [])) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.raw.truncate(have);
                            return Err(e);
                        }
                    }
                };
                self.raw.truncate(have + n);
                if n == 0 {
                    self.eof = true;
                }
            }
            self.decode();
        }
        let avail = self.out.get(self.pos..).unwrap_or(&[]);
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

/// Fuzz oracle: [`Utf8Reader`] over any bytes, read in pieces of sizes taken from the bytes
/// themselves, gives valid UTF-8 equal to [`decode_text`] (the BOM dropped), never a panic.
pub fn fuzz_utf8_reader(data: &[u8]) {
    use std::io::Read;
    /// Hands out 1 to 8 bytes per read, the sizes cycling through the input's own bytes.
    struct Pieces<'a> {
        data: &'a [u8],
        at: usize,
        k: usize,
    }
    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let size = self
                .data
                .get(self.k % self.data.len().max(1))
                .map_or(1, |b| usize::from(b % 8) + 1);
            self.k += 1;
            let rest = self.data.get(self.at..).unwrap_or(&[]);
            let n = size.min(rest.len()).min(buf.len());
            if let (Some(d), Some(s)) = (buf.get_mut(..n), rest.get(..n)) {
                d.copy_from_slice(s);
            }
            self.at += n;
            Ok(n)
        }
    }
    let mut got = String::new();
    let read =
        Utf8Reader::new(Pieces { data, at: 0, k: 0 }).and_then(|mut r| r.read_to_string(&mut got));
    assert!(read.is_ok(), "valid UTF-8 out: {read:?}");
    let want = decode_text(data).0;
    assert_eq!(got, want.trim_start_matches('\u{feff}'));
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

    /// The streaming decoder gives what `decode_text` gives, BOM dropped, whatever the reads'
    /// sizes (here one byte per read, so every sequence is cut somewhere).
    #[test]
    fn utf8_reader_matches_decode_text() {
        struct Drip<'a>(&'a [u8]);
        impl std::io::Read for Drip<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((b, rest)), Some(d)) => {
                        *d = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let text = "[{\"Id\":4625,\"n\":\"h\u{e9}llo \u{1f600} \u{202e}x\"}]".repeat(40);
        let mut cases: Vec<Vec<u8>> = vec![
            text.as_bytes().to_vec(),
            [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat(),
            b"ab\xffc\xe2\x82".to_vec(),
            b"\xe2\x82\xac\xe2".to_vec(),
            Vec::new(),
            b"\xff\xfe\x00\xd8a".to_vec(),
        ];
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        let mut le_nobom = Vec::new();
        for u in text.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
            be.extend_from_slice(&u.to_be_bytes());
            le_nobom.extend_from_slice(&u.to_le_bytes());
        }
        le.push(0x41); // an odd last byte
        cases.extend([le, be, le_nobom]);
        for bytes in cases {
            let want = decode_text(&bytes).0;
            let want = want.trim_start_matches('\u{feff}');
            let mut got = String::new();
            use std::io::Read;
            Utf8Reader::new(Drip(&bytes))
                .expect("reads")
                .read_to_string(&mut got)
                .expect("valid UTF-8 out");
            assert_eq!(got, want, "{bytes:?}");
        }
    }
}
