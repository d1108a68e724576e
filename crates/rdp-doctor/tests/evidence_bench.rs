//! Throughput of the log reader on the sample .evtx files: `scripts/bench-logs.sh` runs this
//! with a release build (`cargo test --release -p rdp-doctor --test evidence_bench -- --ignored
//! --nocapture`). Ignored by default: timings on a shared CI machine are not assertions.

use rdp_doctor::evidence::{collect, LogsOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn samples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evidence/evtx");
    let mut files = Vec::new();
    for dir in ["EVTX-to-MITRE-Attack", "omerbenamram-evtx"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "evtx") {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
}

#[test]
#[ignore]
fn bench_logs_throughput() {
    let files = samples();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    // The same files listed `rounds` times: parallel across files, like a DFIR collection.
    let many: Vec<PathBuf> = (0..rounds).flat_map(|_| files.iter().cloned()).collect();
    for threads in [1usize, 0] {
        let opts = LogsOptions {
            threads,
            ..LogsOptions::default()
        };
        // Warm the page cache once.
        let _ = collect(&files, &opts);
        let t = Instant::now();
        let ev = collect(&many, &opts);
        let secs = t.elapsed().as_secs_f64();
        let mib = ev.totals.bytes as f64 / (1024.0 * 1024.0);
        println!(
            "threads={:<4} files={} records={} damaged={} matched={} bytes={:.1} MiB time={:.3} s => {:.0} records/s, {:.1} MiB/s",
            if threads == 0 { "auto".to_string() } else { threads.to_string() },
            many.len(),
            ev.totals.records,
            ev.totals.damaged,
            ev.totals.matched,
            mib,
            secs,
            ev.totals.records as f64 / secs,
            mib / secs
        );
        assert_eq!(ev.totals.records, 5055 * rounds as u64);
    }
    // One big file alone: the evtx crate's own chunk parallelism.
    let big: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains("RdpCoreTS"))
        .cloned()
        .collect();
    for threads in [1usize, 2] {
        let t = Instant::now();
        let mut n = 0;
        for _ in 0..rounds {
            n += collect(
                &big,
                &LogsOptions {
                    threads,
                    ..LogsOptions::default()
                },
            )
            .totals
            .records;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "single 1 MiB RdpCoreTS file, threads={threads}: {n} records in {secs:.3} s => {:.0} records/s",
            n as f64 / secs
        );
    }
}
