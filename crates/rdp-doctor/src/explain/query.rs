//! Splitting what the admin pasted into code tokens and words, and reading each code token.
//!
//! Pure text processing: which table a number belongs to is decided in `super` with the code
//! tables at hand. Never panics, never allocates more than a bounded multiple of the input.

/// How a number was written; the tools that show codes have habits (mstsc hex with `0x`, event
/// IDs decimal, NTSTATUS `0xC...`), so the form ranks the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `0x904`, `0X0904`, `904h`, or bare hex digits with a letter (`C000006D`).
    Hex,
    /// `2308`
    Decimal,
    /// `-1073741715`: a signed 32-bit rendering (NTSTATUS / HRESULT as int).
    NegDecimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Number {
        value: u32,
        form: Form,
    },
    /// A name as typed (`ERRINFO_SERVER_DENIED_CONNECTION`, `handshake_failure`).
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A code, possibly with a `prefix:` selector (lower-cased, not yet validated).
    Code {
        text: String,
        selector: Option<String>,
        value: Value,
    },
    /// Looks like a code but cannot be one (bad digits, too large, control characters).
    Invalid { text: String, message: String },
    /// Anything else: a context word ("extended", "status"), a name to try, or prose.
    Word { text: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub piece: Piece,
    /// Tokens written as one `a/b` compound (e.g. `4625/0xC000006E`) share a group number.
    pub group: Option<usize>,
}

/// Longest token read as a code; longer ones are reported, not parsed.
pub const MAX_TOKEN_CHARS: usize = 80;

const OPENERS: &[char] = &['(', '[', '{', '<', '"', '\'', '`'];
const CLOSERS: &[char] = &[
    ')', ']', '}', '>', '"', '\'', '`', '.', ',', ';', ':', '!', '?',
];

/// At most this many tokens are read; the rest of a huge paste is left out (and said so).
pub const MAX_TOKENS: usize = 4096;

/// Splits the queries into tokens. All queries are read as one text, so `Error code 0x904,
/// Extended error code 0x7` gives the same result quoted or not. The flag says whether the
/// input was cut at [`MAX_TOKENS`].
pub fn tokenize(queries: &[String]) -> (Vec<Token>, bool) {
    let mut out = Vec::new();
    let mut group = 0usize;
    for q in queries {
        for raw in q.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '=' | '|')) {
            if out.len() >= MAX_TOKENS {
                return (out, true);
            }
            let t = raw.trim_start_matches(OPENERS).trim_end_matches(CLOSERS);
            let t = t.trim_start_matches(OPENERS);
            if t.is_empty() {
                continue;
            }
            if let Some(parts) = split_compound(t) {
                for p in parts {
                    out.push(Token {
                        piece: p,
                        group: Some(group),
                    });
                }
                group += 1;
            } else {
                out.push(Token {
                    piece: parse_token(t),
                    group: None,
                });
            }
        }
    }
    (out, false)
}

/// `4625/0xC000006E` -> two codes read together; anything else with a `/` (`TCP/IP`, a path,
/// a URL) is not a compound.
fn split_compound(t: &str) -> Option<Vec<Piece>> {
    if !t.contains('/') || t.contains("//") || t.chars().count() > MAX_TOKEN_CHARS {
        return None;
    }
    let parts: Vec<Piece> = t
        .split('/')
        .filter(|p| !p.is_empty())
        .map(parse_token)
        .collect();
    // Every part must be clearly a code: a number, a `prefix:` code or an identifier with `_`
    // ("TCP/IP" and "and/or" are prose).
    let clear = |p: &Piece| match p {
        Piece::Code {
            selector: Some(_), ..
        }
        | Piece::Code {
            value: Value::Number { .. },
            ..
        } => true,
        Piece::Code {
            value: Value::Name(n),
            ..
        } => n.contains('_'),
        _ => false,
    };
    (parts.len() >= 2 && parts.iter().all(clear)).then_some(parts)
}

/// Reads one token (already stripped of surrounding punctuation).
pub fn parse_token(t: &str) -> Piece {
    let text = t.to_string();
    if t.chars().any(char::is_control) {
        return Piece::Invalid {
            text,
            message: "contains control characters; a code never does".into(),
        };
    }
    let n = t.chars().count();
    if n > MAX_TOKEN_CHARS {
        return Piece::Invalid {
            text,
            message: format!(
                "is {n} characters long; no code or code name is longer than {MAX_TOKEN_CHARS}"
            ),
        };
    }
    if let Some((prefix, rest)) = t.split_once(':') {
        let selector_like = prefix.len() >= 2
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-');
        if selector_like {
            return match parse_value(rest) {
                Some(Ok(value)) => Piece::Code {
                    text,
                    selector: Some(prefix.to_ascii_lowercase()),
                    value,
                },
                Some(Err(message)) => Piece::Invalid { text, message },
                // "https://...", "note:see", ...: prose.
                None => Piece::Word { text },
            };
        }
        return Piece::Word { text };
    }
    match parse_value(t) {
        Some(Ok(value)) => Piece::Code {
            text,
            selector: None,
            value,
        },
        Some(Err(message)) => Piece::Invalid { text, message },
        None => Piece::Word { text },
    }
}

