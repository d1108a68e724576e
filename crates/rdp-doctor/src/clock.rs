//! The wall clock, read in one place. Only the runner (`probe`), the lab and the commands call
//! it; rules and codecs get the time as a value.

/// The current Unix time in seconds (0 if the system clock is before 1970).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The current Unix time in microseconds (Kerberos timestamps and the KDC clock comparison).
pub fn now_unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
