use super::*;

fn ex(qs: &[&str]) -> Explanation {
    explain(&qs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

fn names(item: &Item) -> Vec<&str> {
    item.interpretations
        .iter()
        .map(|i| i.name.as_str())
        .collect()
}

fn first_name(e: &Explanation) -> Option<&str> {
    e.items
        .first()
        .and_then(|i| i.interpretations.first())
        .map(|i| i.name.as_str())
}

fn human(e: &Explanation, color: bool) -> String {
    let mut out = Vec::new();
    render_human(e, &mut out, color).expect("rendering to a Vec cannot fail");
    String::from_utf8(out).expect("the renderer writes UTF-8")
}

#[test]
fn x904_in_every_written_form_is_socket_closed() {
    for q in [
        "0x904",
        "0X0904",
        "904h",
        "2308",
        "0x00000904",
        "disc:0x904",
        "AtClientWinsockFDCLOSE",
    ] {
        let e = ex(&[q]);
        assert_eq!(
            first_name(&e),
            Some("disconnectReasonAtClientWinsockFDCLOSE"),
            "{q}"
        );
        assert_eq!(exit_code(&e).code(), 0, "{q}");
    }
    let e = ex(&["0x904"]);
    let it = e.items.first().and_then(|i| i.interpretations.first());
    assert_eq!(it.map(|i| i.meaning.as_str()), Some("Socket closed."));
    assert_eq!(it.and_then(|i| i.phase), Some(CodePhase::Tls));
}

#[test]
fn x904_x7_is_the_certificate_private_key_story() {
    for qs in [
        vec!["0x904", "0x7"],
        vec!["Error code: 0x904, Extended error code: 0x7"],
        vec![
            "Error", "code:", "0x904,", "Extended", "error", "code:", "0x7",
        ],
        vec!["0x904/0x7"],
        vec!["2308", "7"],
    ] {
        let e = ex(&qs);
        assert_eq!(e.items.len(), 2, "{qs:?}");
        assert_eq!(e.combined.len(), 1, "{qs:?}");
        let c = e.combined.first().expect("one combined reading");
        assert_eq!(c.kind, CombinedKind::DisconnectExtended);
        assert_eq!(c.items, vec![0, 1]);
        assert_eq!(c.phase, Some(CodePhase::Tls));
        let text = format!("{} {}", c.meaning, c.causes.join(" "));
        assert!(text.contains("private key"), "{text}");
        assert!(
            text.contains("36870") && text.contains("MachineKeys"),
            "{text}"
        );
        assert!(text.contains("36871") && text.contains("36874"), "{text}");
        assert!(text.contains("FIPS") && text.contains("proxy"), "{text}");
        // Causes ranked as in rdp-knowledge.md §0: key, TLS versions, FIPS, middlebox.
        let pos = |needle: &str| c.causes.iter().position(|s| s.contains(needle));
        assert!(pos("private key") < pos("cipher suite"));
        assert!(pos("cipher suite") < pos("FIPS"));
        assert!(pos("FIPS") < pos("proxy"));
        let ids: Vec<&str> = c.findings.iter().map(|f| f.id.as_str()).collect();
        assert!(
            ids.contains(&"tls-handshake-failed") && ids.contains(&"server-has-no-certificate")
        );
        assert!(c
            .findings
            .iter()
            .all(|f| !f.title.contains("not in the finding catalogue")));
        assert!(c
            .fixes
            .first()
            .is_some_and(|f| f.contains("rdp-doctor check HOST")));
        // The extended code reads as the extended reason first.
        assert_eq!(
            e.items
                .get(1)
                .and_then(|i| i.interpretations.first())
                .map(|i| i.name.as_str()),
            Some("exDiscReasonServerDeniedConnection"),
            "{qs:?}"
        );
        assert_eq!(exit_code(&e).code(), 0);
    }
}

#[test]
fn x7_alone_lists_extended_reason_and_errinfo() {
    let e = ex(&["0x7"]);
    let item = e.items.first().expect("one item");
    let n = names(item);
    assert_eq!(n.first(), Some(&"exDiscReasonServerDeniedConnection"));
    assert!(n.contains(&"ERRINFO_SERVER_DENIED_CONNECTION"), "{n:?}");
    assert!(e.combined.is_empty());
    // Decimal 7 also finds the xfreerdp exit code, after the two.
    let e = ex(&["7"]);
    let n = names(e.items.first().expect("one item"));
    assert_eq!(
        n.get(..3),
        Some(
            &[
                "exDiscReasonServerDeniedConnection",
                "ERRINFO_SERVER_DENIED_CONNECTION",
                "XF_EXIT_CONN_DENIED"
            ][..]
        )
    );
    // By name, with and without prefix.
    for q in [
        "ERRINFO_SERVER_DENIED_CONNECTION",
        "errinfo_server_denied_connection",
        "SERVER_DENIED_CONNECTION",
    ] {
        let e = ex(&[q]);
        let n = names(e.items.first().expect("one item"));
        assert!(
            n.contains(&"ERRINFO_SERVER_DENIED_CONNECTION"),
            "{q}: {n:?}"
        );
    }
    let e = ex(&["SERVER_DENIED_CONNECTION"]);
    let n = names(e.items.first().expect("one item"));
    assert!(
        n.contains(&"exDiscReasonServerDeniedConnection"),
        "prefix-less matches both families: {n:?}"
    );
}

#[test]
fn ntstatus_and_sec_e() {
    for q in [
        "0xC000006D",
        "C000006D",
        "-1073741715",
        "3221225581",
        "STATUS_LOGON_FAILURE",
        "status:0xc000006d",
    ] {
        assert_eq!(first_name(&ex(&[q])), Some("STATUS_LOGON_FAILURE"), "{q}");
    }
    for q in [
        "SEC_E_UNKNOWN_CREDENTIALS",
        "sec_e_unknown_credentials",
        "UNKNOWN_CREDENTIALS",
        "0x8009030D",
    ] {
        let e = ex(&[q]);
        let it = e
            .items
            .first()
            .and_then(|i| i.interpretations.first())
            .expect("decoded");
        assert_eq!(it.name, "SEC_E_UNKNOWN_CREDENTIALS", "{q}");
        assert_eq!(it.code, 0x8009_030D);
        assert_eq!(it.key, "0x8009030D");
    }
}

#[test]
fn event_ids_with_and_without_provider() {
    for q in [
        "schannel:36870",
        "36870",
        "event:36870",
        "Schannel 36870",
        "SCHANNEL:36870",
    ] {
        let e = ex(&[q]);
        let it = e
            .items
            .first()
            .and_then(|i| i.interpretations.first())
            .expect("decoded");
        assert_eq!(it.key, "schannel:36870", "{q}");
        assert!(it.meaning.contains("private key"));
        assert_eq!(it.log.as_deref(), Some("System"));
    }
    for q in ["1058", "rcm:1058", "event:1058", "termservice:1058"] {
        let e = ex(&[q]);
        let it = e
            .items
            .first()
            .and_then(|i| i.interpretations.first())
            .expect("decoded");
        assert_eq!(it.key, "rcm:1058", "{q}");
        assert!(it.notes.iter().any(|n| n.contains("Sources disagree")));
    }
    // A provider prefix restricts: 36870 is not an RCM event.
    let e = ex(&["rcm:36870"]);
    let item = e.items.first().expect("one item");
    assert_eq!(item.status, Status::Unknown);
    assert!(
        item.did_you_mean
            .iter()
            .any(|d| d.starts_with("schannel:36870")),
        "{:?}",
        item.did_you_mean
    );
}

#[test]
fn freerdp_errconnect_and_class_codes() {
    for q in [
        "ERRCONNECT_CONNECT_TRANSPORT_FAILED",
        "0x0002000D",
        "0x2000D",
        "errconnect:0x2000d",
        "CONNECT_TRANSPORT_FAILED",
    ] {
        let e = ex(&[q]);
        let it = e
            .items
            .first()
            .and_then(|i| i.interpretations.first())
            .expect("decoded");
        assert_eq!(it.name, "ERRCONNECT_CONNECT_TRANSPORT_FAILED", "{q}");
        assert_eq!(it.code, 0x0002_000D);
    }
    // The FreeRDP log line: name and number are one item.
    let e = ex(&["ERRCONNECT_CONNECT_TRANSPORT_FAILED [0x0002000D]"]);
    assert_eq!(e.items.len(), 1);
    assert_eq!(
        e.items.first().map(|i| i.query.as_str()),
        Some("ERRCONNECT_CONNECT_TRANSPORT_FAILED [0x0002000D]")
    );
    // Class 1 is ERRINFO.
    let e = ex(&["0x00010007"]);
    let it = e
        .items
        .first()
        .and_then(|i| i.interpretations.first())
        .expect("decoded");
    assert_eq!(it.name, "ERRINFO_SERVER_DENIED_CONNECTION");
    assert_eq!(it.matched_by, MatchedBy::FreerdpClass);
    // xfreerdp exit codes.
    assert_eq!(
        first_name(&ex(&["exit:147"])),
        Some("XF_EXIT_CONNECT_TRANSPORT_FAILED")
    );
    assert_eq!(
        first_name(&ex(&["xfreerdp exit code 131"])),
        Some("XF_EXIT_CONN_FAILED")
    );
}

#[test]
fn unknown_codes_say_so_and_never_guess() {
    let e = ex(&["0x12345"]);
    let item = e.items.first().expect("one item");
    assert_eq!(item.status, Status::Unknown);
    assert!(item.interpretations.is_empty());
    assert!(item
        .message
        .as_deref()
        .is_some_and(|m| m.contains("does not guess")));
    assert_eq!(item.value, Some(0x12345));
    assert_eq!(exit_code(&e).code(), 1);
    // Documented structure, not a meaning.
    let e = ex(&["0xC0000001"]);
    let item = e.items.first().expect("one item");
    assert!(
        item.notes.iter().any(|n| n.contains("NTSTATUS")),
        "{:?}",
        item.notes
    );
    let e = ex(&["0x80070005"]);
    assert!(e
        .items
        .first()
        .is_some_and(|i| i.notes.iter().any(|n| n.contains("Win32 error 5"))));
    let e = ex(&["ext:0x1234"]);
    assert!(e
        .items
        .first()
        .is_some_and(|i| i.notes.iter().any(|n| n.contains("protocol-error range"))));
}

#[test]
fn digits_in_the_wrong_base_get_a_suggestion() {
    let e = ex(&["904"]);
    let item = e.items.first().expect("one item");
    assert_eq!(item.status, Status::Unknown);
    assert!(
        item.did_you_mean
            .iter()
            .any(|d| d.contains("disconnectReasonAtClientWinsockFDCLOSE")),
        "{:?}",
        item.did_you_mean
    );
    let e = ex(&["0x1058"]);
    let item = e.items.first().expect("one item");
    assert!(
        item.did_you_mean.iter().any(|d| d.starts_with("rcm:1058")),
        "{:?}",
        item.did_you_mean
    );
}

#[test]
fn name_typos_are_unknown_with_did_you_mean() {
    for (q, want) in [
        (
            "ERRINFO_SERVER_DENIED_CONECTION",
            "ERRINFO_SERVER_DENIED_CONNECTION",
        ),
        (
            "exDiscReasonServerDeniedConection",
            "exDiscReasonServerDeniedConnection",
        ),
        ("STATUS_LOGON_FAILUR", "STATUS_LOGON_FAILURE"),
        ("handshake_failur", "handshake_failure"),
    ] {
        let e = ex(&[q]);
        let item = e.items.first().expect("one item");
        assert_eq!(item.status, Status::Unknown, "{q}");
        assert!(
            item.did_you_mean.iter().any(|d| d == want),
            "{q}: {:?}",
            item.did_you_mean
        );
        assert_eq!(exit_code(&e).code(), 1);
    }
    // A family prefix with nonsense: unknown, not prose.
    let e = ex(&["ERRINFO_NO_SUCH_THING_AT_ALL"]);
    assert_eq!(e.items.first().map(|i| i.status), Some(Status::Unknown));
}

#[test]
fn not_a_code_is_exit_3_with_a_clear_message() {
    for (q, needle) in [
        ("hello", "No code found"),
        ("", "Nothing to explain"),
        ("0x1FFFFFFFF", "32 bits"),
        ("99999999999", "32 bits"),
        ("0xZZ", "not a hexadecimal"),
        ("schanel:36870", "unknown prefix"),
        ("0x9\u{1b}[2J04", "control characters"),
    ] {
        let e = ex(&[q]);
        let item = e.items.first().expect("one item");
        assert_eq!(item.status, Status::NotACode, "{q:?}");
        assert!(
            item.message.as_deref().is_some_and(|m| m.contains(needle)),
            "{q:?}: {:?}",
            item.message
        );
        assert_eq!(exit_code(&e).code(), 3, "{q:?}");
        let out = human(&e, false);
        assert!(
            !out.contains('\u{1b}'),
            "{q:?}: raw escape reached the terminal"
        );
    }
    let e = ex(&["schanel:36870"]);
    assert!(e
        .items
        .first()
        .is_some_and(|i| i.did_you_mean.iter().any(|d| d == "schannel:36870")));
    let e = ex(&[]);
    assert_eq!(exit_code(&e).code(), 3);
}

#[test]
fn exit_code_merges_the_worst_item() {
    assert_eq!(exit_code(&ex(&["0x904", "0xC000006D"])).code(), 0);
    assert_eq!(exit_code(&ex(&["0x904", "0x12345"])).code(), 1);
    assert_eq!(exit_code(&ex(&["0x904", "0x12345", "0xZZ"])).code(), 3);
    assert_eq!(
        exit_code(&ex(&["0x708"])).code(),
        1,
        "undocumented sighting only"
    );
    assert_eq!(
        ex(&["0x708"]).items.first().map(|i| i.status),
        Some(Status::Undocumented)
    );
}

#[test]
fn prose_around_codes_is_ignored_not_an_error() {
    let e = ex(&["The connection failed with 0x904 after TLS 1.2"]);
    assert_eq!(e.items.len(), 1);
    assert_eq!(exit_code(&e).code(), 0);
    assert!(
        e.ignored.iter().any(|w| w == "connection"),
        "{:?}",
        e.ignored
    );
}

#[test]
fn context_words_steer_the_ranking() {
    // Bare 40: the LocalSessionManager event first, the TLS alert listed too.
    let e = ex(&["40"]);
    let item = e.items.first().expect("one item");
    assert_eq!(
        item.interpretations.first().map(|i| i.key.as_str()),
        Some("lsm:40")
    );
    assert!(names(item).contains(&"handshake_failure"));
    for q in [
        vec!["alert:40"],
        vec!["alert", "40"],
        vec!["fatal alert code is 40"],
    ] {
        assert_eq!(first_name(&ex(&q)), Some("handshake_failure"), "{q:?}");
    }
    // Logon types only when asked.
    assert!(!names(ex(&["10"]).items.first().expect("item")).contains(&"RemoteInteractive"));
    for q in [
        vec!["Logon Type: 10"],
        vec!["logon:10"],
        vec!["logon:RemoteInteractive"],
    ] {
        assert_eq!(first_name(&ex(&q)), Some("RemoteInteractive"), "{q:?}");
    }
    // "Status" before a number that is also an event ID.
    assert_eq!(
        first_name(&ex(&["handshake_failure"])),
        Some("handshake_failure")
    );
    assert_eq!(
        ex(&["Extended error code 0x3"])
            .items
            .first()
            .and_then(|i| i.interpretations.first())
            .map(|i| i.table.as_str()),
        Some("extended-reason")
    );
    assert_eq!(
        ex(&["0x3"])
            .items
            .first()
            .and_then(|i| i.interpretations.first())
            .map(|i| i.table.as_str()),
        Some("disconnect-reason")
    );
}

#[test]
fn compound_event_and_status() {
    let e = ex(&["4625/0xC000006E"]);
    assert_eq!(e.items.len(), 2);
    assert_eq!(
        e.items
            .first()
            .and_then(|i| i.interpretations.first())
            .map(|i| i.key.as_str()),
        Some("security:4625")
    );
    assert_eq!(
        e.items
            .get(1)
            .and_then(|i| i.interpretations.first())
            .map(|i| i.name.as_str()),
        Some("STATUS_ACCOUNT_RESTRICTION")
    );
    let c = e.combined.first().expect("a combined reading");
    assert_eq!(c.kind, CombinedKind::Compound);
    assert_eq!(c.items, vec![0, 1]);
    assert!(c.notes.iter().any(|n| n.contains("a/b")));
}

#[test]
fn many_codes_are_capped() {
    let qs: Vec<String> = (0..200).map(|_| "0x904".to_string()).collect();
    let e = explain(&qs);
    assert_eq!(e.items.len(), MAX_ITEMS);
    assert!(
        e.notes.iter().any(|n| n.contains("136 more")),
        "{:?}",
        e.notes
    );
}

#[test]
fn every_entry_is_found_by_its_code_and_its_name() {
    let book = codebook();
    let mut checked = 0;
    for t in &book.tables {
        for e in &t.entries {
            let want = (t.meta.id.as_str(), e.code, e.provider.as_deref());
            let has = |x: &Explanation| {
                x.items.first().is_some_and(|i| {
                    i.interpretations.iter().any(|it| {
                        (
                            it.table.as_str(),
                            it.code,
                            e.provider
                                .as_ref()
                                .map(|_| it.key.split(':').next().unwrap_or("")),
                        ) == want
                    })
                })
            };
            let is_first = |x: &Explanation| {
                x.items
                    .first()
                    .and_then(|i| i.interpretations.first())
                    .is_some_and(|it| {
                        it.table == t.meta.id && it.code == e.code && it.name == e.name
                    })
            };
            // The canonical query selects exactly this entry.
            let q = t.canonical_query(e);
            assert!(is_first(&ex(&[&q])), "{q}");
            // Hex and decimal forms of the number find it too (bare tables).
            if t.meta.bare {
                for q in [format!("0x{:X}", e.code), e.code.to_string(), t.key(e)] {
                    assert!(has(&ex(&[&q])), "{} {}: {q}", t.file, e.name);
                }
            }
            // By name (identifiers only; event titles are descriptions, not names).
            if !e.name.contains(' ') {
                let q = if t.meta.bare {
                    e.name.clone()
                } else {
                    format!("{}:{}", tables::selector_for(&t.meta.id), e.name)
                };
                assert!(has(&ex(&[&q])), "{} by name {q}", t.file);
                for a in &e.aliases {
                    assert!(has(&ex(&[a])), "{} by alias {a}", t.file);
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "{checked}");
}

#[test]
fn json_has_the_documented_shape() {
    let e = ex(&["0x904", "0x7", "0x12345", "hello"]);
    let mut out = Vec::new();
    render_json(&e, &mut out).expect("json renders");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    let null = serde_json::Value::Null;
    let at = |p: &str| v.pointer(p).unwrap_or(&null);
    assert_eq!(at("/schema"), "rdp-doctor/explain/v1");
    assert_eq!(at("/items").as_array().map(Vec::len), Some(3));
    assert_eq!(at("/items/0/status"), "decoded");
    assert_eq!(at("/items/0/value"), 2308);
    assert_eq!(at("/items/0/value_hex"), "0x00000904");
    for key in [
        "table",
        "table_title",
        "key",
        "query",
        "code",
        "provider",
        "log",
        "name",
        "meaning",
        "source",
        "phase",
        "causes",
        "fixes",
        "findings",
        "notes",
        "undocumented",
        "matched_by",
    ] {
        assert!(
            v.pointer(&format!("/items/0/interpretations/0/{key}"))
                .is_some(),
            "interpretation lacks {key}"
        );
    }
    assert_eq!(at("/items/0/interpretations/0/phase"), "tls");
    assert_eq!(at("/items/0/interpretations/0/matched_by"), "number");
    assert_eq!(at("/items/0/interpretations/0/query"), "disc:0x904");
    assert_eq!(at("/items/2/status"), "unknown");
    assert!(at("/items/2/message")
        .as_str()
        .is_some_and(|m| m.contains("does not guess")));
    assert_eq!(at("/combined/0/kind"), "disconnect+extended");
    assert_eq!(at("/combined/0/items"), &serde_json::json!([0, 1]));
    assert!(at("/combined/0/findings").as_array().is_some_and(|f| f
        .iter()
        .any(|x| x.get("id").is_some_and(|id| id == "tls-handshake-failed"))));
    assert_eq!(at("/ignored"), &serde_json::json!(["hello"]));
    assert_eq!(at("/notes"), &serde_json::json!([]));
}

#[test]
fn human_text_tells_the_story_and_colours_only_when_asked() {
    let e = ex(&["0x904", "0x7"]);
    let plain = human(&e, false);
    for needle in [
        "Socket closed during security negotiation",
        "private key",
        "Likely causes, most likely first:",
        "rdp-doctor check HOST",
        "tls-handshake-failed",
        "server-has-no-certificate",
        "exDiscReasonServerDeniedConnection",
        "ERRINFO_SERVER_DENIED_CONNECTION",
    ] {
        assert!(plain.contains(needle), "missing {needle:?} in:\n{plain}");
    }
    assert!(!plain.contains('\u{1b}'));
    let colored = human(&e, true);
    assert!(colored.contains("\u{1b}["));
    // Unknown and not-a-code are marked.
    let out = human(&ex(&["0x12345", "0xZZ"]), false);
    assert!(
        out.contains("- unknown") && out.contains("- not a code"),
        "{out}"
    );
}

/// A writer that fails like a closed pipe, or with another error.
struct Failing(io::ErrorKind);

impl Write for Failing {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(self.0, "test"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn run_returns_the_exit_code_and_the_write_result() {
    let mut out = Vec::new();
    let (exit, w) = run(&["0x904".into(), "0x7".into()], false, false, &mut out);
    assert_eq!(exit.code(), 0);
    assert!(w.is_ok());
    assert!(String::from_utf8_lossy(&out).contains("Socket closed"));
    let mut out = Vec::new();
    assert_eq!(run(&["0x12345".into()], true, false, &mut out).0.code(), 1);
    assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    let (exit, w) = run(
        &["0x12345".into()],
        false,
        false,
        &mut Failing(io::ErrorKind::BrokenPipe),
    );
    assert_eq!(exit.code(), 1);
    assert_eq!(w.map_err(|e| e.kind()), Err(io::ErrorKind::BrokenPipe));
}

#[test]
fn hostile_input_never_panics() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let alphabet: Vec<char> = "0123456789abcdefxXhH_:/-,; \t\n[]()\u{1b}\u{202e}\u{0}éZ"
        .chars()
        .collect();
    for round in 0..300 {
        let len = (round * 7) % 90;
        let mut s = String::new();
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let k = (state % alphabet.len() as u64) as usize;
            s.push(alphabet.get(k).copied().unwrap_or('0'));
        }
        fuzz_explain(s.as_bytes());
    }
    fuzz_explain(&[0xff, 0xfe, 0x00, b'0', b'x']);
    fuzz_explain("0x904 ".repeat(10_000).as_bytes());
    fuzz_explain(&vec![b'9'; 1 << 16]);
}

#[test]
fn a_huge_paste_is_cut_and_stays_cheap() {
    // 100 000 long words: only the first MAX_TOKENS are read, few are checked for typos.
    let text = "connectionrefusedsomething ".repeat(100_000);
    let started = std::time::Instant::now();
    let e = explain(&[text]);
    assert!(
        e.notes.iter().any(|n| n.contains("rest was not read")),
        "{:?}",
        e.notes
    );
    assert_eq!(exit_code(&e).code(), 3);
    // Generous bound for an unoptimised build on a shared 2-core machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn gateway_hresults_are_named_as_freerdp_logs_them() {
    // FreeRDP logs "E_PROXY_RAP_ACCESSDENIED [0x800759DA]"; the name, the hex and the name
    // without its prefix all reach the RD Gateway table.
    for q in ["0x800759DA", "E_PROXY_RAP_ACCESSDENIED", "RAP_ACCESSDENIED"] {
        assert_eq!(
            first_name(&ex(&[q])),
            Some("E_PROXY_RAP_ACCESSDENIED"),
            "{q}"
        );
    }
    assert_eq!(
        first_name(&ex(&["0x800759DB"])),
        Some("E_PROXY_NAP_ACCESSDENIED")
    );
    // Every name in the table is one the wire codec knows, with the same value.
    for (code, name) in rdp_doctor_wire::gateway::hresult::all() {
        if let Some(n) = first_name(&ex(&[&format!("0x{code:08X}")])) {
            if n.starts_with("E_PROXY_") {
                assert_eq!(n, name, "0x{code:08X}");
            }
        }
    }
}

#[test]
fn kerberos_codes_by_name_number_mit_number_and_event() {
    // Every way the same KDC error is written: its name, the RFC number in hex after a
    // Kerberos word or prefix, MIT's -1765328384 + code, and a 4771 Failure Code.
    for qs in [
        vec!["KDC_ERR_PREAUTH_FAILED"],
        vec!["PREAUTH_FAILED"],
        vec!["kdc:0x18"],
        vec!["krb:24"],
        vec!["KDC", "24"],
        vec!["-1765328360"],
    ] {
        let e = ex(&qs);
        assert_eq!(first_name(&e), Some("KDC_ERR_PREAUTH_FAILED"), "{qs:?}");
        let it = &e.items[0].interpretations[0];
        assert_eq!(it.table, "kerberos", "{qs:?}");
        assert!(
            it.findings.iter().any(|f| f.id == "logon-failure"),
            "{qs:?}: {:?}",
            it.findings
        );
    }
    let e = ex(&["-1765328360"]);
    assert_eq!(e.items[0].interpretations[0].matched_by, MatchedBy::MitKrb5);
    // 4771 0x18 and 4771/0x18: the event, then the Kerberos code it carries.
    for qs in [vec!["4771", "0x18"], vec!["4771/0x18"]] {
        let e = ex(&qs);
        assert_eq!(
            first_name(&e),
            Some("Kerberos pre-authentication failed"),
            "{qs:?}"
        );
        assert_eq!(
            e.items[1].interpretations[0].name, "KDC_ERR_PREAUTH_FAILED",
            "{qs:?}"
        );
    }
    let e = ex(&["4768/0x12"]);
    assert_eq!(e.items[1].interpretations[0].name, "KDC_ERR_CLIENT_REVOKED");
    assert!(!e.combined.is_empty(), "a compound reading");
    let e = ex(&["4769", "0x7"]);
    assert_eq!(
        e.items[1].interpretations[0].name,
        "KDC_ERR_S_PRINCIPAL_UNKNOWN"
    );
    assert!(e.items[1].interpretations[0]
        .findings
        .iter()
        .any(|f| f.id == "spn-unknown"));
    // MIT's "Cannot contact any KDC" (-1765328228) is a local library error, not on the wire:
    // outside the table, never guessed.
    let e = ex(&["-1765328228"]);
    assert!(e.items[0].interpretations.is_empty());
}

#[test]
fn rd_gateway_events_by_provider_and_bare_number() {
    // The gateway's own log (Microsoft-Windows-TerminalServices-Gateway/Operational): the RAP
    // refusal reads as the finding check --gateway reports from E_PROXY_RAP_ACCESSDENIED.
    for qs in [vec!["tsgateway:301"], vec!["301"]] {
        let e = ex(&qs);
        let it = &e.items[0].interpretations[0];
        assert_eq!(it.table, "event", "{qs:?}");
        assert!(
            it.findings.iter().any(|f| f.id == "gateway-rap-denied"),
            "{qs:?}: {:?}",
            it.findings
        );
    }
    let e = ex(&["tsgateway:201"]);
    assert!(e.items[0].interpretations[0]
        .findings
        .iter()
        .any(|f| f.id == "gateway-cap-denied"));
    // `gateway:` stays the E_PROXY_* HRESULT table; a gateway event is suggested, not guessed.
    let e = ex(&["gateway:301"]);
    assert!(e.items[0].interpretations.is_empty());
}
