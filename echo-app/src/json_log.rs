//! `-log-format json` for the operational logs: one JSON object per event on stderr
//! (`{"timestamp":…,"level":…,"message":…,<fields>}`), written with the access log's own JSON
//! helpers rather than serde_json, which would add a tenth to the image for a few log lines.

use std::fmt;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::access_log::{push_iso_timestamp, push_json_escaped, push_u64};

#[derive(Debug, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str(&render(
            event.metadata().level().as_str(),
            SystemTime::now(),
            |v| event.record(v),
        ))
    }
}

/// One event as a JSON line; `record` feeds the event's fields to the visitor.
fn render(level: &str, now: SystemTime, record: impl FnOnce(&mut JsonFields<'_>)) -> String {
    let mut line = Vec::with_capacity(192);
    line.extend_from_slice(b"{\"timestamp\":\"");
    push_iso_timestamp(&mut line, now);
    line.extend_from_slice(b"\",\"level\":\"");
    line.extend_from_slice(level.as_bytes());
    line.push(b'"');
    record(&mut JsonFields { out: &mut line });
    line.extend_from_slice(b"}\n");
    String::from_utf8_lossy(&line).into_owned()
}

struct JsonFields<'a> {
    out: &'a mut Vec<u8>,
}

impl JsonFields<'_> {
    fn key(&mut self, field: &Field) {
        self.out.extend_from_slice(b",\"");
        push_json_escaped(self.out, field.name().as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn string(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.out.push(b'"');
        push_json_escaped(self.out, value.as_bytes());
        self.out.push(b'"');
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        push_u64(self.out, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        if value < 0 {
            self.out.push(b'-');
        }
        push_u64(self.out, value.unsigned_abs());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.string(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};
    use tracing::field::FieldSet;
    use tracing::{Level, Metadata};

    #[test]
    fn fields_become_json_members() {
        static NAMES: &[&str] = &["message", "open", "delta", "error"];
        static CALLSITE: tracing::callsite::DefaultCallsite =
            tracing::callsite::DefaultCallsite::new(&META);
        static META: Metadata<'static> = tracing::metadata!(
            name: "test",
            target: "echo_app",
            level: Level::WARN,
            fields: NAMES,
            callsite: &CALLSITE,
            kind: tracing::metadata::Kind::EVENT,
        );
        let fields: &FieldSet = META.fields();
        let field = |n: &str| fields.field(n).unwrap();
        let now = UNIX_EPOCH + Duration::from_millis(1_767_225_600_123);
        let line = render("WARN", now, |v| {
            v.record_debug(&field("message"), &format_args!("drain \"timeout\" passed"));
            v.record_u64(&field("open"), 3);
            v.record_i64(&field("delta"), -2);
            v.record_str(&field("error"), "a\nb");
        });
        assert_eq!(
            line,
            "{\"timestamp\":\"2026-01-01T00:00:00.123Z\",\"level\":\"WARN\",\
             \"message\":\"drain \\\"timeout\\\" passed\",\"open\":3,\"delta\":-2,\"error\":\"a\\u000ab\"}\n"
        );
    }
}
