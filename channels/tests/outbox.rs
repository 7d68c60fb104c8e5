//! The outbox across failures and restarts: a provider down for a while is retried with
//! backoff (its `Retry-After` honoured) and, past `channels.failure_incident_after`, reported
//! as a delivery failure (healed once it delivers again); a restart in the middle delivers
//! every event exactly once.

use crate::support::*;
use channels::{Channels, Directory};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn webhook_channels_toml() -> &'static str {
    "[[channels.provider]]\nid = \"hook\"\nkind = \"webhook\"\nconfig = \"hook.toml\"\n\
     [channels]\nretry_initial = \"100ms\"\nretry_max = \"400ms\"\nfailure_incident_after = \"1s\"\n"
}

fn event(n: usize) -> channels::ChannelEvent {
    let mut e = opened(&n.to_string());
    e.key = format!("event-{n}");
    // Each event its own thread, so none waits for another.
    if let Some(i) = e.incident.as_mut() {
        i.id = format!("inc-{n}");
    }
    e
}

#[tokio::test]
async fn a_provider_down_is_retried_then_reported_and_healed() {
    let dir = tempfile::tempdir().unwrap();
    let (url, hook) = receiver::start("/hook").await;
    write(dir.path(), "hook.secret", "whsec-0123456789");
    write(
        dir.path(),
        "hook.toml",
        &format!("url = \"{url}\"\nsecret_file = \"hook.secret\"\n"),
    );
    // Down: 503s, the second asking for 1 s.
    {
        let mut h = hook.lock();
        for i in 0..12 {
            h.answers.push_back((503, (i == 1).then_some(1)));
        }
    }
    let loaded = load(dir.path(), webhook_channels_toml());
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let op = MemOperator::with_crash_loop();
    let channels = Channels::open(loaded, &ledger, op.clone(), Directory::default())
        .await
        .unwrap();
    channels.publish(&event(1)).await.unwrap();
    let started = Instant::now();
    wait_for(
        "delivery once the provider is back",
        Duration::from_secs(30),
        || async {
            channels.flush().await.unwrap();
            (!hook.lock().requests.is_empty()).then_some(())
        },
    )
    .await;
    let rows = channels.outbox().rows("hook").await.unwrap();
    assert_eq!(rows[0].1, channels::outbox::RowState::Delivered);
    assert_eq!(rows[0].2, 13, "12 refusals, then delivered");
    assert_eq!(hook.lock().requests.len(), 1, "delivered once");
    let failures = op.state.lock().delivery_failures.clone();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!((failures[0].0.as_str(), failures[0].1), ("hook", true));
    assert!(failures[0].2.contains("503"), "{failures:?}");
    assert_eq!((failures[1].0.as_str(), failures[1].1), ("hook", false));
    // The backoff spread the attempts out: 12 refusals took more than the 1 s asked plus
    // growing pauses, not a tight loop.
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_delivers_every_event_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (url, hook) = receiver::start("/hook").await;
    write(dir.path(), "hook.secret", "whsec-0123456789");
    write(
        dir.path(),
        "hook.toml",
        &format!("url = \"{url}\"\nsecret_file = \"hook.secret\"\n"),
    );
    let op = MemOperator::with_crash_loop();
    {
        let loaded = load(dir.path(), webhook_channels_toml());
        let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
        let channels = Channels::open(loaded, &ledger, op.clone(), Directory::default())
            .await
            .unwrap();
        for n in 0..3 {
            channels.publish(&event(n)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(
            channels::hub::COALESCE_MS as u64 + 50,
        ))
        .await;
        channels.flush().await.unwrap();
        // Three delivered, then the provider goes down for the rest.
        let delivered = hook.lock().requests.len();
        assert_eq!(delivered, 3);
        for n in 3..6 {
            channels.publish(&event(n)).await.unwrap();
        }
        hook.lock()
            .answers
            .extend([(503, None), (503, None), (503, None)]);
        tokio::time::sleep(Duration::from_millis(
            channels::hub::COALESCE_MS as u64 + 50,
        ))
        .await;
        channels.flush().await.unwrap();
        channels.stop();
        ledger.close().await;
    }
    // Restarted: the same events are announced again (as a restarted server would replay
    // them), and the provider is back.
    let loaded = load(dir.path(), webhook_channels_toml());
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let channels = Channels::open(loaded, &ledger, op.clone(), Directory::default())
        .await
        .unwrap();
    for n in 0..6 {
        channels.publish(&event(n)).await.unwrap();
    }
    wait_for("every event delivered", Duration::from_secs(20), || async {
        channels.flush().await.unwrap();
        (channels.list().await.unwrap()[0].queue_depth == 0).then_some(())
    })
    .await;
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for (_, body) in &hook.lock().requests {
        let json: Value = serde_json::from_slice(body).unwrap();
        *per_key
            .entry(json["key"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_key.len(), 6, "{per_key:?}");
    assert!(per_key.values().all(|&n| n == 1), "{per_key:?}");
}
