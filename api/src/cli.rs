//! The `headway` command line.

use crate::config::{AuthArgs, DatabaseArgs, LogFormat, Mode, ServeArgs};
use crate::demo;
use crate::graphql::ids::{Typed, decode};
use crate::startup::{self, Application};
use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, Subcommand};
use headway_domain::access::{Scope, Scopes};
use headway_domain::clock::{Clock, SystemClock};
use headway_domain::ids::{ApiTokenId, OrganizationId};
use headway_domain::values::Name;
use headway_persistence::{Actor, NewApiToken, PageRequest};
use std::io::Write as _;
use std::sync::Arc;

/// Headway: a headless OKR and KPI service with a GraphQL API.
#[derive(Debug, Parser)]
#[command(name = "headway", version, about)]
pub struct Cli {
    /// Log line format: `text` or `json`. `RUST_LOG` sets the level.
    #[arg(long, global = true, env = "HEADWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

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
        serve: Box<ServeArgs>,
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
    /// Prints the reference of every `headway serve` setting in Markdown.
    PrintConfig,
    /// Manages API tokens for integrations, and issues identity tokens in development mode.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates an API token for an integration and prints its secret, which is shown once.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The organization's global id, such as `org_0191…`.
        #[arg(long)]
        organization: String,
        /// What the token is for, such as "CRM sync".
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, write, ingest, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Days until the token expires; it never expires when left out.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Lists an organization's API tokens, never their secrets.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The organization's global id.
        #[arg(long)]
        organization: String,
        /// Include revoked tokens.
        #[arg(long)]
        include_revoked: bool,
    },
    /// Revokes an API token.
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The organization's global id.
        #[arg(long)]
        organization: String,
        /// The token's global id, such as `tok_0191…`.
        id: String,
    },
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

/// Renders the settings of `headway serve` as a Markdown reference, from the same
/// definitions that parse them. `docs/configuration.md` is this text.
pub fn configuration_reference() -> String {
    use clap::CommandFactory;
    let command = Cli::command();
    let mut text = String::from(
        "# Configuration\n\nEvery setting of `headway serve` is an environment variable and a flag; the flag\nwins. This file is the output of `headway print-config`, and a test fails when it is\nout of date.\n\n| variable | flag | default | meaning |\n| --- | --- | --- | --- |\n",
    );
    let Some(serve) = command.find_subcommand("serve") else {
        return text;
    };
    let mut seen = std::collections::HashSet::new();
    let arguments = command.get_arguments().chain(serve.get_arguments());
    for argument in arguments.filter(|argument| seen.insert(argument.get_id().clone())) {
        let Some(variable) = argument.get_env() else {
            continue;
        };
        let flag = argument
            .get_long()
            .map_or_else(String::new, |long| format!("`--{long}`"));
        let defaults: Vec<String> = argument
            .get_default_values()
            .iter()
            .map(|value| value.to_string_lossy().into_owned())
            .collect();
        let default = if defaults.is_empty() {
            "none".to_owned()
        } else {
            format!("`{}`", defaults.join(","))
        };
        let help = argument
            .get_long_help()
            .or_else(|| argument.get_help())
            .map(|help| help.to_string().replace('\n', " ").replace('|', "\\|"))
            .unwrap_or_default();
        text.push_str(&format!(
            "| `{}` | {flag} | {default} | {help} |\n",
            variable.to_string_lossy()
        ));
    }
    text.push_str(&format!(
        "| `RUST_LOG` | | `{}` | The log filter, such as `info,headway_api=debug`. |\n",
        crate::telemetry::DEFAULT_LOG_FILTER
    ));
    text.push_str(concat!(
        "| `OTEL_EXPORTER_OTLP_ENDPOINT` | | none | Base URL of an OTLP/HTTP collector, such as `http://otel-collector:4318`; traces are exported only when it or the next one is set. |\n",
        "| `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | | none | Full URL for traces, such as `http://otel-collector:4318/v1/traces`; wins over the base URL. |\n",
        "| `OTEL_EXPORTER_OTLP_HEADERS` | | none | Headers sent to the collector, as `key1=value1,key2=value2`. |\n",
        "| `OTEL_SERVICE_NAME` | | `headway` | The `service.name` of every span. |\n",
        "| `OTEL_RESOURCE_ATTRIBUTES` | | none | More resource attributes, as `key1=value1,key2=value2`. |\n",
        "| `OTEL_BSP_SCHEDULE_DELAY` | | `5000` | Milliseconds between two exports of finished spans. |\n",
        "| `OTEL_SDK_DISABLED` | | `false` | `true` turns trace export off. |\n",
    ));
    text
}

