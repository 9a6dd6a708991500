//! The `headway` command line.

use crate::config::{AuthArgs, DatabaseArgs, Mode, ServeArgs};
use crate::demo;
use crate::startup::{self, Application};
use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use headway_domain::clock::{Clock, SystemClock};
use std::io::Write as _;
use std::sync::Arc;

/// Headway: a headless OKR and KPI service with a GraphQL API.
#[derive(Debug, Parser)]
#[command(name = "headway", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the server. Without configuration it uses a SQLite file in the working folder
    /// and listens on 127.0.0.1:8080.
    Serve {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        auth: AuthArgs,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Applies pending database migrations and exits.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Seeds the demo organization (once) and prints a bearer token and a curl command.
    Demo {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        auth: AuthArgs,
        /// The address the printed curl command sends to.
        #[arg(long, env = "HEADWAY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Prints the GraphQL schema in SDL.
    PrintSchema,
    /// Issues identity tokens in development mode.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Prints a signed bearer token for a user (development mode only).
    Issue {
        #[command(flatten)]
        auth: AuthArgs,
        /// The user's subject (`sub` claim), their stable id at the identity provider.
        #[arg(long)]
        subject: String,
        /// The user's e-mail address; an invited user with this address is claimed.
        #[arg(long)]
        email: Option<String>,
        /// The user's display name.
        #[arg(long)]
        name: Option<String>,
        /// How long the token is valid, in hours.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u32,
    },
}

/// Writes a line to standard output; the command line's results go there, logs go to stderr.
fn say(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    Ok(())
}

fn print_demo_instructions(token: &str, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let url = format!("http://{listen}/graphql");
    say(&format!(
        "Demo organization \"Acme Corporation\" is ready. Sign in as {} with this bearer token (valid 30 days):\n\n  {token}\n\nTry it:\n\n  curl -s {url} -H 'content-type: application/json' -H 'authorization: Bearer {token}' -d '{{\"query\":\"{{ viewer {{ user {{ name }} organization {{ name }} }} }}\"}}'\n\nOr open {url} in a browser for GraphiQL and set the header {{\"Authorization\": \"Bearer {token}\"}}.",
        demo::DEMO_OWNER_NAME
    ))
}

async fn demo_token(store: &headway_persistence::Store, auth: &AuthArgs) -> anyhow::Result<String> {
    let authenticator = startup::authenticator(auth)?;
    authenticator.issue(
        demo::DEMO_OWNER_SUBJECT,
        Some(demo::DEMO_OWNER_EMAIL),
        Some(demo::DEMO_OWNER_NAME),
        store.now(),
        chrono::Duration::days(30),
    )
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve {
            database,
            auth,
            serve,
        } => {
            let authenticator = startup::authenticator(&auth)?;
            let store = startup::open_store(&database, clock).await?;
            if auth.mode == Mode::Development
                && serve.seed_demo
                && !store.has_organizations().await?
            {
                demo::seed(&store).await?;
                let token = demo_token(&store, &auth).await?;
                print_demo_instructions(&token, serve.listen)?;
            }
            let application = Application::build(&serve, store, authenticator).await?;
            tracing::info!(address = %application.address(), "headway is listening");
            application
                .run_until_signal()
                .await
                .context("the server failed")?;
            tracing::info!("headway stopped");
            Ok(())
        }
        Command::Migrate { database } => {
            startup::open_store(&database, clock).await?;
            say("migrations are up to date")
        }
        Command::Demo {
            database,
            auth,
            listen,
        } => {
            if auth.mode == Mode::Production {
                bail!("the demo organization is for development mode only");
            }
            let store = startup::open_store(&database, clock).await?;
            let seeded = demo::seed(&store).await?;
            if !seeded.created {
                say("the demo organization exists already")?;
            }
            let token = demo_token(&store, &auth).await?;
            print_demo_instructions(&token, listen)
        }
        Command::PrintSchema => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(crate::graphql::sdl().as_bytes())?;
            Ok(())
        }
        Command::Token { command } => match command {
            TokenCommand::Issue {
                auth,
                subject,
                email,
                name,
                ttl_hours,
            } => {
                if auth.mode == Mode::Production {
                    bail!("tokens are issued by your identity provider in production mode");
                }
                let authenticator = startup::authenticator(&auth)?;
                let token = authenticator.issue(
                    &subject,
                    email.as_deref(),
                    name.as_deref(),
                    clock.now(),
                    chrono::Duration::hours(i64::from(ttl_hours)),
                )?;
                say(&token)
            }
        },
    }
}

/// Runs the command line of this process on the actix runtime, with logs on stderr.
pub fn main() -> std::process::ExitCode {
    crate::telemetry::init();
    let cli = Cli::parse();
    let outcome = actix_web::rt::System::new().block_on(run(cli));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "headway failed");
            std::process::ExitCode::FAILURE
        }
    }
}
