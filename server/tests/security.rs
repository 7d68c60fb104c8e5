//! What the server refuses to do for a caller: SQL that is not a query, SQL over its limits.

use crate::common::*;

const T0: i64 = 1_700_000_000_000;

async fn post_sql(
    client: &reqwest::Client,
    url: &str,
    query: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = client
        .post(format!("{url}/api/v1/sql"))
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn sql_answers_only_queries_and_names_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.sql.max_result_rows = 10;
    let server = start(config).await;
    let client = client();
    let body = ingest::encode_v1(&v1_request("test_metric", 10, 4, T0));
    assert_eq!(post_v1(&client, &server.url(), body).await.status(), 204);

    let target = dir.path().join("written.csv");
    let probes = [
        format!(
            "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
            target.display()
        ),
        "CREATE TABLE t AS SELECT 1".to_owned(),
        "SET datafusion.execution.batch_size = 1".to_owned(),
        "INSERT INTO samples SELECT * FROM samples".to_owned(),
    ];
    for probe in &probes {
        let (status, body) = post_sql(&client, &server.url(), probe).await;
        assert_eq!(status, 400, "{probe}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("only SELECT queries are allowed"),
            "{probe}: {body}"
        );
    }
    assert!(!target.exists(), "COPY wrote {}", target.display());

    let (status, body) = post_sql(&client, &server.url(), "SELECT * FROM samples").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("[sql] max_result_rows = 10"),
        "{body}"
    );
    let (status, body) = post_sql(
        &client,
        &server.url(),
        "SELECT count(*) AS n FROM samples WHERE metric = 'test_metric'",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["rows"][0]["n"], 40, "{body}");
}

fn srebot_audit_verify(dir: &std::path::Path, key: Option<&std::path::Path>) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_srebot"));
    command.args(["audit", "verify", "--data-dir"]).arg(dir);
    if let Some(key) = key {
        command.arg("--key-file").arg(key);
    }
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_is_keyed_exported_and_verified_with_the_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples");
    let mut config = test_config(&data);
    config.policy.file = Some(examples.join("demo.toml"));

    // A key others may read is refused at start, naming the fix.
    let key = audit_key(&data);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = server::serve::start(config.clone()).await.err().unwrap();
    assert!(format!("{refused:#}").contains("chmod 600"), "{refused:#}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut keyless = config.clone();
    keyless.policy.audit_key_file = None;
    let refused = server::serve::start(keyless).await.err().unwrap();
    assert!(
        format!("{refused:#}").contains("audit_key_file is required"),
        "{refused:#}"
    );

    let server = start(config).await;
    let client = client();
    let paused = client
        .post(format!("{}/api/v1/robot/pause", server.url()))
        .json(&serde_json::json!({"reason": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 200);
    let metrics = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("srebot_audit_head_seq 0"), "{metrics}");
    server.task.abort();

    let (ok, text) = srebot_audit_verify(&data, Some(&key));
    assert!(ok, "{text}");
    assert!(
        text.contains("1 entries, chain intact under the key"),
        "{text}"
    );
    let (ok, text) = srebot_audit_verify(&data, None);
    assert!(!ok && text.contains("give --key-file"), "{text}");

    // Someone who can write the data dir rewrites the entry and recomputes the chain and its
    // head without the key: only the key tells.
    let path = data.join(policy::audit::AUDIT_FILE);
    let mut entry: policy::AuditEntry =
        serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    entry.record.who = "nobody".into();
    entry.keyed = false;
    entry.hash = policy::audit::entry_hash(entry.seq, &entry.record, &entry.prev_hash);
    std::fs::write(&path, serde_json::to_string(&entry).unwrap() + "\n").unwrap();
    std::fs::write(
        data.join("audit.jsonl.head"),
        serde_json::json!({"seq": 0, "hash": entry.hash}).to_string(),
    )
    .unwrap();
    let (ok, text) = srebot_audit_verify(&data, Some(&key));
    assert!(!ok, "{text}");
    assert!(text.contains("no keyed entry"), "{text}");
}
