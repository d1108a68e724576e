//! Fuzz oracle for `explain`: the query text comes from whoever runs the command (or from a
//! script that pastes log lines), so its reader must never panic. A broken invariant panics on
//! purpose: that is how the fuzzer reports it.
#![allow(clippy::panic, clippy::expect_used)]

use super::{exit_code, explain, render_human, render_json, Status, MAX_ITEMS};

/// Reads `data` as queries (lossy UTF-8, NUL-separated), explains them, renders both forms and
/// checks: an exit code of 0, 1 or 3; at least one and at most [`MAX_ITEMS`] items; echoed
/// query text free of control characters; interpretations present exactly when decoded; no
/// escape sequence in plain output; the JSON parses back.
pub fn fuzz_explain(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let queries: Vec<String> = text.split('\0').map(str::to_string).collect();
    let ex = explain(&queries);
    assert!(exit_code(&ex) != crate::model::Exit::Critical);
    assert!(!ex.items.is_empty() && ex.items.len() <= MAX_ITEMS);
    for item in &ex.items {
        assert!(
            !item.query.chars().any(char::is_control),
            "unescaped query {:?}",
            item.query
        );
        let has = !item.interpretations.is_empty();
        match item.status {
            Status::Decoded | Status::Undocumented => assert!(has),
            Status::Unknown | Status::NotACode => assert!(!has),
        }
    }
    for w in &ex.ignored {
        assert!(!w.chars().any(char::is_control), "unescaped word {w:?}");
    }
    let mut plain = Vec::new();
    render_human(&ex, &mut plain, false).expect("rendering to memory");
    assert!(!plain.contains(&0x1b), "escape sequence in plain output");
    let mut json = Vec::new();
    render_json(&ex, &mut json).expect("rendering to memory");
    serde_json::from_slice::<serde_json::Value>(&json).expect("the JSON parses back");
}
