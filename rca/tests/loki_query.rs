//! The Loki query client against a loopback fake answering `query_range` with Loki's documented
//! JSON: the query sent, headers, paging by time, retries and limits.

use crate::loki_support::{Failure, FakeLoki, Line};
use model::{Classify, ErrorClass};
use rca::loki::{
    LineFilter, LogQuery, LogScope, LokiClient, LokiConfig, QueryError, ScopeLabels, StreamSelector,
};
use std::collections::BTreeMap;
use std::time::Duration;

const T0: i64 = 1_700_000_000_000_000_000;

fn line(pod: &str, ts: i64, text: &str) -> Line {
    Line {
        labels: BTreeMap::from([
            ("namespace".to_owned(), "shop".to_owned()),
            ("pod".to_owned(), pod.to_owned()),
        ]),
        ts,
        line: text.to_owned(),
    }
}

/// Two pods interleaved; two lines share `T0 + 5` across the first page boundary (limit 3).
fn lines() -> Vec<Line> {
    vec![
        line("api-1", T0 - 10, "before the window"),
        line("api-1", T0, "a0"),
        line("api-2", T0 + 1, "b1"),
        line("api-1", T0 + 5, "a5"),
        line("api-2", T0 + 5, "b5"),
        line("api-2", T0 + 7, "b7"),
        line("api-1", T0 + 8, "a8"),
        line("api-1", T0 + 9, "a9"),
        line("api-1", T0 + 100, "after the window"),
    ]
}

fn config(base_url: &str) -> LokiConfig {
    LokiConfig {
        base_url: base_url.to_owned(),
        tenant: Some("team-a".to_owned()),
        bearer_token: Some("tok3n".to_owned()),
        timeout: Duration::from_secs(5),
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        page_limit: 3,
        max_response_bytes: 1 << 20,
        tls: outbound::TlsConfig::default(),
    }
}

fn query(max_entries: usize) -> LogQuery {
    let scope = LogScope {
        namespace: Some("shop".into()),
        pods: vec!["api-1".into(), "api-2".into()],
        services: Vec::new(),
        containers: Vec::new(),
    };
    LogQuery {
        selector: StreamSelector::for_scope(&scope, &ScopeLabels::default()),
        filters: vec![
            LineFilter::NotContains("GET /healthz".into()),
            LineFilter::Matches("(?i)error|timeout \"x\"".into()),
        ],
        start_ns: T0,
        end_ns: T0 + 50,
        max_entries,
    }
}

fn lines_of(pull: &rca::loki::LogPull) -> Vec<(String, i64, String)> {
    let mut out: Vec<(String, i64, String)> = pull
        .batch
        .streams
        .iter()
        .flat_map(|s| {
            let pod = s.labels.get("pod").unwrap_or("").to_owned();
            s.entries
                .iter()
                .map(move |e| (pod.clone(), e.timestamp_ns, e.line.clone()))
        })
        .collect();
    out.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
    out
}

fn expected(lines: &[Line], from: i64, to: i64) -> Vec<(String, i64, String)> {
    let mut out: Vec<(String, i64, String)> = lines
        .iter()
        .filter(|l| l.ts >= from && l.ts < to)
        .map(|l| (l.labels["pod"].clone(), l.ts, l.line.clone()))
        .collect();
    out.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
    out
}

#[tokio::test]
async fn pages_by_time_retries_a_500_and_sends_the_documented_query() {
    let failures = vec![Failure {
        status: 500,
        retry_after: None,
        body: "internal error",
    }];
    let loki = FakeLoki::start_at("/gateway", lines(), failures).await;
    let client = LokiClient::new(config(&loki.base_url)).unwrap();
    let pull = client.query_range(&query(100)).await.unwrap();

    assert_eq!(lines_of(&pull), expected(&lines(), T0, T0 + 50));
    assert_eq!(pull.retries, 1);
    assert!(!pull.truncated);
    // Streams merged over pages, entries in time order.
    assert_eq!(pull.batch.streams.len(), 2);
    for stream in &pull.batch.streams {
        assert!(
            stream
                .entries
                .windows(2)
                .all(|w| w[0].timestamp_ns <= w[1].timestamp_ns)
        );
    }

    let requests = loki.requests();
    // The 500, then pages from T0 and from the last timestamp of each full page. Starting a
    // page at `last + 1` would lose b5, which shares T0+5 with a5 across the first boundary.
    let starts: Vec<i64> = requests
        .iter()
        .map(|r| r.params["start"].parse().unwrap())
        .collect();
    assert_eq!(starts, [T0, T0, T0 + 5, T0 + 7, T0 + 9]);
    assert_eq!(pull.pages, 4);
    for request in &requests {
        assert_eq!(
            request.params["query"],
            r#"{namespace="shop", pod=~"api-1|api-2"} != "GET /healthz" |~ "(?i)error|timeout \"x\"""#
        );
        assert_eq!(request.params["end"], (T0 + 50).to_string());
        assert_eq!(request.params["limit"], "3");
        assert_eq!(request.params["direction"], "forward");
        assert_eq!(request.tenant.as_deref(), Some("team-a"));
        assert_eq!(request.authorization.as_deref(), Some("Bearer tok3n"));
    }
}

