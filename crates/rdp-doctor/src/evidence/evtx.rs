//! `.evtx` reader on top of the `evtx` crate (pinned to 0.15.1: the rules read the JSON shape
//! that version renders). Records are rendered to JSON on the crate's worker threads, turned
//! into [`Event`]s there, and streamed to the caller in file order; nothing is kept.
//!
//! A record or chunk that fails to parse arrives as an `Err` item: it is counted as damaged,
//! and reading goes on with the next one. A file whose header cannot be read is an error for
//! that file only.

use super::{put_field, Event, FileStats};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

/// Reads an .evtx file from any seekable reader (a file, or a stream held in memory);
/// `path` names it in the report.
pub fn read_seek<T: std::io::Read + std::io::Seek>(
    input: T,
    path: &Path,
    threads: usize,
    stats: &mut FileStats,
    sink: &mut dyn FnMut(Event),
) {
    match ::evtx::EvtxParser::from_read_seek(input) {
        Ok(parser) => drain(
            parser,
            threads,
            Arc::from(path.display().to_string()),
            stats,
            sink,
        ),
        Err(e) => {
            stats.error = Some(crate::sanitize::escape(&super::truncate(
                &format!("not a readable .evtx file: {e}"),
                300,
            )))
        }
    }
}

fn drain<T: std::io::Read + std::io::Seek>(
    parser: ::evtx::EvtxParser<T>,
    threads: usize,
    source: Arc<str>,
    stats: &mut FileStats,
    sink: &mut dyn FnMut(Event),
) {
    let settings = ::evtx::ParserSettings::new()
        .num_threads(threads.max(1))
        .indent(false)
        .separate_json_attributes(false);
    let mut parser = parser.with_configuration(settings);
    let items = parser.serialized_records(move |record| {
        let rec = record?;
        let rendered = rec.into_json_bytes()?;
        let nanos = rendered.timestamp.as_nanosecond();
        Ok(from_json(
            &rendered.data,
            rendered.event_record_id,
            OffsetDateTime::from_unix_timestamp_nanos(nanos).ok(),
            &source,
        ))
    });
    for item in items {
        match item {
            Ok(Ok(ev)) => {
                stats.records += 1;
                sink(ev);
            }
            Ok(Err(why)) => stats.damage(&why),
            Err(e) => stats.damage(&e.to_string()),
        }
    }
}

/// Fuzz oracle: any bytes as an .evtx file give events, damage counts or a file error, never a
/// panic, and every event the sink sees is counted.
pub fn fuzz_evtx(data: &[u8]) {
    let mut stats = FileStats::default();
    let mut seen = 0u64;
    match ::evtx::EvtxParser::from_buffer(data.to_vec()) {
        Ok(parser) => drain(parser, 1, Arc::from("fuzz"), &mut stats, &mut |_| seen += 1),
        Err(_) => return,
    }
    assert_eq!(seen, stats.records);
    assert!(stats.damage_examples.len() <= super::limits::MAX_DAMAGE_EXAMPLES);
}

#[derive(Deserialize)]
struct Root {
    #[serde(rename = "Event")]
    event: EventJson,
}

#[derive(Deserialize)]
struct EventJson {
    #[serde(rename = "System")]
    system: System,
    #[serde(rename = "EventData", default)]
    event_data: Option<Value>,
    #[serde(rename = "UserData", default)]
    user_data: Option<Value>,
}

#[derive(Deserialize)]
struct System {
    #[serde(rename = "Provider", default)]
    provider: Option<Value>,
    #[serde(rename = "EventID", default)]
    event_id: Option<Value>,
    #[serde(rename = "Channel", default)]
    channel: Option<Value>,
    #[serde(rename = "Computer", default)]
    computer: Option<Value>,
    #[serde(rename = "TimeCreated", default)]
    time_created: Option<Value>,
    #[serde(rename = "EventRecordID", default)]
    event_record_id: Option<Value>,
}

/// Turns one record as the evtx crate renders it to JSON into an [`Event`].
/// Shape (0.15): `Event.System.Provider.#attributes.Name`, `Event.System.EventID` (a number, a
/// string, or `{"#attributes":{"Qualifiers":..},"#text":N}` for classic events),
/// `Event.EventData.<Name>` or `Event.UserData.<Element>.<Name>`.
pub fn from_json(
    json: &[u8],
    record_id: u64,
    time: Option<OffsetDateTime>,
    source: &Arc<str>,
) -> Result<Event, String> {
    let root: Root = serde_json::from_slice(json)
        .map_err(|e| format!("record {record_id}: unexpected JSON shape: {e}"))?;
    let sys = root.event.system;
    let provider = sys
        .provider
        .as_ref()
        .and_then(|p| p.get("#attributes"))
        .and_then(|a| a.get("Name"))
        .map(scalar)
        .unwrap_or_default();
    let event_id = sys
        .event_id
        .as_ref()
        .map(|v| match v.get("#text") {
            Some(t) => scalar(t),
            None => scalar(v),
        })
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or_else(|| format!("record {record_id}: no EventID"))?;
    let mut data = BTreeMap::new();
    if let Some(ed) = &root.event.event_data {
        flatten_fields(ed, &mut data);
    }
    if let Some(Value::Object(ud)) = &root.event.user_data {
        // UserData holds one element (e.g. EventXML) whose children are the fields.
        for (k, v) in ud {
            if k.starts_with('#') {
                continue;
            }
            flatten_fields(v, &mut data);
        }
    }
    // What Event Viewer shows: TimeCreated/@SystemTime and EventRecordID. They can differ from
    // the record header (a log exported with wevtutil epl renumbers the header's record ids;
    // the header time is when the record was written). The header values are the fallback.
    let time = sys
        .time_created
        .as_ref()
        .and_then(|t| t.get("#attributes"))
        .and_then(|a| a.get("SystemTime"))
        .and_then(|t| {
            OffsetDateTime::parse(&scalar(t), &time::format_description::well_known::Rfc3339).ok()
        })
        .or(time);
    let record_id = sys
        .event_record_id
        .as_ref()
        .and_then(|v| scalar(v).trim().parse::<u64>().ok())
        .unwrap_or(record_id);
    Ok(Event {
        time,
        provider,
        channel: sys.channel.as_ref().map(scalar).unwrap_or_default(),
        event_id,
        computer: sys.computer.as_ref().map(scalar).unwrap_or_default(),
        record_id,
        data,
        source: Arc::clone(source),
    })
}

