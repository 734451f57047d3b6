//! `concert-reservation`: the concert seat-reservation backend. See `--help`.

use clap::Parser as _;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = app::Cli::parse();
    match app::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting with an error");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
