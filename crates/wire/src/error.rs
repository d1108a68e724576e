//! The one error type of the codecs: which field was wrong, and how.

use std::fmt;

/// Why a decoder refused its input. Variants carry facts; prose for users lives in the
/// knowledge base of the main crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before `what` was complete.
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// `what` holds a value the specification does not allow here.
    Invalid { what: &'static str, value: u64 },
    /// A length field announces more than the codec accepts.
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "{what}: truncated (needed {needed} bytes, {available} available)"
            ),
            DecodeError::Invalid { what, value } => {
                write!(f, "{what}: invalid value {value} (0x{value:X})")
            }
            DecodeError::TooLarge { what, len, max } => {
                write!(f, "{what}: length {len} exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}
