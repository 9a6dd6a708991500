use clap::Parser as _;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    headway_api::telemetry::init();
    let cli = headway_api::cli::Cli::parse();
    match headway_api::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "headway failed");
            std::process::ExitCode::FAILURE
        }
    }
}
