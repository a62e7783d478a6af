//! Logging: built once, by `main` (tests keep quiet unless `TEST_LOG` is set).

use std::io::IsTerminal as _;

use tracing_subscriber::{fmt, EnvFilter};

/// Dependencies whose info-level chatter is noise for operators: the
/// PostgreSQL server's notices (e.g. refinery's `CREATE TABLE IF NOT EXISTS`
/// answering "relation … already exists, skipping" on every start) and
/// refinery's own per-migration lines, which Cognate logs once itself.
const QUIET: &[&str] = &["tokio_postgres=warn", "refinery_core=warn", "refinery=warn"];

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

/// Install the global subscriber. `RUST_LOG` overrides `level`. Colours
/// only when standard error is a terminal: a log file or a pipe gets plain
/// text.
pub fn init(level: &str, json: bool) {
    let builder = fmt()
        .with_env_filter(filter(level))
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn noisy_dependencies_are_turned_down_unless_named() {
        let f = filter("info").to_string();
        assert!(f.contains("tokio_postgres=warn"), "{f}");
        assert!(f.contains("refinery_core=warn"), "{f}");
        let f = filter("info,tokio_postgres=debug").to_string();
        assert!(f.contains("tokio_postgres=debug"), "{f}");
        assert!(!f.contains("tokio_postgres=warn"), "{f}");
    }
}
