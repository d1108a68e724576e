//! Reader for events exported with PowerShell: `Get-WinEvent ... | ConvertTo-Json`.
//!
//! Accepted shapes (docs/evidence.md gives the collection commands):
//! * the command we document, whose objects carry the event's named fields in `Data`
//!   (read from `$_.ToXml()`), and `TimeCreated` as ISO 8601;
//! * the plain default shape: `Id`, `ProviderName`, `LogName`, `MachineName`, `RecordId`,
//!   `TimeCreated` (`"\/Date(1700000000000)\/"` from Windows PowerShell 5.1, ISO 8601 from
//!   PowerShell 7), `Properties: [{"Value": ...}]` positional, `Message`. Positional values get
//!   their names from the `[[fields]]` tables in `kb/event-rules.toml` (`Property1`... when the
//!   event is not listed);
//! * one object, an array of objects, PowerShell 5.1's `{"value": [...], "Count": n}` wrapper,
//!   or several objects one after another (JSON lines);
//! * UTF-8 (with or without BOM) or UTF-16 with BOM (what `>` writes in Windows PowerShell 5.1).
//!
//! An element that is not an event object is counted as damaged and skipped; a file cut off in
//! the middle keeps the events before the cut and reports the rest as damaged.

use super::evtx::scalar;
use super::{limits, put_field, Event, FileStats};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// The error for an export over the in-memory cap.
pub fn too_large() -> String {
    format!(
        "larger than {} MiB: export fewer events (-MaxEvents, StartTime) or use wevtutil epl",
        limits::MAX_JSON_BYTES / (1024 * 1024)
    )
}

/// Parses an export held in memory (also the fuzz entry point).
pub fn read_bytes(
    bytes: &[u8],
    source: &Arc<str>,
    stats: &mut FileStats,
    sink: &mut dyn FnMut(Event),
) {
    let (text, _) = super::decode_text(bytes);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let mut handle = |v: Value, stats: &mut FileStats| match v {
        Value::Object(ref o) if is_wrapper(o) => {
            if let Some(Value::Array(items)) = o.get("value") {
                for item in items {
                    emit(item, source, stats, sink);
                }
            }
        }
        other => emit(&other, source, stats, sink),
    };
    if text.starts_with('[') {
        let mut de = serde_json::Deserializer::from_str(text);
        let mut got: Vec<Result<Value, String>> = Vec::new();
        let res = serde::Deserializer::deserialize_seq(&mut de, Elements { out: &mut got });
        for item in got {
            match item {
                Ok(v) => handle(v, stats),
                Err(e) => stats.damage(&e),
            }
        }
        if let Err(e) = res {
            stats.damage(&format!("JSON ends early or is malformed: {e}"));
        }
        return;
    }
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    for item in stream.by_ref() {
        match item {
            Ok(v) => handle(v, stats),
            Err(e) => {
                // The stream cannot resynchronise after a syntax error.
                stats.damage(&format!("JSON ends early or is malformed: {e}"));
                break;
            }
        }
    }
}

fn is_wrapper(o: &Map<String, Value>) -> bool {
    o.len() <= 2 && matches!(o.get("value"), Some(Value::Array(_))) && get_ci(o, "Id").is_none()
}

