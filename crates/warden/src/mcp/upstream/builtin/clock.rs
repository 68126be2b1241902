//! The `clock` demo: time and arithmetic tools, and a slow tool that reports progress.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use serde_json::{Value, json};

use super::{Demo, DemoError, Notifier, not_found, text_result, tool_error};
use crate::mcp::jsonrpc::code;

pub(crate) struct Clock;

fn tools() -> Value {
    json!({"tools": [
        {
            "name": "now",
            "title": "Current time",
            "description": "Returns the current UTC time as RFC 3339 and as Unix seconds.",
            "inputSchema": {"type": "object", "properties": {}},
            "annotations": {"readOnlyHint": true, "idempotentHint": false, "openWorldHint": false}
        },
        {
            "name": "add",
            "title": "Add two numbers",
            "description": "Adds two numbers and returns the sum.",
            "inputSchema": {"type": "object", "properties": {
                "a": {"type": "number"}, "b": {"type": "number"}
            }, "required": ["a", "b"]},
            "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false}
        },
        {
            "name": "echo",
            "title": "Echo",
            "description": "Returns the message it is given.",
            "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
            "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false}
        },
        {
            "name": "countdown",
            "title": "Countdown with progress",
            "description": "Counts down from `steps` (at most 50), waiting `intervalMs` (at most 1000) between steps and reporting progress.",
            "inputSchema": {"type": "object", "properties": {
                "steps": {"type": "integer", "minimum": 1, "maximum": 50},
                "intervalMs": {"type": "integer", "minimum": 0, "maximum": 1000}
            }, "required": ["steps"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": false}
        }
    ]})
}

/// Formats Unix seconds as RFC 3339 UTC (civil-from-days, Howard Hinnant's algorithm).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

async fn call(params: Value, notify: Notifier) -> Result<Value, DemoError> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    let progress_token = params.pointer("/_meta/progressToken").cloned();
    match name {
        "now" => {
            let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            Ok(text_result(format!("{} ({secs})", rfc3339(secs))))
        }
        "add" => match (args.get("a").and_then(Value::as_f64), args.get("b").and_then(Value::as_f64)) {
            (Some(a), Some(b)) => Ok(text_result(format!("{}", a + b))),
            _ => Ok(tool_error("`a` and `b` must be numbers")),
        },
        "echo" => match args.get("message").and_then(Value::as_str) {
            Some(m) => Ok(text_result(m)),
            None => Ok(tool_error("`message` must be a string")),
        },
        "countdown" => {
            let steps = args.get("steps").and_then(Value::as_u64).unwrap_or(3).clamp(1, 50);
            let interval = args.get("intervalMs").and_then(Value::as_u64).unwrap_or(100).min(1000);
            for i in 1..=steps {
                tokio::time::sleep(Duration::from_millis(interval)).await;
                if let Some(tok) = &progress_token {
                    notify
                        .notify(
                            "notifications/progress",
                            json!({"progressToken": tok, "progress": i, "total": steps, "message": format!("{} left", steps - i)}),
                        )
                        .await;
                }
            }
            Ok(text_result(format!("counted down {steps} steps")))
        }
        other => Err((code::INVALID_PARAMS, format!("unknown tool: {other}"))),
    }
}

impl Demo for Clock {
    fn server_name(&self) -> &'static str {
        "warden-demo-clock"
    }
    fn instructions(&self) -> &'static str {
        "Demo backend: current time, arithmetic, echo and a countdown that reports progress."
    }
    fn capabilities(&self) -> Value {
        json!({"tools": {"listChanged": false}, "logging": {}})
    }
    fn handle<'a>(
        &'a self,
        method: &'a str,
        params: Value,
        notify: Notifier,
    ) -> futures::future::BoxFuture<'a, Result<Value, DemoError>> {
        async move {
            match method {
                "tools/list" => Ok(tools()),
                "tools/call" => call(params, notify).await,
                other => Err(not_found(other)),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_epoch_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
