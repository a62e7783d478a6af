//! Logging: built once, by `main` (tests keep quiet unless `TEST_LOG` is set).
//!
//! Many fields carry what a client sent (ids in error messages, the
//! operation of an unknown target, ...). In the text format every field
//! value is escaped: control characters (newlines, carriage returns, ESC)
//! are written as `\n`, `\r`, `\u{1b}`, so a client can neither forge a log
//! line nor send escape sequences to an operator's terminal. The JSON format
//! escapes by construction.
//!
//! actix-web logs a malformed request head, or a connection the client broke
//! off, at ERROR level: anyone can cause those, so they are logged here at
//! DEBUG instead (target `cognate::http`), escaped like everything else.
//!
//! Traces: with `[telemetry] otlp_endpoint`, the INFO spans of Cognate's
//! crates (a request, its validation, database transactions, upstream
//! verification, signing, the STS call) are exported as OpenTelemetry spans
//! over OTLP/HTTP (protobuf), batched off the request path. Span fields are
//! ids, names and outcomes, never a token, a Logins value or a secret. The
//! W3C `traceparent` propagator is installed, so outbound calls carry the
//! trace (see `cognate_token::telemetry`).

use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::filter::Targets;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Dependencies whose info-level chatter is noise for operators: the
/// PostgreSQL server's notices (e.g. refinery's `CREATE TABLE IF NOT EXISTS`
/// answering "relation … already exists, skipping" on every start) and
/// refinery's own per-migration lines, which Cognate logs once itself;
/// actix-server's per-listener start and stop lines ("starting N workers",
/// "Actix runtime found", one set per listener), for which Cognate logs
/// one "listening" and one "stopping" line.
const QUIET: &[&str] = &[
    "tokio_postgres=warn",
    "refinery_core=warn",
    "refinery=warn",
    "actix_server=warn",
];

/// The level names a filter directive may end in.
const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Whether `spec` is a log filter: comma-separated directives, each a level
/// (`info`) or `target=level` (`cognate_api=debug`). A bad `log.level` must
/// stop start-up: `EnvFilter` reads a bare word such as `verbose` as a
/// target to log at TRACE, which silently turns every other log off.
pub fn check_level(spec: &str) -> Result<(), String> {
    let hint = "e.g. \"info\", \"debug\" or \"info,cognate_api=debug\"; levels are off, error, warn, info, debug, trace";
    for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !LEVELS.iter().any(|known| known.eq_ignore_ascii_case(level)) {
            return Err(format!(
                "{directive:?} in {spec:?} does not end in a level ({hint})"
            ));
        }
    }
    EnvFilter::builder()
        .parse(spec)
        .map(|_| ())
        .map_err(|e| format!("{spec:?} is not a log filter: {e} ({hint})"))
}

/// The filter for `level` (or `RUST_LOG`, which overrides it), with the
/// noisy dependencies turned down unless the filter names them.
fn filter(level: &str) -> EnvFilter {
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_owned());
    let mut directives: Vec<String> = vec![spec.clone()];
    for quiet in QUIET {
        let target = quiet.split('=').next().unwrap_or_default();
        if !spec.contains(target) {
            directives.push((*quiet).to_owned());
        }
    }
    EnvFilter::try_new(directives.join(",")).unwrap_or_else(|_| EnvFilter::new(level))
}

/// Writes `value` with every control character escaped (`\n`, `\u{1b}`, ...).
fn write_escaped(out: &mut dyn std::fmt::Write, value: &str) -> std::fmt::Result {
    for c in value.chars() {
        if c.is_control() {
            write!(out, "{}", c.escape_debug())?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// `value` with every control character escaped.
pub fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let _ = write_escaped(&mut out, value);
    out
}

/// Text-format fields: `message` bare, the others `name=value`, separated by
/// one space, every value escaped. The trace exporter's own fields
/// (`otel.name`, `otel.kind`, `otel.status_code`) are not for the log.
#[derive(Debug, Default)]
struct TextFields;

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for TextFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = TextVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: std::fmt::Result,
}

impl Visit for TextVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() || field.name().starts_with("otel.") {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.writer.write_char(' ')?;
            }
            if field.name() != "message" {
                write!(self.writer, "{}=", field.name())?;
            }
            write_escaped(&mut self.writer, &format!("{value:?}"))
        })();
    }
}

/// An event of actix-web's HTTP/1 dispatcher at ERROR level: a malformed
/// request or a broken connection, which any client can cause.
fn is_client_caused(meta: &Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target().starts_with("actix_http::h1")
}

/// Logs the [`is_client_caused`] events again at DEBUG, escaped.
struct ClientCausedAtDebug;

impl<S: Subscriber> Layer<S> for ClientCausedAtDebug {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if !is_client_caused(event.metadata()) {
            return;
        }
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        tracing::debug!(
            target: "cognate::http",
            error = %escaped(&message.0),
            "a client sent a malformed request or broke off its connection"
        );
    }
}

