//! Running the collector: `powershell.exe -NoProfile -NonInteractive -EncodedCommand <script>`
//! on Windows. The script is compiled in (`collect.ps1`) and passed base64-encoded UTF-16LE,
//! as `-EncodedCommand` expects, so no quoting and no script file on disk are involved.
//! [`run_collector`] is plain process handling (time-out, bounded output) and is tested on
//! every OS; only [`collect`] is Windows-specific.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The read-only collector script (documented in docs/windows.md).
pub const SCRIPT: &str = include_str!("collect.ps1");

/// Runs the collector script with Windows PowerShell and returns what it printed.
#[cfg(windows)]
pub fn collect(timeout: Duration) -> Result<String, String> {
    // The full path: a powershell.exe planted in the current directory or early in PATH must
    // not run in an elevated prompt.
    let ps = match std::env::var_os("SystemRoot") {
        Some(root) => std::path::PathBuf::from(root)
            .join("System32")
            .join("WindowsPowerShell")
            .join("v1.0")
            .join("powershell.exe")
            .into_os_string(),
        None => OsString::from("powershell.exe"),
    };
    let args: Vec<OsString> = [
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-EncodedCommand",
    ]
    .iter()
    .map(OsString::from)
    .chain(std::iter::once(OsString::from(encoded_command(SCRIPT))))
    .collect();
    run_collector(&ps, &args, timeout)
}

/// Elsewhere there is no Windows server configuration to read.
#[cfg(not(windows))]
pub fn collect(_timeout: Duration) -> Result<String, String> {
    Err(super::UNSUPPORTED.to_string())
}

/// Output above this is not the collector's (a few KB normally, ~1 KB per certificate).
pub const MAX_OUTPUT: usize = super::parse::MAX_INPUT;
const MAX_STDERR: usize = 16 << 10;

/// Runs `program args`, waits at most `timeout`, and returns its standard output as text.
/// A non-zero exit, a time-out, or too much output is an error that quotes the program's
/// first line of standard error.
pub fn run_collector(
    program: &OsStr,
    args: &[OsString],
    timeout: Duration,
) -> Result<String, String> {
    // The file name only: messages are escaped for the terminal, which doubles every
    // backslash of a Windows path.
    let name = std::path::Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_capped(stdout, MAX_OUTPUT));
    let err_reader = std::thread::spawn(move || read_capped(stderr, MAX_STDERR));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{name} did not finish within {} s",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {name}: {e}")),
        }
    };
    let (out, truncated) = out_reader
        .join()
        .map_err(|_| format!("reading the output of {name} failed"))?;
    let (err, _) = err_reader.join().unwrap_or_default();
    let first_err_line = String::from_utf8_lossy(&err)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| format!(": {}", crate::sanitize::escape(l)))
        .unwrap_or_default();
    if !status.success() {
        return Err(format!("{name} failed ({status}){first_err_line}"));
    }
    if truncated {
        return Err(format!(
            "{name} printed more than {MAX_OUTPUT} bytes; that is not the collector's output"
        ));
    }
    if out.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("{name} printed nothing{first_err_line}"));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Reads to the end, keeping at most `cap` bytes (the rest is drained so the child never
/// blocks on a full pipe). Returns the bytes and whether any were dropped.
fn read_capped<R: Read>(r: Option<R>, cap: usize) -> (Vec<u8>, bool) {
    let Some(mut r) = r else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                let room = cap.saturating_sub(kept.len());
                if chunk.len() > room {
                    truncated = true;
                }
                kept.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            }
        }
    }
    (kept, truncated)
}

/// `-EncodedCommand`'s argument: the script as UTF-16LE, base64-encoded (RFC 4648 §4).
pub fn encoded_command(script: &str) -> String {
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64(&bytes)
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| char::from(ALPHABET.get((v & 63) as usize).copied().unwrap_or(b'='));
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_test_vectors() {
        // RFC 4648 §10.
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn encoded_command_is_utf16le_base64() {
        // "dir" = 64 00 69 00 72 00
        assert_eq!(encoded_command("dir"), "ZABpAHIA");
        // Windows caps a command line at 32767 characters; the script must stay well below.
        let n = encoded_command(SCRIPT).len();
        assert!(n < 30_000, "encoded script is {n} characters");
    }

    #[test]
    fn the_script_reads_every_source_the_parser_expects() {
        for key in [
            "rdp-doctor/local/v1",
            "fDenyTSConnections",
            "SecurityLayer",
            "UserAuthentication",
            "PortNumber",
            "MinEncryptionLevel",
            "SSLCertificateSHA1Hash",
            "AllowEncryptionOracle",
            "Win32_TSGeneralSetting",
            "Cert:\\LocalMachine\\$store",
            "'Remote Desktop', 'My'",
            "RemoteDesktop-UserMode-In-TCP",
            "RemoteDesktop-UserMode-In-UDP",
            "TermService",
            "ConvertTo-Json",
        ] {
            assert!(SCRIPT.contains(key), "collect.ps1 does not mention {key}");
        }
        // Read-only: no cmdlet that changes the system.
        for verb in [
            "Set-", "New-Item", "Remove-", "Stop-", "Start-", "Restart-", "Enable-", "Disable-",
        ] {
            assert!(!SCRIPT.contains(verb), "collect.ps1 must not use {verb}");
        }
    }

    #[cfg(unix)]
    fn sh(script: &str) -> (OsString, Vec<OsString>) {
        ("sh".into(), vec!["-c".into(), script.into()])
    }

    #[cfg(windows)]
    fn sh(script: &str) -> (OsString, Vec<OsString>) {
        ("cmd.exe".into(), vec!["/c".into(), script.into()])
    }

    #[test]
    fn run_collector_returns_stdout() {
        let (p, a) = sh("echo hello-collector");
        let out = run_collector(&p, &a, Duration::from_secs(20)).expect("runs");
        assert!(out.contains("hello-collector"), "{out:?}");
    }

    #[test]
    fn run_collector_reports_failures() {
        let (p, a) = sh("echo oops 1>&2 && exit 3");
        let e = run_collector(&p, &a, Duration::from_secs(20)).unwrap_err();
        assert!(e.contains("failed") && e.contains("oops"), "{e}");
        let (p, a) = sh("exit 0");
        let e = run_collector(&p, &a, Duration::from_secs(20)).unwrap_err();
        assert!(e.contains("printed nothing"), "{e}");
        let e = run_collector(
            OsStr::new("rdp-doctor-no-such-program"),
            &[],
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(e.starts_with("cannot start"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn run_collector_times_out() {
        let (p, a) = sh("sleep 5");
        let t = Instant::now();
        let e = run_collector(&p, &a, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn read_capped_drains_and_flags() {
        let data = vec![b'x'; 20_000];
        let (kept, cut) = read_capped(Some(&data[..]), 100);
        assert_eq!(kept.len(), 100);
        assert!(cut);
        let (kept, cut) = read_capped(Some(&data[..]), 20_000);
        assert_eq!(kept.len(), 20_000);
        assert!(!cut);
    }
}