/// Collects the elements of the top-level array one by one, so that a broken element or a cut
/// at the end loses only what is broken.
struct Elements<'a> {
    out: &'a mut Vec<Result<Value, String>>,
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            match seq.next_element_seed(OneValue) {
                Ok(Some(v)) => self.out.push(Ok(v)),
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

struct OneValue;
impl<'de> DeserializeSeed<'de> for OneValue {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

fn get_ci<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn emit(v: &Value, source: &Arc<str>, stats: &mut FileStats, sink: &mut dyn FnMut(Event)) {
    match from_powershell(v, source) {
        Ok(ev) => {
            stats.records += 1;
            sink(ev);
        }
        Err(e) => stats.damage(&e),
    }
}

/// One `Get-WinEvent` object (an `EventLogRecord` as `ConvertTo-Json` writes it) as an [`Event`].
pub fn from_powershell(v: &Value, source: &Arc<str>) -> Result<Event, String> {
    let Value::Object(o) = v else {
        return Err("an element that is not an event object".into());
    };
    let event_id = get_ci(o, "Id")
        .map(scalar)
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or("an object without a numeric Id (not a Get-WinEvent record)")?;
    let provider = get_ci(o, "ProviderName").map(scalar).unwrap_or_default();
    let channel = get_ci(o, "LogName").map(scalar).unwrap_or_default();
    let computer = get_ci(o, "MachineName").map(scalar).unwrap_or_default();
    let record_id = get_ci(o, "RecordId")
        .map(scalar)
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let time = match get_ci(o, "TimeCreated") {
        None | Some(Value::Null) => None,
        Some(t) => Some(parse_time(t).ok_or_else(|| {
            format!(
                "record {record_id}: TimeCreated '{}' is not a date",
                super::truncate(&scalar(t), 60)
            )
        })?),
    };
    let mut data = BTreeMap::new();
    match get_ci(o, "Data") {
        Some(Value::Object(named)) => {
            for (k, val) in named {
                put_field(&mut data, k, property_text(val));
            }
        }
        _ => {
            if let Some(Value::Array(props)) = get_ci(o, "Properties") {
                let names = super::rules::engine().positional(&provider, event_id);
                for (i, p) in props.iter().enumerate() {
                    let val = match p {
                        Value::Object(po) => get_ci(po, "Value").map(property_text),
                        other => Some(property_text(other)),
                    }
                    .unwrap_or_default();
                    let name = names
                        .and_then(|n| n.get(i))
                        .cloned()
                        .unwrap_or_else(|| format!("Property{}", i + 1));
                    put_field(&mut data, &name, val);
                }
            }
        }
    }
    Ok(Event {
        time,
        provider,
        channel,
        event_id,
        computer,
        record_id,
        data,
        source: Arc::clone(source),
    })
}

/// A property value as text: a SID object gives its `Value`, a byte array its hex (as Event
/// Viewer shows binary data), a number its decimal form.
fn property_text(v: &Value) -> String {
    match v {
        Value::Object(o) => get_ci(o, "Value").map(scalar).unwrap_or_default(),
        Value::Array(items)
            if !items.is_empty() && items.iter().all(|i| i.as_u64().is_some_and(|b| b < 256)) =>
        {
            items
                .iter()
                .filter_map(Value::as_u64)
                .map(|b| format!("{b:02X}"))
                .collect()
        }
        other => scalar(other),
    }
}

/// `TimeCreated` as PowerShell writes it: `/Date(1700000000000)/` (5.1; optional `+0100` offset
/// suffix, the milliseconds are UTC), ISO 8601 / RFC 3339 (7.x, or `.ToString('o')`), or the
/// PowerShell 7 `{"value": ..., "DateTime": ...}` form of a decorated date.
pub fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    if let Value::Object(o) = v {
        return get_ci(o, "value").and_then(parse_time);
    }
    let s = scalar(v);
    let s = s.trim();
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits_end = inner
            .char_indices()
            .find(|(i, c)| *i > 0 && (*c == '+' || *c == '-'))
            .map(|(i, _)| i)
            .unwrap_or(inner.len());
        let ms: i128 = inner.get(..digits_end)?.parse().ok()?;
        return OffsetDateTime::from_unix_timestamp_nanos(ms.checked_mul(1_000_000)?).ok();
    }
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.to_offset(time::UtcOffset::UTC));
    }
    // .NET round-trip format of a DateTime with Kind=Unspecified has no offset: read it as UTC.
    let with_z = format!("{s}Z");
    OffsetDateTime::parse(&with_z, &Rfc3339).ok()
}