#[tokio::test]
async fn max_entries_truncates() {
    let loki = FakeLoki::start(lines(), Vec::new()).await;
    let client = LokiClient::new(config(&loki.base_url)).unwrap();
    let pull = client.query_range(&query(4)).await.unwrap();
    assert_eq!(pull.batch.entry_count(), 4);
    assert!(pull.truncated);
    assert_eq!(
        lines_of(&pull),
        expected(&lines(), T0, T0 + 50)[..4].to_vec()
    );
    // Exactly the window's worth: complete, not truncated.
    let pull = client.query_range(&query(7)).await.unwrap();
    assert_eq!(pull.batch.entry_count(), 7);
    assert!(!pull.truncated);
}

#[tokio::test]
async fn more_lines_at_one_instant_than_a_page_still_ends() {
    let crowd: Vec<Line> = (0..7)
        .map(|i| line("api-1", T0 + 2, &format!("same instant {i}")))
        .chain([line("api-1", T0 + 3, "after")])
        .collect();
    let loki = FakeLoki::start(crowd, Vec::new()).await;
    let client = LokiClient::new(config(&loki.base_url)).unwrap();
    let pull = client.query_range(&query(100)).await.unwrap();
    // Loki cannot page within one instant: the first page of it is kept, then the pull moves on.
    let got = lines_of(&pull);
    assert_eq!(got.len(), 4);
    assert_eq!(got.last().unwrap().2, "after");
    assert_eq!(pull.pages, 3);
}

#[tokio::test]
async fn honours_retry_after_on_429_and_gives_up_after_the_budget() {
    let failures = vec![Failure {
        status: 429,
        retry_after: Some("0"),
        body: "too many outstanding requests",
    }];
    let loki = FakeLoki::start(lines(), failures).await;
    let client = LokiClient::new(config(&loki.base_url)).unwrap();
    let pull = client.query_range(&query(100)).await.unwrap();
    assert_eq!(pull.retries, 1);
    assert_eq!(pull.batch.entry_count(), 7);

    let down = Failure {
        status: 503,
        retry_after: None,
        body: "ingester not ready",
    };
    let loki = FakeLoki::start(lines(), vec![down; 5]).await;
    let client = LokiClient::new(config(&loki.base_url)).unwrap();
    let error = client.query_range(&query(100)).await.unwrap_err();
    assert!(matches!(error, QueryError::Exhausted { attempts: 3, .. }));
    assert_eq!(loki.requests().len(), 3);
    assert!(matches!(error.class(), ErrorClass::Unavailable { .. }));
    assert_eq!(
        crate::loki_support::chain(&error),
        "gave up after 3 attempts: Loki answered HTTP 503: ingester not ready"
    );
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let failures = vec![Failure {
        status: 400,
        retry_after: None,
        body: "parse error at line 1, col 5",
    }];
    let loki = FakeLoki::start(lines(), failures).await;
    let client = LokiClient::new(config(&loki.base_url)).unwrap();
    let error = client.query_range(&query(100)).await.unwrap_err();
    assert!(matches!(error, QueryError::Status { status: 400, .. }));
    assert_eq!(error.class(), ErrorClass::InvalidInput);
    assert_eq!(loki.requests().len(), 1);
}

#[tokio::test]
async fn refuses_oversized_answers_and_bad_setups() {
    let big: Vec<Line> = (0..3)
        .map(|i| line("api-1", T0 + i, &"x".repeat(4096)))
        .collect();
    let loki = FakeLoki::start(big, Vec::new()).await;
    let mut small = config(&loki.base_url);
    small.max_response_bytes = 4096;
    let client = LokiClient::new(small).unwrap();
    let error = client.query_range(&query(100)).await.unwrap_err();
    assert!(matches!(
        error,
        QueryError::ResponseTooLarge { limit: 4096 }
    ));

    let client = LokiClient::new(config(&loki.base_url)).unwrap();
    let mut backwards = query(10);
    backwards.end_ns = backwards.start_ns;
    assert!(matches!(
        client.query_range(&backwards).await,
        Err(QueryError::TimeRange { .. })
    ));
    let mut bad = config("http://127.0.0.1:1");
    bad.tenant = Some("a\nb".into());
    assert!(matches!(
        LokiClient::new(bad),
        Err(QueryError::Header {
            header: "X-Scope-OrgID"
        })
    ));
    assert!(matches!(
        LokiClient::new(config("not a url")),
        Err(QueryError::BaseUrl { .. })
    ));
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    // Bind and drop a listener to get a loopback port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = LokiClient::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let error = client.query_range(&query(10)).await.unwrap_err();
    assert!(matches!(error, QueryError::Exhausted { attempts: 3, .. }));
    assert!(
        crate::loki_support::chain(&error)
            .starts_with("gave up after 3 attempts: request to Loki failed")
    );
}