fn parse_id<T: Typed>(argument: &str, text: &str) -> anyhow::Result<T> {
    decode::<T>(&async_graphql::ID(text.to_owned()))
        .map_err(|error| anyhow!("{argument}: {}", error.message))
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
        Command::PrintConfig => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(configuration_reference().as_bytes())?;
            Ok(())
        }
        Command::Token { command } => match command {
            TokenCommand::Create {
                database,
                organization,
                name,
                scopes,
                expires_in_days,
            } => {
                let organization_id = parse_id::<OrganizationId>("--organization", &organization)?;
                let scopes = scopes
                    .iter()
                    .map(|scope| {
                        Scope::from_name(scope.trim())
                            .ok_or_else(|| anyhow!("--scopes: \"{scope}\" is not a scope; use read, write, ingest or admin"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let scopes =
                    Scopes::new(scopes).map_err(|error| anyhow!("--scopes {}", error.message))?;
                let name =
                    Name::parse(&name).map_err(|error| anyhow!("--name {}", error.message))?;
                let store = startup::open_store(&database, clock.clone()).await?;
                let expires_at = expires_in_days
                    .map(|days| store.now() + chrono::Duration::days(i64::from(days)));
                let actor = Actor {
                    organization_id,
                    user_id: None,
                    api_token_id: None,
                };
                let (token, secret) = store
                    .create_api_token(
                        actor,
                        NewApiToken {
                            name,
                            scopes,
                            expires_at,
                        },
                    )
                    .await
                    .map_err(|error| anyhow!("failed to create the token: {error}"))?;
                say(&format!(
                    "Created {} ({}) with scopes {}. Its secret, shown only now:\n\n  {secret}\n\nSend it as `Authorization: Bearer {secret}`.",
                    token.id.to_global().as_str(),
                    token.name,
                    token.scopes.to_text()
                ))
            }
            TokenCommand::List {
                database,
                organization,
                include_revoked,
            } => {
                let organization_id = parse_id::<OrganizationId>("--organization", &organization)?;
                let store = startup::open_store(&database, clock.clone()).await?;
                let mut request = PageRequest {
                    first: Some(100),
                    ..PageRequest::default()
                };
                say("id\tname\tscopes\tcreated\tlast used\texpires\trevoked")?;
                loop {
                    let page = store
                        .api_tokens_page(organization_id, include_revoked, request)
                        .await
                        .map_err(|error| anyhow!("failed to list tokens: {error}"))?;
                    let show = |instant: Option<chrono::DateTime<chrono::Utc>>| {
                        instant.map_or_else(|| "-".to_owned(), |instant| instant.to_rfc3339())
                    };
                    for token in &page.items {
                        say(&format!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            token.id.to_global().as_str(),
                            token.name,
                            token.scopes.to_text(),
                            token.created_at.to_rfc3339(),
                            show(token.last_used_at),
                            show(token.expires_at),
                            show(token.revoked_at)
                        ))?;
                    }
                    match page.items.last() {
                        Some(last) if page.has_next_page => {
                            request.after =
                                Some(crate::graphql::connection::id_cursor(last.id.as_uuid()));
                        }
                        _ => break,
                    }
                }
                Ok(())
            }
            TokenCommand::Revoke {
                database,
                organization,
                id,
            } => {
                let organization_id = parse_id::<OrganizationId>("--organization", &organization)?;
                let token_id = parse_id::<ApiTokenId>("ID", &id)?;
                let store = startup::open_store(&database, clock.clone()).await?;
                let actor = Actor {
                    organization_id,
                    user_id: None,
                    api_token_id: None,
                };
                let token = store
                    .revoke_api_token(actor, token_id)
                    .await
                    .map_err(|error| anyhow!("failed to revoke the token: {error}"))?;
                say(&format!(
                    "Revoked {} ({})",
                    token.id.to_global().as_str(),
                    token.name
                ))
            }
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
    let cli = Cli::parse();
    let telemetry = crate::telemetry::Telemetry::init(cli.log_format);
    let outcome = actix_web::rt::System::new().block_on(run(cli));
    telemetry.shutdown();
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "headway failed");
            std::process::ExitCode::FAILURE
        }
    }
}