/// `None`: not code-like at all (prose). `Some(Err)`: meant as a number but malformed.
pub fn parse_value(s: &str) -> Option<Result<Value, String>> {
    if s.is_empty() {
        return None;
    }
    let is_hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    let is_dec = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());

    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() {
            return Some(Err("'0x' is not followed by hexadecimal digits".into()));
        }
        if !is_hex(h) {
            return Some(Err(format!("'{s}' is not a hexadecimal number")));
        }
        return Some(hex_value(h));
    }
    if let Some(d) = s.strip_prefix('-') {
        if !is_dec(d) {
            return None;
        }
        let d = d.trim_start_matches('0');
        if d.len() > 10 {
            return Some(Err(too_large()));
        }
        let v: i64 = match d {
            "" => 0,
            d => match d.parse() {
                Ok(v) => v,
                Err(_) => return Some(Err(too_large())),
            },
        };
        if v > i64::from(i32::MAX) + 1 {
            return Some(Err(format!(
                "-{d} is below -2147483648, the smallest signed 32-bit code"
            )));
        }
        // Two's complement: -1073741715 is 0xC000006D.
        let bits = (0u32).wrapping_sub(v as u32);
        return Some(Ok(Value::Number {
            value: bits,
            form: Form::NegDecimal,
        }));
    }
    if is_dec(s) {
        let d = s.trim_start_matches('0');
        if d.len() > 10 {
            return Some(Err(too_large()));
        }
        return Some(match d {
            "" => Ok(Value::Number {
                value: 0,
                form: Form::Decimal,
            }),
            d => d
                .parse::<u32>()
                .map(|value| Value::Number {
                    value,
                    form: Form::Decimal,
                })
                .map_err(|_| too_large()),
        });
    }
    if let Some(h) = s.strip_suffix('h').or_else(|| s.strip_suffix('H')) {
        if is_hex(h) && h.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(hex_value(h));
        }
    }
    if is_hex(s)
        && s.len() >= 2
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars().any(|c| c.is_ascii_alphabetic())
    {
        return Some(hex_value(s));
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        // "21H2", "1.2", "10.0.0.1", "2nd": a version, an address or prose, not a code.
        return None;
    }
    // Parentheses for HRESULT_FROM_WIN32(ERROR_LOGON_FAILURE); names compare without them.
    if s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '(' | ')'))
    {
        return Some(Ok(Value::Name(s.to_string())));
    }
    None
}

fn too_large() -> String {
    "is larger than 32 bits; RDP, Windows and FreeRDP codes fit in 32 bits (0xFFFFFFFF)".into()
}

