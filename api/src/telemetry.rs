//! Logging to standard error, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber. `RUST_LOG` sets the level (default `info`, with the
/// database driver's statement logs at `warn`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
