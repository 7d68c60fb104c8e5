//! Crash safety: a child process commits incidents in a loop, printing each id after its
//! commit; it is killed with SIGKILL at random points, and every printed id must survive
//! with the database passing `PRAGMA integrity_check`.

use crate::common::candidate;
use incident::{CorrelatorConfig, IncidentEngine, Ledger};
use model::{IncidentType, Scope};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CHILD_DIR: &str = "INCIDENT_CRASH_CHILD_DIR";
const PREFIX: &str = "COMMITTED ";

/// The writer run by the child process (ignored in normal runs; the parent runs it).
#[tokio::test]
#[ignore = "child process of sqlite_ledger_survives_kill_9"]
async fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let ledger = Ledger::open_dir(std::path::Path::new(&dir)).await.unwrap();
    let engine = IncidentEngine::open(ledger, CorrelatorConfig::default())
        .await
        .unwrap();
    let pid = std::process::id();
    let mut stdout = std::io::stdout();
    for i in 0i64.. {
        let target = format!("svc-{pid}-{i}");
        let at = 1_767_574_800_000 + i * 1_000;
        let changes = engine
            .submit(vec![candidate(
                IncidentType::LatencySpike,
                Scope::Deployment,
                &target,
                Some("crash"),
                None,
                at,
            )])
            .await
            .unwrap();
        writeln!(stdout, "{PREFIX}{}", changes[0].incident.id).unwrap();
        stdout.flush().unwrap();
    }
}

#[tokio::test]
async fn sqlite_ledger_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill schedule seed {seed}");
    let mut committed = Vec::new();
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "crash::child_writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix(PREFIX) {
                    let _ = tx.send(id.to_owned());
                }
            }
        });
        // Wait for the first commit, then let it run a random while before killing it.
        let first = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("child committed nothing");
        committed.push(first);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(20 + seed % 400);
        std::thread::sleep(wait);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let before = committed.len();
        committed.extend(rx.try_iter());
        println!(
            "round {round}: killed after {wait:?}, {} commits acknowledged",
            committed.len() - before + 1
        );
    }
    let ledger = Ledger::open_dir(dir.path()).await.unwrap();
    assert_eq!(ledger.integrity_check().await.unwrap(), "ok");
    let mut missing = Vec::new();
    for id in &committed {
        if ledger.incident(id).await.unwrap().is_none() {
            missing.push(id.clone());
        }
    }
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let (incidents, _, _) = ledger.counts().await.unwrap();
    assert!(incidents >= committed.len() as u64);
    println!(
        "{} acknowledged incidents over 6 kills, all present",
        committed.len()
    );
}
