//! The tracing subscriber for binaries. Libraries only emit; `main` calls [`init`].
//! Logs go to stderr; `RUST_LOG` filters (default `info`); `json` selects JSON lines.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
