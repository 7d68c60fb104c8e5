//! Incidents end to end over real sockets: a recorded fault pushed as remote_write 2.0 opens
//! exactly one incident of its type, a healthy recording opens none, and Debian's real
//! Alertmanager posting its webhook joins the same correlation.

use crate::common::*;
use datasets::scenarios::{Fault, generate};
use server::replay::Sender;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_over_remote_write_opens_exactly_one_incident_of_its_type() {
    for (fault, expect_one) in [(Fault::CrashLoop, true), (Fault::HealthyGcSawtooth, false)] {
        let dir = tempfile::tempdir().unwrap();
        let server = start(test_config(dir.path())).await;
        let scenario = generate(fault, 7);
        let sender = Sender::new(&server.url(), None).unwrap();
        let pushed = sender.push(&scenario, 0).await.unwrap();
        assert_eq!(pushed.samples, scenario.sample_count());
        assert_eq!(
            pushed.written, pushed.samples,
            "a fresh server keeps every sample"
        );

        let incidents = sender.incidents("").await.unwrap();
        if !expect_one {
            assert!(incidents.is_empty(), "{}: {incidents:?}", fault.name());
            continue;
        }
        assert_eq!(incidents.len(), 1, "{}: {incidents:#?}", fault.name());
        let incident = &incidents[0];
        let expected = &scenario.meta.expected[0];
        assert_eq!(incident["type"], expected.incident_type.as_str());
        assert_eq!(incident["target"]["name"], expected.target.as_str());
        assert!(incident["candidate_count"].as_u64().unwrap() > 1);
        for key in [
            "id",
            "type",
            "domain",
            "severity",
            "status",
            "target",
            "opened_at",
            "updated_at",
            "summary",
            "candidate_count",
        ] {
            assert!(incident.get(key).is_some(), "summary lacks {key}");
        }

        let client = client();
        let id = incident["id"].as_str().unwrap();
        let detail = get_data(&client, &format!("{}/api/v1/incidents/{id}", server.url())).await;
        let findings = detail["findings"].as_array().unwrap();
        assert!(!findings.is_empty());
        let evidence = &findings[0]["candidate"]["evidence"]["metrics"][0];
        assert!(evidence["rule"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(evidence["window"].as_str().is_some());
        assert!(!detail["timeline"].as_array().unwrap().is_empty());

        // The draft cites only evidence it carries, and offers typed actions.
        let rca = get_data(
            &client,
            &format!("{}/api/v1/incidents/{id}/rca", server.url()),
        )
        .await;
        let draft = &rca["draft"];
        let causes = draft["root_causes"].as_array().unwrap();
        assert!(!causes.is_empty(), "{rca}");
        let known: Vec<&str> = draft["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["id"].as_str())
            .collect();
        for cause in causes {
            for cited in cause["evidence"].as_array().unwrap() {
                assert!(known.contains(&cited.as_str().unwrap()), "{cited} in {rca}");
            }
        }
        assert!(!draft["recommended_actions"].as_array().unwrap().is_empty());

        let filtered = get_data(
            &client,
            &format!("{}/api/v1/incidents?status=resolved", server.url()),
        )
        .await;
        assert_eq!(filtered.as_array().unwrap().len(), 0);
        let bad = client
            .get(format!("{}/api/v1/incidents?severity=dire", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        assert!(bad.text().await.unwrap().contains("dire"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_alertmanager_webhooks_become_one_incident() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let port = free_port();
    let cluster_port = free_port();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: srebot\n  group_by: ['alertname', 'namespace', 'pod']\n  \
             group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: srebot\n    webhook_configs:\n      - url: {}/api/v1/alerts/alertmanager\n        send_resolved: true\n",
            server.url()
        ),
    )
    .unwrap();
    let _alertmanager = spawn(
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.path().join("am").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--cluster.listen-address=127.0.0.1:{cluster_port}"),
        ],
        &dir.path().join("alertmanager.log"),
    );
    let client = client();
    let am = format!("http://127.0.0.1:{port}");
    wait_for("alertmanager to start", Duration::from_secs(30), || async {
        let ready = client.get(format!("{am}/-/ready")).send().await.ok()?;
        ready.status().is_success().then_some(())
    })
    .await;

    // Two alerts about the same crash-looping pod: one incident, both findings in it.
    let alerts = serde_json::json!([
        {"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-7d4b9c6f5-x2x9q", "container": "cart", "severity": "warning"},
         "annotations": {"summary": "Pod shop/cart is crash looping"}},
        {"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-7d4b9c6f5-x2x9q", "container": "sidecar", "severity": "critical"},
         "annotations": {"summary": "Pod shop/cart sidecar is crash looping"}}
    ]);
    let posted = client
        .post(format!("{am}/api/v2/alerts"))
        .json(&alerts)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());

    let url = format!("{}/api/v1/incidents", server.url());
    let incidents = wait_for(
        "an incident from Alertmanager",
        Duration::from_secs(60),
        || async {
            let data = get_data(&client, &url).await;
            let list = data.as_array()?.clone();
            (!list.is_empty()).then_some(list)
        },
    )
    .await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(incidents[0]["type"], "crash_loop");
    assert_eq!(incidents[0]["target"]["namespace"], "shop");
    let log = std::fs::read_to_string(dir.path().join("alertmanager.log")).unwrap_or_default();
    assert!(!log.contains("level=error"), "{log}");
}

/// `serve --demo`: with nothing pointed at it, the demo scenarios chained up to the present
/// open one incident each, of the scenario's type and on its target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_opens_one_incident_per_demo_scenario() {
    let dir = tempfile::tempdir().unwrap();
    // The defaults a user gets, self-scrape included; only the port and data dir differ.
    let mut config = server::config::Config::default();
    config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.server.data_dir = dir.path().to_owned();
    let server = server::serve::start_demo(config, 7).await.unwrap();
    let sender = Sender::new(&server.url(), None).unwrap();
    let incidents = sender.incidents("").await.unwrap();
    let mut found: Vec<(String, String)> = incidents
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_owned(),
                i["target"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let mut expected: Vec<(String, String)> = server::serve::DEMO_SCENARIOS
        .iter()
        .flat_map(|name| server::replay::load(name, 7).unwrap().meta.expected)
        .map(|e| (e.incident_type.as_str().to_owned(), e.target))
        .collect();
    expected.sort();
    assert_eq!(found, expected, "{incidents:#?}");
}

/// A recording pushed behind what a server already holds is counted as not kept (from the
/// server's `X-Prometheus-Remote-Write-Samples-Written`), so `srebot replay --url` can say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_behind_the_servers_data_reports_what_was_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let scenario = generate(Fault::CrashLoop, 7);
    let sender = Sender::new(&server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let again = sender.push(&scenario, -3_600_000).await.unwrap();
    assert_eq!(again.samples, scenario.sample_count());
    assert!(
        again.written < again.samples / 2,
        "kept {} of {}",
        again.written,
        again.samples
    );
}

/// With an `[anomaly]` section the streaming detectors run in the same event-time loop as the
/// rules, and what they find joins the same correlation (evidence named by detector).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomaly_detectors_feed_the_same_correlation_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.anomaly = Some(anomaly::AnomalyConfig::default());
    let server = start(config).await;
    let scenario = generate(Fault::LatencySpike, 7);
    let sender = Sender::new(&server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let findings = get_data(
        &client(),
        &format!("{}/api/v1/candidates?limit=500", server.url()),
    )
    .await;
    // A model's finding reaches correlation beside the rule's finding it agrees with (in its
    // evidence), or on its own when sustained.
    let detectors: Vec<String> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["candidate"]["evidence"]["metrics"].as_array())
        .flatten()
        .filter_map(|m| m["rule"].as_str())
        .filter(|rule| anomaly::DETECTOR_NAMES.contains(rule))
        .map(str::to_owned)
        .collect();
    assert!(!detectors.is_empty(), "no detector finding: {findings:#}");
    assert!(
        server
            .state
            .app
            .pipeline
            .candidates_total
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

/// Operator rules reload by API and by SIGHUP; a bad file is refused with its line and the
/// rules in force stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_reload_by_api_and_sighup_keeps_the_old_rules_on_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let rule = |name: &str| {
        format!(
            "[[rule]]\nname = \"{name}\"\ntype = \"latency_spike\"\nseverity = \"warning\"\n\
             select = 'http_request_duration_seconds{{quantile=\"0.99\"}}'\nby = [\"service\"]\n\
             window = \"5m\"\ncondition = {{ kind = \"threshold\", aggregate = \"max\", op = \">\", value = 2.0 }}\n\
             target = {{ scope = \"service\", label = \"service\" }}\n\n"
        )
    };
    std::fs::write(&rules, rule("slow_checkout")).unwrap();
    let mut config = test_config(dir.path());
    config.detect.rules_file = Some(rules.clone());
    let server = start(config).await;
    let client = client();
    let status = |c: reqwest::Client, url: String| async move {
        get_data(&c, &format!("{url}/api/v1/status")).await["rules"]
            .as_u64()
            .unwrap()
    };
    let base = status(client.clone(), server.url()).await;

    std::fs::write(&rules, rule("slow_checkout") + &rule("slow_cart")).unwrap();
    let reloaded = client
        .post(format!("{}/api/v1/rules/reload", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200);
    assert_eq!(status(client.clone(), server.url()).await, base + 1);

    std::fs::write(
        &rules,
        "[[rule]]\nname = \"broken\"\nwindow = \"5 parsecs\"\n",
    )
    .unwrap();
    let refused = client
        .post(format!("{}/api/v1/rules/reload", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let text = refused.text().await.unwrap();
    assert!(text.contains("rules.toml:"), "{text}");
    assert_eq!(status(client.clone(), server.url()).await, base + 1);

    // SIGHUP re-reads the file as the API does.
    std::fs::write(&rules, rule("slow_checkout")).unwrap();
    // Our own process: the server installed its SIGHUP handler at start.
    let pid = std::process::id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut now = 0;
    for _ in 0..50 {
        now = status(client.clone(), server.url()).await;
        if now == base {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(now, base, "SIGHUP did not reload");
}

/// The live draft reads the rollout that preceded a crash loop from the windows (generation
/// bump, new image) as a change-impact hypothesis citing it, and a recurrence hours later
/// recalls the first incident of the same signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_cites_the_preceding_rollout_and_recalls_the_same_problem_before() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let scenario = generate(Fault::CrashLoop, 7);
    let sender = Sender::new(&server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let first = sender.incidents("").await.unwrap();
    assert_eq!(first.len(), 1, "{first:#?}");
    let first_id = first[0]["id"].as_str().unwrap().to_owned();

    let client = client();
    let rca = get_data(
        &client,
        &format!("{}/api/v1/incidents/{first_id}/rca", server.url()),
    )
    .await;
    let draft = &rca["draft"];
    let changes: Vec<&serde_json::Value> = draft["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"].as_str().unwrap().starts_with("chg-"))
        .collect();
    let summaries: Vec<&str> = changes
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert!(
        summaries.iter().any(|s| s.contains("generation 4 -> 5")),
        "{summaries:?}"
    );
    assert!(
        summaries.iter().any(|s| s.contains(":1.4.3 first seen")),
        "{summaries:?}"
    );
    let change_hypothesis = draft["root_causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["cause"] == "change_impact")
        .unwrap_or_else(|| panic!("no change-impact hypothesis: {draft:#}"));
    assert!(
        change_hypothesis["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id.as_str().unwrap().starts_with("chg-")),
        "{change_hypothesis:#}"
    );
    assert!(draft["similar_incidents"].as_array().unwrap().is_empty());

    // The same fault again, three recordings later: a new incident, the same signature.
    let span = scenario.meta.end_ms - scenario.meta.start_ms;
    sender.push(&scenario, 3 * span).await.unwrap();
    let all = sender.incidents("").await.unwrap();
    let second = all
        .iter()
        .find(|i| i["id"] != first_id.as_str())
        .unwrap_or_else(|| panic!("no second incident: {all:#?}"));
    let second_id = second["id"].as_str().unwrap();
    let rca = get_data(
        &client,
        &format!("{}/api/v1/incidents/{second_id}/rca", server.url()),
    )
    .await;
    let similar = rca["draft"]["similar_incidents"].as_array().unwrap();
    assert_eq!(similar.len(), 1, "{similar:#?}");
    assert_eq!(similar[0]["id"], first_id.as_str());
    assert_eq!(similar[0]["matched_on"], "signature");
    assert!(similar[0]["fix"].as_str().unwrap().contains("resolved"));
}

/// A leak of 2 MiB/min towards a 1 GiB limit with 3 MB of noise, in cAdvisor and
/// kube-state-metrics names (`container_memory_working_set_bytes`,
/// `kube_pod_container_resource_limits{resource="memory"}`), pushed over remote_write, opens
/// exactly one `memory_leak` incident whose summary says when the limit is reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_leak_opens_one_memory_leak_incident_that_names_the_time_to_its_limit() {
    use datasets::families::{Leak, leak};
    const MIB: f64 = 1_048_576.0;
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let scenario = leak(
        Leak {
            bytes_per_minute: 2.0 * MIB,
            limit_bytes: Some(1024.0 * MIB),
            start_bytes: 520.0 * MIB,
            noise_bytes: 3e6,
        },
        2,
        16,
    );
    let names: Vec<&str> = scenario
        .series
        .iter()
        .map(|s| s.labels.metric_name())
        .collect();
    assert!(names.contains(&"container_memory_working_set_bytes"));
    assert!(scenario.series.iter().any(|s| {
        s.labels.metric_name() == "kube_pod_container_resource_limits"
            && s.labels.get("resource") == Some("memory")
    }));
    let sender = Sender::new(&server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let incidents = sender.incidents("").await.unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = &incidents[0];
    let expected = &scenario.meta.expected[0];
    assert_eq!(incident["type"], "memory_leak", "{incident:#}");
    assert_eq!(incident["target"]["name"], expected.target.as_str());
    let summary = incident["summary"].as_str().unwrap();
    let rate: f64 = summary
        .split_once(": at ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    assert!((1.8..2.2).contains(&rate), "{summary}");
    assert!(summary.contains(" MiB/min "), "{summary}");
    assert!(
        summary.contains("reaches its 1 GiB memory limit in about"),
        "{summary}"
    );
    assert!(!summary.contains("slope"), "{summary}");
    eprintln!("summary: {summary}");
    // The evidence carries the time to the limit as a number too.
    let detail = get_data(
        &client(),
        &format!(
            "{}/api/v1/incidents/{}",
            server.url(),
            incident["id"].as_str().unwrap()
        ),
    )
    .await;
    let evidence = &detail["findings"][0]["candidate"]["evidence"]["metrics"][0];
    assert_eq!(evidence["aggregate"], "seconds_to_limit", "{evidence:#}");
    let seconds = evidence["observed"].as_f64().unwrap();
    assert!(
        (2.0 * 3600.0..5.0 * 3600.0).contains(&seconds),
        "{seconds} s to the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_findings_join_the_correlation_and_bad_ones_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let http = client();
    let url = format!("{}/api/v1/findings", server.url());
    let finding = |status: &str, name: &str| {
        serde_json::json!({
            "type": "dependency_unavailable",
            "target": {"kind": "service", "namespace": "shop", "name": name},
            "severity": "critical", "status": status, "reporter": "redis-watcher",
            "summary": "PING timed out three times",
            "evidence": [{"reason": "ProbeFailed", "message": "dial tcp 10.0.3.7:6379: i/o timeout"}]
        })
    };
    // A bad finding beside a good one: 400 naming it, and neither is taken.
    let mut bad = finding("firing", "orders-db");
    bad["severity"] = "dire".into();
    let refused = http
        .post(&url)
        .json(&serde_json::json!({"version": 1, "findings": [finding("firing", "redis"), bad]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let text = refused.text().await.unwrap();
    assert!(text.contains("findings[1].severity"), "{text}");
    let incidents = get_data(&http, &format!("{}/api/v1/incidents", server.url())).await;
    assert_eq!(incidents.as_array().unwrap().len(), 0, "{incidents}");

    // A good one opens its incident, of origin `findings`, in the tenant's source.
    let posted = http
        .post(&url)
        .header("X-Scope-OrgID", "prod-eu")
        .json(&serde_json::json!({"version": 1, "findings": [finding("firing", "redis")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let body: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(body["data"]["findings"], 1, "{body}");
    let incidents = get_data(&http, &format!("{}/api/v1/incidents", server.url())).await;
    let list = incidents.as_array().unwrap();
    assert_eq!(list.len(), 1, "{incidents}");
    assert_eq!(list[0]["type"], "dependency_unavailable");
    assert_eq!(list[0]["source"], "prod-eu");
    assert_eq!(
        list[0]["origins"],
        serde_json::json!(["findings"]),
        "{incidents}"
    );
    let detail = get_data(
        &http,
        &format!(
            "{}/api/v1/incidents/{}",
            server.url(),
            list[0]["id"].as_str().unwrap()
        ),
    )
    .await;
    assert!(
        detail
            .to_string()
            .contains("dial tcp 10.0.3.7:6379: i/o timeout"),
        "{detail}"
    );
    // The watcher sees it over: a healthy finding is a healthy signal, never a new incident.
    let healed = http
        .post(&url)
        .header("X-Scope-OrgID", "prod-eu")
        .json(&serde_json::json!({"version": 1, "findings": [finding("healthy", "redis")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(healed.status(), 200);
    let incidents = get_data(&http, &format!("{}/api/v1/incidents", server.url())).await;
    assert_eq!(incidents.as_array().unwrap().len(), 1, "{incidents}");
}