/// Where traces go (`[telemetry]`).
#[derive(Debug, Clone)]
pub struct Traces {
    /// The collector's base URL (OTLP/HTTP; spans go to `<url>/v1/traces`).
    pub otlp_endpoint: String,
    /// `service.name`.
    pub service_name: String,
    /// Share of the traces started here that are kept.
    pub sampling_ratio: f64,
}

/// The tracer provider, flushed by [`shutdown`].
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The OTLP exporter's HTTP client: the service's reqwest, its requests
/// run on the Tokio runtime (the batch exporter calls from a thread of its
/// own, where no runtime is current).
#[derive(Debug)]
struct OtlpHttp {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttp {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let client = self.client.clone();
        let request = reqwest::Request::try_from(request)?;
        self.runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let mut answer = opentelemetry_http::Response::builder().status(response.status());
                for (name, value) in response.headers() {
                    answer = answer.header(name, value);
                }
                let body = response.bytes().await?;
                Ok(answer.body(body)?)
            })
            .await?
    }
}

/// The span layer exporting to `traces`, on `runtime`.
fn tracer(
    traces: &Traces,
    runtime: tokio::runtime::Handle,
) -> Result<opentelemetry_sdk::trace::Tracer, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OtlpHttp { client, runtime })
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!(
            "{}/v1/traces",
            traces.otlp_endpoint.trim_end_matches('/')
        ))
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            traces.sampling_ratio,
        ))))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(traces.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("cognate");
    let _ = PROVIDER.set(provider);
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    Ok(tracer)
}

/// Send the spans not sent yet (at exit).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(err) = provider.shutdown() {
            eprintln!("cognate: sending the last traces failed: {err}");
        }
    }
}

/// Install the global subscriber. `RUST_LOG` overrides `level`. Colours
/// only when standard error is a terminal: a log file or a pipe gets plain
/// text. With `traces` (and within a Tokio runtime), spans are exported too.
pub fn init(level: &str, json: bool) {
    init_with_traces(level, json, None);
}

/// [`init`], exporting spans as `traces` says (on the current runtime).
pub fn init_with_traces(level: &str, json: bool, traces: Option<&Traces>) {
    let not_client_caused = filter_fn(|meta| !is_client_caused(meta));
    let output = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            // The current span (request id, operation, client) is enough:
            // the list of every enclosing span repeats it.
            .with_span_list(false)
            .with_target(false)
            .with_writer(std::io::stderr)
            .with_filter(not_client_caused)
            .boxed()
    } else {
        fmt::layer()
            .fmt_fields(TextFields)
            .with_target(false)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(not_client_caused)
            .boxed()
    };
    let spans = traces.and_then(|traces| {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        match tracer(traces, runtime) {
            Ok(tracer) => Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    // Cognate's own spans; dependencies' are not the story.
                    .with_filter(
                        Targets::new()
                            .with_target("cognate", Level::INFO)
                            .with_target("cognate_api", Level::INFO)
                            .with_target("cognate_domain", Level::INFO)
                            .with_target("cognate_store", Level::INFO)
                            .with_target("cognate_token", Level::INFO)
                            .with_target("cognate_server", Level::INFO),
                    ),
            ),
            Err(err) => {
                eprintln!("cognate: traces are off: the OTLP exporter failed: {err}");
                None
            }
        }
    });
    // A second init (tests) is harmless: keep the first subscriber. Each
    // layer has its own filter, so the log level does not turn spans off.
    let _ = tracing_subscriber::registry()
        .with(ClientCausedAtDebug.with_filter(filter_fn(is_client_caused)))
        .with(output.with_filter(filter(level)))
        .with(spans)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy_dependencies_are_turned_down_unless_named() {
        let f = filter("info").to_string();
        assert!(f.contains("tokio_postgres=warn"), "{f}");
        assert!(f.contains("refinery_core=warn"), "{f}");
        let f = filter("info,tokio_postgres=debug").to_string();
        assert!(f.contains("tokio_postgres=debug"), "{f}");
        assert!(!f.contains("tokio_postgres=warn"), "{f}");
    }

    #[test]
    fn control_characters_in_field_values_are_escaped() {
        assert_eq!(
            escaped("us-east-1:x\n2026-12-07T03:30:00Z  INFO request ok\r\u{1b}[31m"),
            "us-east-1:x\\n2026-12-07T03:30:00Z  INFO request ok\\r\\u{1b}[31m"
        );
        assert_eq!(escaped("plain text, ünïcode"), "plain text, ünïcode");
    }

    #[test]
    fn bad_log_levels_are_refused_and_good_ones_accepted() {
        for good in ["info", "debug", "warn,cognate_api=debug", "off"] {
            check_level(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in ["verbose", "foo=bar=baz"] {
            let err = check_level(bad).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }
}
