//! `sotay-server`: starts the Sổ Tay server on an embedded SQLite file it creates and migrates.

use sotay_server::config::{Config, ConfigError};
use sotay_sync_core::Coded;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let config = Config::load(args.clone()).and_then(|config| {
        if config.print_config {
            print!("{}", Config::effective_toml(args)?);
            std::process::exit(0);
        }
        Ok(config)
    });
    let config = match config {
        Ok(config) => config,
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(ConfigError::File(problem)) => {
            eprintln!("sotay-server: {problem}");
            std::process::exit(2);
        }
    };
    sotay_server::telemetry::init(config.log_json);
    let state = sotay_server::build_state(&config.database_url, config.limits.clone()).await?;
    if config.demo {
        match sotay_server::demo::seed(&state, sotay_server::demo::DemoSize::default()).await? {
            Some(summary) => {
                // Printed for the person at the terminal, not logged.
                println!(
                    "Demo commune Tân Yên: {} records. Web logins (password {}):",
                    summary.records,
                    sotay_server::demo::DEMO_PASSWORD
                );
                for (login, role) in summary.logins {
                    println!("  {login:<10} {}", role.code());
                }
            }
            None => tracing::info!("--demo: the database already holds a commune; nothing seeded"),
        }
    }
    let metrics = tokio::net::TcpListener::bind(config.metrics_bind).await?;
    tracing::info!(addr = %metrics.local_addr()?, "metrics at /metrics");
    let metrics = tokio::spawn(sotay_server::serve_metrics(metrics, state.clone()));
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "Sổ Tay server listening");
    if config.demo {
        // Printed for the person at the terminal: where the web app is.
        println!("Open http://{}/ in a browser and sign in with one of the logins above.", listener.local_addr()?);
    }
    sotay_server::serve(listener, state, shutdown_signal()).await?;
    metrics.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
