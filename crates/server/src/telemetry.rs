//! Logging: built once, by `main` (tests keep quiet unless `TEST_LOG` is set).

use tracing_subscriber::{fmt, EnvFilter};

/// Install the global subscriber. `RUST_LOG` overrides `level`.
pub fn init(level: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = fmt().with_env_filter(filter).with_target(false);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