/// Fuzz oracle: any bytes as an export must give events and damage counts, never a panic.
pub fn fuzz_winevent_json(data: &[u8]) {
    let src: Arc<str> = Arc::from("fuzz");
    let mut stats = FileStats::default();
    let mut n = 0u64;
    read_bytes(data, &src, &mut stats, &mut |_| n += 1);
    assert_eq!(n, stats.records);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(s: &str) -> (Vec<Event>, FileStats) {
        let mut out = Vec::new();
        let mut stats = FileStats::default();
        read_bytes(s.as_bytes(), &Arc::from("t"), &mut stats, &mut |e| {
            out.push(e)
        });
        (out, stats)
    }

    #[test]
    fn powershell_51_default_shape_with_positional_properties() {
        // Hand-written in the shape Windows PowerShell 5.1 gives for
        // `Get-WinEvent -LogName Security -MaxEvents 1 | ConvertTo-Json` (default depth 2).
        let (evs, st) = read_str(
            r#"{"Id":4825,"ProviderName":"Microsoft-Windows-Security-Auditing","LogName":"Security",
               "MachineName":"fs02.offsec.lan","RecordId":17,"TimeCreated":"\/Date(1594531625579)\/",
               "Properties":[{"Value":"svc6test1"},{"Value":"OFFSEC"},{"Value":54883954},{"Value":"10.23.23.9"}],
               "Message":"A user was denied the access to Remote Desktop."}"#,
        );
        assert_eq!(st.records, 1);
        let e = evs.first().expect("one event");
        assert_eq!(e.event_id, 4825);
        assert_eq!(e.field("AccountName"), Some("svc6test1"));
        assert_eq!(e.field("ClientAddress"), Some("10.23.23.9"));
        assert_eq!(e.time.map(|t| t.unix_timestamp()), Some(1_594_531_625));
    }

    #[test]
    fn named_data_wrapper_and_damaged_elements() {
        let (evs, st) = read_str(
            r#"{"value":[{"Id":140,"ProviderName":"P","Data":{"IPString":"1.2.3.4"},"TimeCreated":"2024-01-02T03:04:05.1234567Z"},
                          42, {"Id":"x"}],"Count":3}"#,
        );
        assert_eq!(evs.len(), 1);
        assert_eq!(st.damaged, 2);
        assert_eq!(
            evs.first().and_then(|e| e.field("IPString")),
            Some("1.2.3.4")
        );
    }

    #[test]
    fn truncated_array_keeps_what_came_before_the_cut() {
        let (evs, st) =
            read_str(r#"[{"Id":1,"ProviderName":"P"},{"Id":2,"ProviderName":"P"},{"Id":3,"Prov"#);
        assert_eq!(evs.len(), 2);
        assert_eq!(st.damaged, 1);
    }

    #[test]
    fn json_lines_and_utf16() {
        let (evs, _) = read_str("{\"Id\":1}\n{\"Id\":2}\n");
        assert_eq!(evs.len(), 2);
        let mut bytes = vec![0xFF, 0xFE];
        for u in "[{\"Id\":7}]".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let mut stats = FileStats::default();
        let mut ids = Vec::new();
        read_bytes(&bytes, &Arc::from("t"), &mut stats, &mut |e| {
            ids.push(e.event_id)
        });
        assert_eq!(ids, vec![7]);
    }

    #[test]
    fn times_in_every_powershell_form() {
        let t = |s: &str| parse_time(&Value::String(s.into())).map(|t| t.unix_timestamp());
        assert_eq!(t("/Date(1700000000000)/"), Some(1_700_000_000));
        assert_eq!(t("/Date(1700000000000+0100)/"), Some(1_700_000_000));
        assert_eq!(t("2023-11-14T22:13:20.1234567Z"), Some(1_700_000_000));
        assert_eq!(t("2023-11-14T23:13:20+01:00"), Some(1_700_000_000));
        assert_eq!(t("2023-11-14T22:13:20"), Some(1_700_000_000));
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("/Date(99999999999999999999999999)/"), None);
    }

    #[test]
    fn fuzz_oracle_survives_garbage() {
        for s in [
            "",
            "[",
            "[[[[",
            "{\"Id\":",
            "\u{0}\u{0}",
            "[1,2,{\"Id\":4}",
            "{\"value\":5}",
        ] {
            fuzz_winevent_json(s.as_bytes());
        }
        fuzz_winevent_json(&[0xFF, 0xFE, 0x00]);
    }
}
