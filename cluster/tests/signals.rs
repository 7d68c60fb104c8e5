//! Kubernetes events and held state as candidates, end to end: recorded events posted to the
//! fake API server arrive over a watch stream, are judged, and correlate into incidents.

use crate::fake_k8s::{self, fixture};
use crate::support::{correlate, recent, spec, summary, watch};
use model::{IncidentType, Origin, Scope, Severity, Signal};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_pressure_episode_is_one_node_disk_pressure_incident_with_its_events() {
    let (fake, url) = fake_k8s::start().await;
    let mut w = watch(spec(&url)).await;
    // The episode happens while srebot watches: over the watch stream.
    fake.apply(recent(fixture("events-disk-pressure.json"), 30_000));
    w.until("the three evictions", |seen| {
        seen.iter()
            .filter(|c| c.detector == "kube_event/Evicted")
            .count()
            == 3
    })
    .await;
    w.until("the node's condition", |seen| {
        seen.iter()
            .any(|c| c.detector == "kube_state/node_diskpressure")
    })
    .await;
    assert!(
        w.seen
            .iter()
            .all(|c| c.incident_type == IncidentType::NodeDiskPressure),
        "{:#?}",
        summary(&w.seen)
    );
    assert!(w.seen.iter().all(|c| c.origin == Origin::Kubernetes));
    let (correlator, incidents) = correlate(&w.seen);
    assert_eq!(
        incidents.len(),
        1,
        "{:#?}",
        w.seen
            .iter()
            .map(|c| (c.detected_at_ms, c.detector.clone()))
            .collect::<Vec<_>>()
    );
    let incident = &incidents[0];
    assert_eq!(incident.incident_type, IncidentType::NodeDiskPressure);
    assert_eq!(incident.target.kind, Scope::Node);
    assert_eq!(incident.target.name, "worker-2");
    assert_eq!(incident.severity, Severity::Critical, "pods were evicted");
    let evidence: Vec<_> = correlator
        .findings(&incident.id)
        .unwrap()
        .flat_map(|f| f.candidate.evidence.events.clone())
        .collect();
    let reasons: BTreeMap<&str, usize> = evidence.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.reason.as_str()).or_default() += 1;
        m
    });
    assert_eq!(
        reasons,
        BTreeMap::from([
            ("DiskPressure", 1),
            ("EvictionThresholdMet", 1),
            ("Evicted", 3),
            ("FreeDiskSpaceFailed", 1),
            ("NodeHasDiskPressure", 1),
        ]),
        "every event of the episode is evidence, the normal Pulled event is not"
    );
    let eviction = evidence.iter().find(|e| e.reason == "Evicted").unwrap();
    assert_eq!(eviction.labels.get("node"), Some("worker-2"));
    assert_eq!(eviction.labels.get("cluster"), Some("test"));
    assert_eq!(eviction.labels.get("source"), Some("test-src"));
    assert!(
        eviction.message.contains("ephemeral-storage"),
        "{}",
        eviction.message
    );
    let repeated = evidence
        .iter()
        .find(|e| e.reason == "EvictionThresholdMet")
        .unwrap();
    assert!(repeated.message.contains("4 times"), "{}", repeated.message);

    // The pressure clears: the held condition reports healthy once.
    fake.patch(
        "/api/v1/nodes/worker-2",
        &json!({"status": {"conditions": [
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
             "message": "kubelet has no disk pressure", "lastTransitionTime": "2026-11-23T10:30:00Z"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
             "lastTransitionTime": "2026-10-01T12:01:00Z"}]}}),
    );
    w.until("the healthy signal", |seen| {
        seen.iter()
            .any(|c| c.signal == Signal::Healthy && c.target == "worker-2")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_image_pull_message_class_is_classified_with_its_registry() {
    let (fake, url) = fake_k8s::start().await;
    let mut w = watch(spec(&url)).await;
    fake.apply(recent(fixture("events-image-pull.json"), 30_000));
    // The seeded worker-2 holds DiskPressure, which the held-state watch may report at any
    // moment: only the pull failures are this test's subject.
    let pulls = |seen: &[model::IncidentCandidate]| {
        seen.iter()
            .filter(|c| c.incident_type == IncidentType::ImagePullFailure)
            .count()
    };
    w.until("nine pull failures", |seen| pulls(seen) >= 9).await;
    let by_pod: BTreeMap<(String, String), (String, String, String)> = w
        .seen
        .iter()
        .filter(|c| c.origin == Origin::Kubernetes && c.scope == Scope::Pod)
        .map(|c| {
            assert_eq!(c.incident_type, IncidentType::ImagePullFailure);
            let e = &c.evidence.events[0];
            let label = |k: &str| e.labels.get(k).unwrap_or("").to_owned();
            (
                (c.target.clone(), e.reason.clone()),
                (label("class"), label("registry"), label("image")),
            )
        })
        .collect();
    let want = [
        (
            "web-5d8f7c6b9-rl4zx",
            "Failed",
            "registry_rate_limit",
            "docker.io",
            "nginx:1.27",
        ),
        (
            "builder-6f7d8c9b5-q2w3e",
            "Failed",
            "registry_auth",
            "registry.gitlab.com",
            "registry.gitlab.com/acme/builder:2.1",
        ),
        (
            "api-7c8d9e6f5-z9y8x",
            "Failed",
            "registry_auth",
            "ghcr.io",
            "ghcr.io/acme/api:3.2",
        ),
        (
            "private-5b6c7d8e9-a1b2c",
            "Failed",
            "registry_auth",
            "docker.io",
            "acme/private:1.0",
        ),
        (
            "cart-5c6b7f9d84-m2n3p",
            "Failed",
            "image_tag_missing",
            "ghcr.io",
            "ghcr.io/example/cart:1.5.0-rc9",
        ),
        (
            "ledger-7f8e9d6c5-p0o9i",
            "Failed",
            "image_tag_missing",
            "quay.io",
            "quay.io/acme/ledger:9",
        ),
        (
            "mirror-6c5d4e3f2-u7y6t",
            "Failed",
            "registry_unreachable",
            "registry.internal:5000",
            "registry.internal:5000/acme/mirror:1",
        ),
        // The back-off says nothing of why: the pod's last classified failure does.
        (
            "web-5d8f7c6b9-rl4zx",
            "BackOff",
            "registry_rate_limit",
            "docker.io",
            "nginx:1.27",
        ),
    ];
    for (pod, reason, class, registry, image) in want {
        assert_eq!(
            by_pod.get(&(pod.to_owned(), reason.to_owned())),
            Some(&(class.to_owned(), registry.to_owned(), image.to_owned())),
            "{pod} {reason}"
        );
    }
    let rate_limited = w
        .seen
        .iter()
        .find(|c| c.target == "web-5d8f7c6b9-rl4zx")
        .unwrap();
    assert_eq!(rate_limited.detector, "kube_image_pull/registry_rate_limit");
    assert_eq!(rate_limited.node.as_deref(), Some("worker-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_events_raise_crash_loops_ooms_nodes_not_ready_pending_pods_and_job_failures() {
    let (fake, url) = fake_k8s::start().await;
    let mut w = watch(spec(&url)).await;
    fake.apply(recent(fixture("events-workloads.json"), 30_000));
    // Every class the recording holds, in whatever order the judge raises them.
    w.until("every class of the recording", |seen| {
        [
            IncidentType::JobFailures,
            IncidentType::PodsPending,
            IncidentType::CrashLoop,
            IncidentType::OomKilled,
            IncidentType::NodeNotReady,
        ]
        .iter()
        .all(|t| seen.iter().any(|c| c.incident_type == *t))
    })
    .await;
    w.drain(Duration::from_millis(500)).await;
    // Distinct pieces of evidence per finding (a repeated event is raised at its first and
    // its last occurrence, with the same evidence).
    let mut ids: BTreeMap<(IncidentType, Scope, String), std::collections::BTreeSet<String>> =
        BTreeMap::new();
    for c in w
        .seen
        .iter()
        .filter(|c| c.detector.starts_with("kube_event/"))
    {
        ids.entry((c.incident_type, c.scope, c.target.clone()))
            .or_default()
            .extend(c.evidence.events.iter().map(|e| e.id.clone()));
    }
    let found: BTreeMap<_, usize> = ids.into_iter().map(|(k, v)| (k, v.len())).collect();
    assert_eq!(
        found,
        BTreeMap::from([
            (
                (
                    IncidentType::CrashLoop,
                    Scope::Pod,
                    "worker-5f6d8c7b9-abc12".into()
                ),
                1
            ),
            ((IncidentType::OomKilled, Scope::Node, "worker-1".into()), 1),
            (
                (IncidentType::NodeNotReady, Scope::Node, "worker-3".into()),
                1
            ),
            (
                (
                    IncidentType::PodsPending,
                    Scope::Pod,
                    "search-6b8d7c9f5-x8z7w".into()
                ),
                1
            ),
            // Raised at the third failed run of CronJob report, with all three as evidence.
            ((IncidentType::JobFailures, Scope::Job, "report".into()), 3),
        ]),
        "{:#?}",
        summary(&w.seen)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_churn_is_many_events_in_a_minute_from_one_controller() {
    let (fake, url) = fake_k8s::start().await;
    let mut w = watch(spec(&url)).await;
    // Everything in one minute, well inside the lookback.
    let now = cluster::signal::now_ms();
    let at = crate::support::rfc3339(now - now.rem_euclid(60_000) + 1_000);
    let burst = |controller: &str, n: usize| {
        let items: Vec<_> = (0..n)
            .map(|i| json!({
                "metadata": {"name": format!("run-{controller}-{i}.18800"), "namespace": "ci",
                             "uid": format!("{controller}-{i:04}"), "creationTimestamp": at},
                "involvedObject": {"kind": "TaskRun", "namespace": "ci", "name": format!("run-{i}"),
                                   "apiVersion": "tekton.dev/v1"},
                "reason": "Running", "message": "Not all Steps in the Task have finished executing",
                "source": {"component": controller}, "firstTimestamp": at, "lastTimestamp": at,
                "count": 1, "type": "Normal", "reportingComponent": controller, "reportingInstance": ""}))
            .collect();
        json!({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items})
    };
    // Below the floor of 60 a minute: nothing.
    fake.apply(burst("quiet-controller", 40));
    // Over it: one candidate for that minute, however many more come.
    fake.apply(burst("tekton-pipelines-controller", 150));
    w.until("the churn", |seen| {
        seen.iter()
            .any(|c| c.incident_type == IncidentType::ControllerChurn)
    })
    .await;
    w.drain(Duration::from_millis(500)).await;
    let churn: Vec<_> = w
        .seen
        .iter()
        .filter(|c| c.incident_type == IncidentType::ControllerChurn)
        .collect();
    assert_eq!(churn.len(), 1, "{:#?}", summary(&w.seen));
    assert_eq!(churn[0].target, "tekton-pipelines-controller");
    assert_eq!(churn[0].scope, Scope::Cluster);
    assert!(
        churn[0].evidence.events[0]
            .message
            .contains("60 events in one minute"),
        "raised when it crossed the floor: {}",
        churn[0].evidence.events[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_events_listed_at_start_raise_nothing_and_a_relist_raises_nothing_twice() {
    let (fake, url) = fake_k8s::start().await;
    // Recorded hours ago: listed at start, kept for tools, not raised.
    fake.apply(recent(fixture("events-image-pull.json"), 3 * 3_600_000));
    // Recent: raised once.
    fake.apply(recent(fixture("events-workloads.json"), 10_000));
    let mut w = watch(spec(&url)).await;
    w.until("the crash loop", |seen| {
        seen.iter().any(|c| c.detector == "kube_event/BackOff")
    })
    .await;
    w.drain(Duration::from_millis(500)).await;
    assert!(
        w.firing("kube_image_pull").is_empty(),
        "{:#?}",
        summary(&w.seen)
    );
    let state = w.watch.state();
    assert!(
        state.read().events.len() >= 16,
        "old events are kept for tools"
    );
    let raised = w.firing("kube_event/").len();
    // The API server forgets the watch history: the watch lists again, nothing is raised twice.
    fake.expire("/api/v1/events");
    for _ in 0..100 {
        if state.read().status[&cluster::Kind::Events].lists >= 2 {
            break;
        }
        w.drain(Duration::from_millis(100)).await;
    }
    assert!(state.read().status[&cluster::Kind::Events].lists >= 2);
    w.drain(Duration::from_millis(500)).await;
    assert_eq!(
        w.firing("kube_event/").len(),
        raised,
        "{:#?}",
        summary(&w.seen)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_are_two_sources_and_their_nodes_never_merge() {
    let (_eu_fake, eu_url) = fake_k8s::start().await;
    let (_us_fake, us_url) = fake_k8s::start().await;
    let mut eu = spec(&eu_url);
    eu.name = "eu".into();
    eu.source = Some("eu-1".into());
    let mut us = spec(&us_url);
    us.name = "us".into();
    us.source = Some("us-1".into());
    cluster::config::validate(&[eu.clone(), us.clone()], &[]).unwrap();
    let mut a = watch(eu).await;
    let mut b = watch(us).await;
    // Both recorded clusters have a worker-2 under disk pressure.
    a.until("eu's node", |seen| !seen.is_empty()).await;
    b.until("us's node", |seen| !seen.is_empty()).await;
    assert!(a.seen.iter().all(|c| c.source == "eu-1"));
    assert!(b.seen.iter().all(|c| c.source == "us-1"));
    let label = |c: &model::IncidentCandidate| {
        c.evidence.events[0]
            .labels
            .get("cluster")
            .map(str::to_owned)
    };
    assert_eq!(label(&a.seen[0]).as_deref(), Some("eu"));
    let both: Vec<_> = a.seen.iter().chain(&b.seen).cloned().collect();
    let (_, incidents) = correlate(&both);
    let mut sources: Vec<&str> = incidents.iter().map(|i| i.source.as_str()).collect();
    sources.sort_unstable();
    assert_eq!(
        sources,
        ["eu-1", "us-1"],
        "the same node name in two clusters is two incidents"
    );
}