fn hex_value(h: &str) -> Result<Value, String> {
    let h = h.trim_start_matches('0');
    if h.len() > 8 {
        return Err(too_large());
    }
    if h.is_empty() {
        return Ok(Value::Number {
            value: 0,
            form: Form::Hex,
        });
    }
    u32::from_str_radix(h, 16)
        .map(|value| Value::Number {
            value,
            form: Form::Hex,
        })
        .map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Option<(u32, Form)> {
        match parse_value(s) {
            Some(Ok(Value::Number { value, form })) => Some((value, form)),
            _ => None,
        }
    }

    fn err(s: &str) -> String {
        match parse_value(s) {
            Some(Err(m)) => m,
            other => format!("(not an error: {other:?})"),
        }
    }

    #[test]
    fn numbers_in_every_written_form() {
        assert_eq!(num("0x904"), Some((0x904, Form::Hex)));
        assert_eq!(num("0X0904"), Some((0x904, Form::Hex)));
        assert_eq!(num("904h"), Some((0x904, Form::Hex)));
        assert_eq!(num("0C000006Dh"), Some((0xC000_006D, Form::Hex)));
        assert_eq!(num("C000006D"), Some((0xC000_006D, Form::Hex)));
        assert_eq!(num("2308"), Some((2308, Form::Decimal)));
        assert_eq!(num("0"), Some((0, Form::Decimal)));
        assert_eq!(num("0x0"), Some((0, Form::Hex)));
        assert_eq!(num("0x00000000FFFFFFFF"), Some((0xFFFF_FFFF, Form::Hex)));
        assert_eq!(num("4294967295"), Some((u32::MAX, Form::Decimal)));
        assert_eq!(num("-1073741715"), Some((0xC000_006D, Form::NegDecimal)));
        assert_eq!(num("-2147483648"), Some((0x8000_0000, Form::NegDecimal)));
        assert_eq!(num("-1"), Some((0xFFFF_FFFF, Form::NegDecimal)));
        assert_eq!(num("-0"), Some((0, Form::NegDecimal)));
    }

    #[test]
    fn malformed_numbers_say_why() {
        assert!(err("0x1FFFFFFFF").contains("32 bits"));
        assert!(err("4294967296").contains("32 bits"));
        assert!(err("99999999999999999999999999999999").contains("32 bits"));
        assert!(err("0x").contains("not followed"));
        assert!(err("0xZZ").contains("not a hexadecimal"));
        assert!(err("-2147483649").contains("below"));
        assert!(err("-99999999999999999999").contains("32 bits"));
    }

    #[test]
    fn names_words_and_prose() {
        assert_eq!(
            parse_value("ERRINFO_SERVER_DENIED_CONNECTION"),
            Some(Ok(Value::Name("ERRINFO_SERVER_DENIED_CONNECTION".into())))
        );
        assert_eq!(
            parse_value("dead"),
            Some(Ok(Value::Name("dead".into()))),
            "hex letters without a digit are a word"
        );
        assert_eq!(parse_value("1.2"), None);
        assert_eq!(parse_value("21H2"), None);
        assert_eq!(parse_value("12x"), None);
        assert_eq!(parse_value("10.0.0.1"), None);
        assert_eq!(parse_value("héllo"), None);
        assert_eq!(parse_value(""), None);
    }

    #[test]
    fn selectors_and_compounds() {
        let (toks, _) = tokenize(&["schannel:36870".into(), "4625/0xC000006E".into()]);
        assert_eq!(toks.len(), 3);
        assert_eq!(
            toks.first().map(|t| &t.piece),
            Some(&Piece::Code {
                text: "schannel:36870".into(),
                selector: Some("schannel".into()),
                value: Value::Number {
                    value: 36870,
                    form: Form::Decimal
                }
            })
        );
        assert_eq!(toks.get(1).and_then(|t| t.group), Some(0));
        assert_eq!(toks.get(2).and_then(|t| t.group), Some(0));
        // Not compounds: a path, a URL, prose.
        for s in [
            "TCP/IP",
            "and/or",
            "https://example.invalid/x",
            "C:\\Windows",
        ] {
            let (toks, _) = tokenize(&[s.into()]);
            assert!(toks.iter().all(|t| t.group.is_none()), "{s}: {toks:?}");
            assert_eq!(toks.len(), 1, "{s}");
        }
        assert_eq!(
            parse_token("https://example.invalid/x"),
            Piece::Word {
                text: "https://example.invalid/x".into()
            }
        );
        assert!(matches!(
            parse_token("schannel:0xZZ"),
            Piece::Invalid { .. }
        ));
    }

    #[test]
    fn pasted_dialog_text_splits_into_words_and_codes() {
        let (toks, _) = tokenize(&["Error code: 0x904, Extended error code: 0x7.".into()]);
        let numbers: Vec<&str> = toks
            .iter()
            .filter_map(|t| match &t.piece {
                Piece::Code {
                    text,
                    value: Value::Number { .. },
                    ..
                } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(numbers, ["0x904", "0x7"]);
        // Words come out as names to try; the caller decides hint, name or prose.
        let words: Vec<&str> = toks
            .iter()
            .filter_map(|t| match &t.piece {
                Piece::Code {
                    text,
                    value: Value::Name(_),
                    ..
                } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(words, ["Error", "code", "Extended", "error", "code"]);
        // FreeRDP log style: NAME [0x...]
        let (toks, _) = tokenize(&["ERRCONNECT_CONNECT_TRANSPORT_FAILED [0x0002000D]".into()]);
        assert_eq!(toks.len(), 2);
    }

    #[test]
    fn control_characters_and_huge_tokens_are_refused() {
        assert!(matches!(
            parse_token("0x9\u{1b}[31m04"),
            Piece::Invalid { .. }
        ));
        let long = "7".repeat(10_000);
        let piece = parse_token(&long);
        assert!(
            matches!(&piece, Piece::Invalid { message, .. } if message.contains("10000 characters")),
            "{piece:?}"
        );
        let long = "A".repeat(100_000);
        assert!(matches!(parse_token(&long), Piece::Invalid { .. }));
        let (toks, cut) = tokenize(&["x ".repeat(MAX_TOKENS + 10)]);
        assert!(cut);
        assert_eq!(toks.len(), MAX_TOKENS);
        let (_, cut) = tokenize(&["Status=0xC000006D".into()]);
        assert!(!cut);
    }
}
