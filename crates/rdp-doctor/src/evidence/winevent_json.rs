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
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// The error for an export over the size cap.
pub fn too_large() -> String {
    format!(
        "larger than {} MiB: export fewer events (-MaxEvents, StartTime) or use wevtutil epl",
        limits::MAX_JSON_BYTES / (1024 * 1024)
    )
}

/// What one event may keep while it is parsed, in bytes (64 per JSON value plus its text):
/// a hostile element (a million numbers, a deep tree) costs at most this much memory; what is
/// over it is read and dropped. A real event is a few KiB.
const EVENT_BUDGET: usize = 8 * 1024 * 1024;
/// Elements kept per array and entries per object, within an event. Above what any field
/// needs: the field value is cut at [`limits::MAX_VALUE_CHARS`] characters (a byte array as hex
/// needs half of that), the fields at [`limits::MAX_FIELDS`].
const MAX_ITEMS: usize = 4096;
/// Characters kept per string (one more than a field keeps, so the cut still shows).
const MAX_STRING_CHARS: usize = limits::MAX_VALUE_CHARS + 1;
/// Characters kept per object key.
const MAX_KEY_CHARS: usize = 256;

/// Parses an export held in memory (the fuzz entry point and the unit tests).
pub fn read_bytes(
    bytes: &[u8],
    source: &Arc<str>,
    stats: &mut FileStats,
    sink: &mut dyn FnMut(Event),
) {
    read_stream(&mut &*bytes, source, stats, sink);
}

/// Parses an export from a stream, event by event: memory stays flat in the size of the
/// input (one event at a time, bounded by [`EVENT_BUDGET`]), whether the events come in an
/// array, in PowerShell 5.1's `{"value": [...]}` wrapper or one after another. At most
/// [`limits::MAX_JSON_BYTES`] are read; beyond, the file is an error (the events before the
/// cut were read). Returns the bytes read.
pub fn read_stream(
    r: &mut dyn std::io::Read,
    source: &Arc<str>,
    stats: &mut FileStats,
    sink: &mut dyn FnMut(Event),
) -> u64 {
    let over = std::cell::Cell::new(false);
    let read = std::cell::Cell::new(0u64);
    let capped = Capped {
        inner: r,
        read: &read,
        over: &over,
        cap: limits::MAX_JSON_BYTES,
    };
    let text = match crate::text::Utf8Reader::new(capped) {
        Ok(t) => t,
        Err(e) => {
            if over.get() {
                stats.error = Some(too_large());
            } else {
                stats.error = Some(format!("cannot read: {e}"));
            }
            return read.get();
        }
    };
    let mut de = serde_json::Deserializer::from_reader(text);
    let mut cx = Cx {
        source,
        stats,
        sink,
    };
    // One top-level value after another (JSON lines, or one array / object).
    while de.end().is_err() {
        if let Err(e) = (Top { cx: &mut cx }).deserialize(&mut de) {
            if !over.get() {
                if e.is_io() {
                    cx.stats.error = Some(format!("cannot read: {e}"));
                } else {
                    // The stream cannot resynchronise after a syntax error.
                    cx.stats
                        .damage(&format!("JSON ends early or is malformed: {e}"));
                }
            }
            break;
        }
    }
    if over.get() {
        cx.stats.error = Some(too_large());
    }
    read.get()
}

/// A reader that fails once more than `cap` bytes were read from it.
struct Capped<'a> {
    inner: &'a mut dyn std::io::Read,
    read: &'a std::cell::Cell<u64>,
    over: &'a std::cell::Cell<bool>,
    cap: u64,
}

impl std::io::Read for Capped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.read.get() + n as u64;
        self.read.set(total);
        if total > self.cap {
            self.over.set(true);
            return Err(std::io::Error::other(too_large()));
        }
        Ok(n)
    }
}

/// Where parsed events go.
struct Cx<'a> {
    source: &'a Arc<str>,
    stats: &'a mut FileStats,
    sink: &'a mut dyn FnMut(Event),
}

impl Cx<'_> {
    fn emit(&mut self, v: &Value) {
        emit(v, self.source, self.stats, self.sink);
    }

    /// A value in an array, or a whole top-level value: an event, or a wrapper of events.
    fn handle(&mut self, v: Value) {
        match v {
            Value::Object(ref o) if is_wrapper(o) => {
                if let Some(Value::Array(items)) = o.get("value") {
                    for item in items {
                        self.emit(item);
                    }
                }
            }
            other => self.emit(&other),
        }
    }
}

fn is_wrapper(o: &Map<String, Value>) -> bool {
    o.len() <= 2 && matches!(o.get("value"), Some(Value::Array(_))) && get_ci(o, "Id").is_none()
}

