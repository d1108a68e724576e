//! Small helpers the command-line entry points share: the exit-3 error line, validated
//! durations, and the async runtime.

use crate::model::Exit;
use std::time::Duration;

/// Prints `rdp-doctor: MSG` on stderr and returns [`Exit::Unknown`] ("could not run").
pub fn fail(msg: &str) -> Exit {
    eprintln!("rdp-doctor: {msg}");
    Exit::Unknown
}

/// A duration option in seconds, in (0, 3600]; `name` is the option as typed (`--timeout`).
pub fn seconds(v: f64, name: &str) -> Result<Duration, String> {
    if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
        return Err(format!(
            "{name} must be more than 0 and at most 3600 seconds (got {v})"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
