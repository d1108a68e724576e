//! Temporary directories without an extra crate.
//!
//! Layout: `$RDP_DOCTOR_TEST_TMP` (default `$TMPDIR/rdp-doctor-tests`) / `p<pid>-<starttime>` /
//! `<name>-<n>`. A [`TempDir`] is removed on drop; set `RDP_DOCTOR_KEEP_TMP=1` to keep them for
//! debugging. Directories of test processes that are gone (e.g. the per-process certificate
//! directory, which lives in a static) are removed by the next test process.

use super::process::{owner_alive, owner_token};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The root of all harness temp dirs.
pub fn base_dir() -> PathBuf {
    std::env::var_os("RDP_DOCTOR_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("rdp-doctor-tests"))
}

/// This test process's directory (created once; stale siblings removed once).
pub fn process_dir() -> Result<&'static Path, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = base_dir();
        fs::create_dir_all(&base).map_err(|e| format!("mkdir {}: {e}", base.display()))?;
        if let Ok(entries) = fs::read_dir(&base) {
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(token) = name.to_str().and_then(|n| n.strip_prefix('p')) else {
                    continue;
                };
                let token = token.replacen('-', ":", 1);
                if token != owner_token() && !owner_alive(&token) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("p{}", owner_token().replacen(':', "-", 1)));
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        Ok(dir)
    })
    .as_deref()
    .map_err(Clone::clone)
}

/// A directory removed (recursively) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<process dir>/<name>-<n>`.
    pub fn new(name: &str) -> Result<Self, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = process_dir()?.join(format!("{name}-{n}"));
        fs::create_dir_all(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Writes `contents` to `rel` inside the directory.
    pub fn write(&self, rel: &str, contents: &[u8]) -> Result<PathBuf, String> {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
        }
        fs::write(&p, contents).map_err(|e| format!("write {}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("RDP_DOCTOR_KEEP_TMP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
