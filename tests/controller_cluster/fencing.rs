//! Fencing a broker whose heartbeat connection closed (ADR 0012): one controller and three
//! brokers with Kafka's default heartbeat interval (2 s) and session timeout (9 s).

use super::*;

/// `broker.session.timeout.ms` (Kafka's default) in this test.
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_millis(9000);

fn fence_counts(controller: &Node) -> Option<(f64, f64, f64)> {
    Some((
        controller.metric("kafka_controller_brokers", &[("state", "fenced")])?,
        controller.metric("kafka_controller_broker_disconnect_fences_total", &[])?,
        controller.metric("kafka_controller_broker_heartbeat_timeouts_total", &[])?,
    ))
}

#[test]
fn a_killed_broker_is_fenced_within_the_disconnect_grace_and_running_brokers_never_are() {
    let mut c = Cluster::builder().controllers(1).brokers(3).start(START);
    let controller = &c.controllers[0];
    let b0 = c.brokers[0].addr();
    create_topic(&b0, "failover", 6, 3);
    let all: Vec<&Node> = c.brokers.iter().collect();
    let before = agreed_layout(&all, "failover", START, |l| {
        l.len() == 6 && l.values().all(|(_, r, isr)| isr == r)
    });
    assert_eq!(fence_counts(controller), Some((0.0, 0.0, 0.0)));

    // SIGKILL of a broker that leads partitions: its kernel closes the heartbeat connection.
    let (victim_idx, killed_at) = kill_a_leader(&mut c, &before);
    let victim = c.brokers[victim_idx].id;
    let controller = &c.controllers[0];
    wait_for(
        DEFAULT_SESSION_TIMEOUT,
        "the controller to fence the killed broker",
        || (fence_counts(controller)?.0 == 1.0).then_some(()),
    );
    let fenced_after = killed_at.elapsed();
    let survivors: Vec<&Node> = c.brokers.iter().filter(|b| b.id != victim).collect();
    let after = agreed_layout(&survivors, "failover", START, |l| {
        l.values()
            .all(|(leader, _, isr)| *leader != victim && !isr.contains(&victim))
    });
    let moved_after = killed_at.elapsed();
    println!(
        "kill -9 of broker {victim}: fenced after {fenced_after:?}, leaderships moved on the \
         surviving brokers after {moved_after:?} (broker.session.timeout.ms = {DEFAULT_SESSION_TIMEOUT:?})"
    );
    assert!(
        fenced_after < DEFAULT_SESSION_TIMEOUT / 3,
        "fencing took {fenced_after:?}: not the disconnect fence"
    );
    for (p, (leader, _, isr)) in &after {
        assert!(isr.contains(leader), "partition {p}: leader in ISR");
    }
    assert_eq!(
        fence_counts(controller),
        Some((1.0, 1.0, 0.0)),
        "one disconnect fence, no session timeout"
    );

    // The brokers that keep running keep heartbeating: until well past the session timeout
    // of the killed broker, none of them is fenced.
    let watch_until = killed_at + DEFAULT_SESSION_TIMEOUT + Duration::from_secs(2);
    let mut polls = 0;
    while Instant::now() < watch_until {
        polls += 1;
        let counts = fence_counts(controller);
        assert!(
            counts.is_none_or(|c| c == (1.0, 1.0, 0.0)),
            "a running broker was fenced: {counts:?}\n{}",
            controller.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(polls > 10, "the controller was watched ({polls} polls)");
    for b in &survivors {
        assert!(b.ready(), "broker {} still ready", b.id);
    }
    let log = controller.log_text();
    assert_eq!(
        log.matches("fencing broker because its heartbeat connection closed")
            .count(),
        1,
        "{log}"
    );
    assert!(!log.contains("fencing broker because its session has timed out"));
}