/// One top-level value: an array is read element by element, an object key by key (its
/// `value` array, PowerShell 5.1's wrapper, element by element), anything else is one damaged
/// element.
struct Top<'c, 'a> {
    cx: &'c mut Cx<'a>,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! damaged_scalar {
    ($($f:ident: $t:ty => $v:expr),* $(,)?) => {
        $(fn $f<E: serde::de::Error>(self, x: $t) -> Result<(), E> {
            #[allow(clippy::redundant_closure_call)]
            self.cx.emit(&($v)(x));
            Ok(())
        })*
    };
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("events")
    }
    damaged_scalar! {
        visit_bool: bool => Value::Bool,
        visit_i64: i64 => |x: i64| Value::from(x),
        visit_u64: u64 => |x: u64| Value::from(x),
        visit_f64: f64 => |x: f64| Value::from(x),
        visit_str: &str => |_| Value::String(String::new()),
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.cx.emit(&Value::Null);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Elements before a broken one or a cut are kept.
        loop {
            let budget = Cell::new(EVENT_BUDGET);
            match seq.next_element_seed(Bounded(&budget))? {
                Some(v) => self.cx.handle(v),
                None => return Ok(()),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let budget = Cell::new(EVENT_BUDGET);
        let mut o = Map::new();
        let mut streamed = false;
        while let Some(k) = map.next_key::<String>()? {
            if k == "value" && !streamed && get_ci(&o, "Id").is_none() {
                // The wrapper's array, event by event; anything else is kept as it is.
                match map.next_value_seed(WrapperValue {
                    cx: &mut *self.cx,
                    budget: &budget,
                })? {
                    Some(v) => {
                        o.insert(k, v);
                    }
                    None => streamed = true,
                }
            } else {
                let v = map.next_value_seed(Bounded(&budget))?;
                if o.len() < MAX_ITEMS && spend(&budget, 64 + k.len()) {
                    o.insert(cut(k, MAX_KEY_CHARS), v);
                }
            }
        }
        // The wrapper's own keys (`Count`) are not an event; an object with an `Id` is one.
        if !streamed || get_ci(&o, "Id").is_some() {
            self.cx.handle(Value::Object(o));
        }
        Ok(())
    }
}

/// The value of a top-level object's `value` key: an array is streamed into events (`None`),
/// anything else is returned.
struct WrapperValue<'c, 'a, 'b> {
    cx: &'c mut Cx<'a>,
    budget: &'b Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for WrapperValue<'_, '_, '_> {
    type Value = Option<Value>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! bounded_scalar {
    ($($f:ident: $t:ty),* $(,)?) => {
        $(fn $f<E: serde::de::Error>(self, x: $t) -> Result<Self::Value, E> {
            Bounded(self.budget).$f(x).map(Some)
        })*
    };
}

impl<'de> Visitor<'de> for WrapperValue<'_, '_, '_> {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }
    bounded_scalar! { visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        loop {
            let budget = Cell::new(EVENT_BUDGET);
            match seq.next_element_seed(Bounded(&budget))? {
                Some(v) => self.cx.emit(&v),
                None => return Ok(None),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Bounded(self.budget).visit_map(map).map(Some)
    }
}

/// Takes `n` from the budget; false when it is spent.
fn spend(budget: &Cell<usize>, n: usize) -> bool {
    match budget.get().checked_sub(n) {
        Some(left) => {
            budget.set(left);
            true
        }
        None => {
            budget.set(0);
            false
        }
    }
}

/// `s` cut to `max` characters.
fn cut(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
    s
}

/// A JSON value as `serde_json::Value`, kept within a budget: past [`MAX_ITEMS`] per array
/// or object, past [`MAX_STRING_CHARS`] per string or past the event's budget the input is
/// read and dropped (`null` for a value, nothing for an element). Depth stays bounded by
/// serde_json's recursion limit.
struct Bounded<'b>(&'b Cell<usize>);

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, x: bool) -> Result<Value, E> {
        Ok(if spend(self.0, 64) {
            Value::Bool(x)
        } else {
            Value::Null
        })
    }
    fn visit_i64<E: serde::de::Error>(self, x: i64) -> Result<Value, E> {
        Ok(if spend(self.0, 64) {
            Value::from(x)
        } else {
            Value::Null
        })
    }
    fn visit_u64<E: serde::de::Error>(self, x: u64) -> Result<Value, E> {
        Ok(if spend(self.0, 64) {
            Value::from(x)
        } else {
            Value::Null
        })
    }
    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Value, E> {
        Ok(if spend(self.0, 64) {
            Value::from(x)
        } else {
            Value::Null
        })
    }
    fn visit_str<E: serde::de::Error>(self, x: &str) -> Result<Value, E> {
        let kept = match x.char_indices().nth(MAX_STRING_CHARS) {
            Some((i, _)) => x.get(..i).unwrap_or(x),
            None => x,
        };
        Ok(if spend(self.0, 64 + kept.len()) {
            Value::String(kept.to_string())
        } else {
            Value::Null
        })
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while items.len() < MAX_ITEMS && self.0.get() > 0 {
            match seq.next_element_seed(Bounded(self.0))? {
                Some(v) => {
                    if spend(self.0, 64) {
                        items.push(v);
                    }
                }
                None => return Ok(Value::Array(items)),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut o = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if o.len() < MAX_ITEMS && self.0.get() > 0 {
                let v = map.next_value_seed(Bounded(self.0))?;
                if spend(self.0, 64 + k.len().min(MAX_KEY_CHARS * 4)) {
                    o.insert(cut(k, MAX_KEY_CHARS), v);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Value::Object(o))
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
