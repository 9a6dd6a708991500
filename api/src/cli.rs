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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// The maximum lifetime of a token from `headway token issue`, in hours.
const MAX_TTL_HOURS: u32 = 8_760;

/// The maximum length of a subject that `headway token issue` accepts, in bytes, as the
/// server does.
const MAX_SUBJECT_BYTES: usize = 255;

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
    /// Seeds the demo organization (once) and prints its id, a bearer token and a curl
    /// command.
    Demo {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        auth: AuthArgs,
        /// The address that `headway serve` listens on, which the printed curl command sends
        /// to; 0.0.0.0 and :: become the loopback address.
        #[arg(long, env = "HEADWAY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
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
        /// The user's subject (`sub` claim), their stable id at the identity provider: 1 to
        /// 255 bytes, not only whitespace.
        #[arg(long)]
        subject: String,
        /// The user's e-mail address; an invited user with this address is claimed.
        #[arg(long)]
        email: Option<String>,
        /// The user's display name.
        #[arg(long)]
        name: Option<String>,
        /// How long the token is valid, in hours, from 1 to 8760 (a year).
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TTL_HOURS)))]
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

/// Returns the address that a client on this machine reaches `listen` at: an unspecified
/// address (0.0.0.0 or ::) becomes the loopback address of its family.
fn client_address(listen: SocketAddr) -> SocketAddr {
    let mut address = listen;
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => address.set_ip(Ipv4Addr::LOCALHOST.into()),
        IpAddr::V6(ip) if ip.is_unspecified() => address.set_ip(Ipv6Addr::LOCALHOST.into()),
        _ => {}
    }
    address
}

fn print_demo_instructions(
    token: &str,
    organization_id: OrganizationId,
    listen: SocketAddr,
) -> anyhow::Result<()> {
    let url = format!("http://{}/graphql", client_address(listen));
    let organization = organization_id.to_global();
    let organization = organization.as_str();
    say(&format!(
        "Demo organization \"Acme Corporation\" ({organization}) is ready. Sign in as {} with this bearer token (valid 30 days):\n\n  {token}\n\nTry it:\n\n  curl -s {url} -H 'content-type: application/json' -H 'authorization: Bearer {token}' -d '{{\"query\":\"{{ viewer {{ user {{ name }} organization {{ name }} }} }}\"}}'\n\nOr open {url} in a browser for GraphiQL and set the header {{\"Authorization\": \"Bearer {token}\"}}.\n\nAn API token for an integration, from the folder where `headway serve` runs:\n\n  headway token create --organization {organization} --name \"CRM sync\" --scopes ingest",
        demo::DEMO_OWNER_NAME
    ))
}

/// Returns the file of a SQLite database URL, read as sqlx 0.9 reads it: `sqlite://` or
/// `sqlite:`, the percent-encoded path, then `?` and parameters. `None` for other schemes,
/// in-memory databases (`:memory:`, `mode=memory`, an empty path) and undecodable paths.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, parameters) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = url::form_urlencoded::parse(parameters.as_bytes())
        .any(|(key, value)| key == "mode" && value == "memory");
    if database.is_empty() || database == ":memory:" || in_memory {
        return None;
    }
    percent_decode(database).map(PathBuf::from)
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut decoded = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(value) => {
                decoded.push(value);
                rest = tail.get(2..).unwrap_or_default();
            }
            None => {
                decoded.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// Fails when the database URL names a SQLite file that does not exist. Every command but
/// `serve` checks this, because opening the URL would create an empty database in the
/// working folder, and the command would then find nothing in it.
fn require_database_file(database: &DatabaseArgs) -> anyhow::Result<()> {
    let Some(path) = sqlite_file(&database.database_url) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    let shown = std::path::absolute(&path).unwrap_or(path);
    bail!(
        "the SQLite database file {} does not exist; run this command in the folder where `headway serve` runs, or set HEADWAY_DATABASE_URL (or --database-url) to the server's database",
        shown.display()
    )
}

/// Opens the database of a command other than `serve`, which must exist already.
async fn open_existing_store(
    database: &DatabaseArgs,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<headway_persistence::Store> {
    require_database_file(database)?;
    startup::open_store(database, clock).await
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
            let mut seeded = None;
            if auth.mode == Mode::Development
                && serve.seed_demo
                && !store.has_organizations().await?
            {
                let demo = demo::seed(&store).await?;
                let token = demo_token(&store, &auth).await?;
                seeded = Some((token, demo.organization_id));
            }
            let application = Application::build(&serve, store, authenticator).await?;
            // Printed once the port is bound, so that the curl command names the real one
            // when HEADWAY_LISTEN sets port 0.
            if let Some((token, organization_id)) = seeded {
                print_demo_instructions(&token, organization_id, application.address())?;
            }
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
            print_demo_instructions(&token, seeded.organization_id, listen)
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
                let store = open_existing_store(&database, clock.clone()).await?;
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
                let store = open_existing_store(&database, clock.clone()).await?;
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
                let store = open_existing_store(&database, clock.clone()).await?;
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
                if subject.trim().is_empty() || subject.len() > MAX_SUBJECT_BYTES {
                    bail!(
                        "--subject {subject:?} is invalid: it must have 1 to {MAX_SUBJECT_BYTES} bytes and not only whitespace, such as --subject ada"
                    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_file_follows_sqlx() {
        let cases = [
            ("sqlite://headway.db?mode=rwc", Some("headway.db")),
            ("sqlite:headway.db", Some("headway.db")),
            (
                "sqlite:///srv/headway/data.db",
                Some("/srv/headway/data.db"),
            ),
            ("sqlite://my%20data.db?mode=rwc", Some("my data.db")),
            ("sqlite::memory:", None),
            ("sqlite://?mode=memory", None),
            ("sqlite://shared.db?mode=memory&cache=shared", None),
            ("postgres://postgres@127.0.0.1:5432/headway", None),
        ];
        for (url, expected) in cases {
            assert_eq!(sqlite_file(url), expected.map(PathBuf::from), "{url}");
        }
    }

    #[test]
    fn unspecified_listen_address_becomes_loopback() {
        let cases = [
            ("0.0.0.0:9000", "127.0.0.1:9000"),
            ("[::]:9000", "[::1]:9000"),
            ("192.0.2.7:8080", "192.0.2.7:8080"),
        ];
        for (listen, expected) in cases {
            let listen: SocketAddr = listen.parse().unwrap();
            assert_eq!(client_address(listen).to_string(), expected, "{listen}");
        }
    }
}
