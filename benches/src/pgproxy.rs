//! A PostgreSQL wire-protocol relay that counts the statements its clients execute.
//!
//! Each simple `Query` message and each extended-protocol `Execute` message counts as one
//! statement, which is what PostgreSQL runs. `Parse` and `Bind` messages map an
//! `Execute` back to its SQL text. The relay declines TLS so that it can read the
//! protocol, so clients must allow plain connections (`sslmode=disable` or `prefer`).

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The request codes of SSLRequest and GSSENCRequest, sent in place of a startup message.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// The statements executed through the relay, in order, with the time the relay saw them.
#[derive(Clone, Debug, Default)]
pub struct StatementLog(Arc<Mutex<Vec<(Instant, String)>>>);

impl StatementLog {
    /// Returns the statements the relay saw from `start` to `end`.
    pub fn between(&self, start: Instant, end: Instant) -> Vec<String> {
        let log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter()
            .filter(|(at, _)| *at >= start && *at <= end)
            .map(|(_, statement)| statement.clone())
            .collect()
    }

    fn push(&self, statement: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Instant::now(), statement));
    }
}

/// Listens on 127.0.0.1 and relays each connection to `upstream`; returns the port.
pub async fn start(upstream: String, log: StatementLog) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("failed to bind the statement-counting relay")?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            let upstream = upstream.clone();
            let log = log.clone();
            tokio::spawn(async move {
                if let Err(error) = relay(client, &upstream, log).await {
                    eprintln!("the statement-counting relay dropped a connection: {error:#}");
                }
            });
        }
    });
    Ok(port)
}

async fn relay(mut client: TcpStream, upstream: &str, log: StatementLog) -> Result<()> {
    let mut server = TcpStream::connect(upstream)
        .await
        .with_context(|| format!("failed to connect to PostgreSQL at {upstream}"))?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;

    // The startup phase: decline TLS and GSS encryption, then forward the startup message.
    loop {
        let length = client.read_u32().await?;
        let mut body = vec![0; (length as usize).saturating_sub(4)];
        client.read_exact(&mut body).await?;
        let code = body.get(..4).map_or(0, |bytes| {
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        });
        if code == SSL_REQUEST || code == GSSENC_REQUEST {
            client.write_all(b"N").await?;
            continue;
        }
        server.write_u32(length).await?;
        server.write_all(&body).await?;
        break;
    }

    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let backward = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });

    // The rest of the session: count statements and forward every message unchanged.
    let mut statements: HashMap<String, String> = HashMap::new();
    let mut bound = String::new();
    while let Ok(kind) = client_read.read_u8().await {
        let length = client_read.read_u32().await?;
        let mut body = vec![0; (length as usize).saturating_sub(4)];
        client_read.read_exact(&mut body).await?;

        match kind {
            b'Q' => log.push(c_string(&body, 0).0),
            b'P' => {
                let (name, next) = c_string(&body, 0);
                let (query, _) = c_string(&body, next);
                statements.insert(name, query);
            }
            b'B' => {
                let (_portal, next) = c_string(&body, 0);
                let (name, _) = c_string(&body, next);
                bound = statements.get(&name).cloned().unwrap_or_default();
            }
            b'E' => log.push(bound.clone()),
            _ => {}
        }

        server_write.write_u8(kind).await?;
        server_write.write_u32(length).await?;
        server_write.write_all(&body).await?;
        if kind == b'X' {
            break;
        }
    }
    backward.abort();
    Ok(())
}

/// Reads a NUL-terminated string at `start` and returns it with the offset after the NUL.
fn c_string(body: &[u8], start: usize) -> (String, usize) {
    let rest = body.get(start..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(rest.len());
    (
        String::from_utf8_lossy(&rest[..end]).into_owned(),
        start + end + 1,
    )
}

/// Shortens a statement for the report: the column list of a SELECT becomes `…`, and
/// the text is cut at 120 characters.
pub fn abbreviate(statement: &str) -> String {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let mut text = words.join(" ");
    if text.starts_with("SELECT ")
        && let Some(from) = text.find(" FROM ")
        && from > 40
    {
        text = format!("SELECT …{}", &text[from..]);
    }
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strings_are_read_in_sequence() {
        let body = b"portal\0stmt_1\0rest";
        let (portal, next) = c_string(body, 0);
        let (statement, _) = c_string(body, next);
        assert_eq!(portal, "portal");
        assert_eq!(statement, "stmt_1");
    }

    #[test]
    fn long_statements_are_abbreviated() {
        let long = "SELECT ".to_owned() + &"a, ".repeat(60) + "b FROM t WHERE x = $1";
        assert_eq!(abbreviate(&long), "SELECT … FROM t WHERE x = $1");
        let longer = "UPDATE t SET ".to_owned() + &"a = 1, ".repeat(60);
        assert!(abbreviate(&longer).ends_with('…'));
        assert_eq!(abbreviate("SELECT  1"), "SELECT 1");
    }

    #[tokio::test]
    async fn relay_counts_statements_against_postgres() {
        // Runs only where the local PostgreSQL of benches/run accepts connections.
        let Ok(probe) = TcpStream::connect("127.0.0.1:5432").await else {
            return;
        };
        drop(probe);

        let log = StatementLog::default();
        let port = start("127.0.0.1:5432".to_owned(), log.clone())
            .await
            .unwrap();
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
        let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
        else {
            return;
        };

        let before = Instant::now();
        let _: (i32,) = sqlx::query_as("SELECT $1::int4")
            .bind(7)
            .fetch_one(&pool)
            .await
            .unwrap();
        let _: (i32,) = sqlx::query_as("SELECT $1::int4")
            .bind(8)
            .fetch_one(&pool)
            .await
            .unwrap();

        let statements = log.between(before, Instant::now());
        assert_eq!(statements, vec!["SELECT $1::int4".to_owned(); 2]);
    }
}
