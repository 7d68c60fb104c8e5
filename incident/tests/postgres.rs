//! The ledger on a real PostgreSQL, started by the test on loopback in a temporary
//! directory (as the `postgres` user when run as root) and stopped at the end.

use incident::Ledger;
use std::path::{Path, PathBuf};
use std::process::Command;

const HINT: &str =
    "PostgreSQL could not be started; scripts/test.sh installs Debian's `postgresql` package";

struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
    as_postgres: bool,
    port: u16,
}

impl Postgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap_or_else(|e| panic!("{HINT}: /usr/lib/postgresql: {e}"))
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .unwrap_or_else(|| panic!("{HINT}: no initdb under /usr/lib/postgresql/*/bin"));
        let as_postgres = rustix_is_root();
        let dir = tempfile::Builder::new()
            .prefix("incident-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "{HINT}: chown to postgres failed");
        }
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let pg = Self {
            bin,
            data,
            _dir: dir,
            as_postgres,
            port,
        };
        pg.run(&[
            "initdb",
            "-D",
            &pg.data.display().to_string(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        let options = format!(
            "-k {} -h 127.0.0.1 -p {} -F",
            pg.socket_dir().display(),
            pg.port
        );
        pg.run(&[
            "pg_ctl",
            "-D",
            &pg.data.display().to_string(),
            "-o",
            &options,
            "-l",
            &pg.data.join("log").display().to_string(),
            "-w",
            "start",
        ]);
        pg
    }

    fn socket_dir(&self) -> &Path {
        self._dir.path()
    }

    fn run(&self, args: &[&str]) {
        let program = self.bin.join(args[0]);
        let output = if self.as_postgres {
            let quoted: Vec<String> = std::iter::once(program.display().to_string())
                .chain(args[1..].iter().map(|a| (*a).to_owned()))
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect();
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", &quoted.join(" ")])
                .output()
        } else {
            Command::new(&program).args(&args[1..]).output()
        };
        let output = output.unwrap_or_else(|e| panic!("{HINT}: {}: {e}", args[0]));
        assert!(
            output.status.success(),
            "{HINT}: {} failed: {}{}",
            args[0],
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let program = self.bin.join("pg_ctl").display().to_string();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("su")
                .args([
                    "postgres",
                    "-s",
                    "/bin/sh",
                    "-c",
                    &format!("'{program}' {}", args.map(|a| format!("'{a}'")).join(" ")),
                ])
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test]
async fn postgres_ledger_round_trips_through_the_engine() {
    let pg = Postgres::start();
    let ledger = Ledger::connect(&pg.url()).await.unwrap();
    assert_eq!(ledger.backend(), incident::Backend::Postgres);
    crate::ledger::exercise(ledger.clone()).await;
    ledger.close().await;
    // Migrations are idempotent on reconnect.
    let again = Ledger::connect(&pg.url()).await.unwrap();
    let (incidents, findings, _) = again.counts().await.unwrap();
    assert_eq!((incidents, findings), (2, 22));
    again.close().await;
}

#[tokio::test]
async fn postgres_rows_from_before_origins_still_load() {
    let pg = Postgres::start();
    let ledger = Ledger::connect(&pg.url()).await.unwrap();
    crate::ledger::legacy_rows_load(ledger.clone(), &pg.url()).await;
    ledger.close().await;
}

#[tokio::test]
async fn postgres_workspace_tables() {
    let pg = Postgres::start();
    let ledger = Ledger::connect(&pg.url()).await.unwrap();
    crate::workspace::exercise_workspace(ledger.clone()).await;
    ledger.close().await;
}
