use std::sync::Arc;

use super::*;

/// A store in a fresh schema of the test database, or `None` when
/// `PETRI_TEST_DATABASE_URL` is not set. A set but unreachable database fails.
async fn test_store() -> Option<PgStore> {
    let Ok(url) = std::env::var("PETRI_TEST_DATABASE_URL") else {
        eprintln!("PETRI_TEST_DATABASE_URL is not set: skipping the PostgreSQL store tests");
        return None;
    };
    let schema = format!("petri_t_{}", &petri_crypto::random_id()[..12]);
    Some(
        PgStore::connect_schema(&url, &schema)
            .await
            .expect("PETRI_TEST_DATABASE_URL is set but unusable"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let Some(store) = test_store().await else { return };
    petri_store::conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time() {
    let Some(a) = test_store().await else { return };
    // A second store on the same database competes for the same lock.
    let b = PgStore::connect_with(a.options.clone()).await.unwrap();
    let (la, lb) = (a.lead().await.unwrap(), b.lead().await.unwrap());
    assert!(la ^ lb, "exactly one leads: {la} {lb}");
    let (leader, follower) = if la { (a, b) } else { (b, a) };
    assert!(leader.lead().await.unwrap(), "the leader keeps leading");
    drop(leader);
    // The leader's session ends with it; the follower takes over.
    let mut took_over = false;
    for _ in 0..50 {
        if follower.lead().await.unwrap() {
            took_over = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(took_over, "leadership passes on when the leader goes away");
}

#[test]
fn notifications_round_trip_and_skip_own() {
    let events = parse_notification("other\nr\tcol\tkind\t1\nc\tabc\t2\nbogus\n", "me");
    assert_eq!(
        events,
        vec![
            ClusterEvent::Ready {
                colony: "col".into(),
                executortype: "kind".into(),
                all: true
            },
            ClusterEvent::Changed {
                processid: "abc".into(),
                state: 2
            }
        ]
    );
    assert!(parse_notification("me\nr\tcol\tkind\t0\n", "me").is_empty());
}
