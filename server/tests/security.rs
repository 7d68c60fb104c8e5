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
