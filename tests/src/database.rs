//! One fresh, migrated database per test.

use sea_orm::{ConnectionTrait, Database};
use std::path::PathBuf;

/// The variable that switches tests to PostgreSQL.
pub const DATABASE_URL_VARIABLE: &str = "HEADWAY_TEST_DATABASE_URL";

/// A database that exists for one test and is removed when dropped.
pub struct TestDatabase {
    /// The URL the server under test connects to.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase {
        admin_url: String,
        name: String,
    },
    /// Another value owns the database now.
    Handed,
}

impl TestDatabase {
    /// Creates an empty database: a new PostgreSQL database when `HEADWAY_TEST_DATABASE_URL`
    /// is set, otherwise a new SQLite file.
    pub async fn create() -> Self {
        match std::env::var(DATABASE_URL_VARIABLE) {
            Ok(admin_url) if !admin_url.trim().is_empty() => Self::create_postgres(admin_url).await,
            _ => Self::create_sqlite(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::PostgresDatabase { .. })
    }

    /// Another handle on the same database, for a second server; only this value removes
    /// the database.
    pub fn share(&self) -> Self {
        Self {
            url: self.url.clone(),
            cleanup: Cleanup::Handed,
        }
    }

    /// Moves the database out, so that it outlives this value; this value no longer
    /// removes it.
    pub fn hand_over(&mut self) -> Self {
        Self {
            url: self.url.clone(),
            cleanup: std::mem::replace(&mut self.cleanup, Cleanup::Handed),
        }
    }

    fn create_sqlite() -> Self {
        let folder = std::env::temp_dir().join("headway-tests");
        std::fs::create_dir_all(&folder).expect("failed to create the folder for test databases");
        let path = folder.join(format!("{}.db", uuid::Uuid::now_v7().simple()));
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            cleanup: Cleanup::SqliteFile(path),
        }
    }

    async fn create_postgres(admin_url: String) -> Self {
        let name = format!("headway_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(admin_url.as_str()).await.unwrap_or_else(|error| {
            panic!(
                "{DATABASE_URL_VARIABLE} is set to {admin_url}, but PostgreSQL does not answer ({error}); start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or unset the variable to test on SQLite"
            )
        });
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|error| panic!("failed to create the test database {name}: {error}"));
        admin.close().await.ok();
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("{DATABASE_URL_VARIABLE} must end with /DATABASE"),
        };
        Self {
            url,
            cleanup: Cleanup::PostgresDatabase { admin_url, name },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside any async context it could use, so a thread of its own
                // runs the statement on a runtime of its own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async {
                        let admin = Database::connect(admin_url.as_str())
                            .await
                            .map_err(std::io::Error::other)?;
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await
                            .map_err(std::io::Error::other)?;
                        admin.close().await.map_err(std::io::Error::other)
                    })
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop the test database {}", self.url);
                }
            }
            Cleanup::Handed => {}
        }
    }
}