/// The named children of an EventData / UserData element, as text. Attributes (`#attributes`)
/// are skipped; a `#text` child is the element's text; arrays (repeated names) become `Name`,
/// `Name_1`, ...
fn flatten_fields(v: &Value, out: &mut BTreeMap<String, String>) {
    let Value::Object(map) = v else {
        if !v.is_null() {
            put_field(out, "Data", scalar(v));
        }
        return;
    };
    for (k, v) in map {
        if k.starts_with('#') {
            continue;
        }
        match v {
            Value::Array(items) => {
                for item in items {
                    put_field(out, k, element_text(item));
                }
            }
            Value::Object(o) => match o.get("#text") {
                Some(Value::Array(items)) => {
                    for item in items {
                        put_field(out, k, scalar(item));
                    }
                }
                Some(t) => put_field(out, k, scalar(t)),
                None => put_field(out, k, String::new()),
            },
            other => put_field(out, k, scalar(other)),
        }
    }
}

fn element_text(v: &Value) -> String {
    match v {
        Value::Object(o) => o.get("#text").map(scalar).unwrap_or_default(),
        other => scalar(other),
    }
}

/// A JSON leaf as text (`null` is empty).
pub(crate) fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        Value::Object(o) => o.get("#text").map(scalar).unwrap_or_default(),
    }
}

/// Fuzz oracle: any bytes as a rendered record must give an event or an error, never a panic.
pub fn fuzz_record_json(data: &[u8]) {
    let src: Arc<str> = Arc::from("fuzz");
    if let Ok(ev) = from_json(data, 1, None, &src) {
        assert!(ev.data.len() <= super::limits::MAX_FIELDS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(json: &str) -> Event {
        from_json(json.as_bytes(), 7, None, &Arc::from("t")).expect("parses")
    }

    #[test]
    fn classic_event_with_qualifiers_and_binary() {
        // Shape of RCM 1056 in omerbenamram-evtx/2-vss_7-System.evtx, record 201, as evtx 0.15.1
        // renders it.
        let e = ev(
            r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-TerminalServices-RemoteConnectionManager","EventSourceName":"TermService"}},"EventID":{"#attributes":{"Qualifiers":49152},"#text":1056},"Channel":"System","Computer":"DESKTOP-1N4R894"},"EventData":{"Data":{"#text":"DESKTOP-1N4R894"},"Binary":"59EFF2E3B509C83137E81085E02A1AC63A7E61AA"}}}"##,
        );
        assert_eq!(e.event_id, 1056);
        assert_eq!(e.field("Data"), Some("DESKTOP-1N4R894"));
        assert_eq!(
            e.field("Binary"),
            Some("59EFF2E3B509C83137E81085E02A1AC63A7E61AA")
        );
    }

    #[test]
    fn userdata_and_string_event_id_and_null_values() {
        // Shape of RCM 1149 in EVTX-to-MITRE-Attack/ID1149-...evtx (EventID as a string).
        let e = ev(
            r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"RCM"}},"EventID":"1149","Channel":"c","Computer":"h"},"UserData":{"EventXML":{"#attributes":{"xmlns":"Event_NS"},"Param1":"admmig","Param2":null,"Param3":"10.23.123.11"}}}}"##,
        );
        assert_eq!(e.event_id, 1149);
        assert_eq!(e.field("Param1"), Some("admmig"));
        assert_eq!(e.field("Param2"), Some(""));
        assert_eq!(e.field("Param3"), Some("10.23.123.11"));
    }

    #[test]
    fn repeated_unnamed_data_gets_suffixes() {
        let e =
            ev(r##"{"Event":{"System":{"EventID":1},"EventData":{"Data":{"#text":["a","b"]}}}}"##);
        assert_eq!(e.field("Data"), Some("a"));
        assert_eq!(e.field("Data_1"), Some("b"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let src: Arc<str> = Arc::from("t");
        assert!(from_json(b"{", 1, None, &src).is_err());
        assert!(from_json(br#"{"Event":{"System":{}}}"#, 1, None, &src).is_err());
        fuzz_record_json(b"\xff\x00");
        fuzz_record_json(br#"{"Event":{"System":{"EventID":99999999999}}}"#);
    }
}
