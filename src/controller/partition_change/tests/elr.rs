//! Eligible leader replicas (KIP-966): every rule of the builder, with `min.insync.replicas`
//! 2 unless a case says otherwise.

use super::*;

const MIN_ISR: Option<usize> = Some(2);

fn state(replicas: &[i32], isr: &[i32], elr: &[i32], leader: i32) -> PartitionState {
    PartitionState {
        elr: elr.to_vec(),
        ..super::state(replicas, isr, leader)
    }
}

fn alive(ids: &'static [i32]) -> impl Fn(i32) -> bool {
    move |b| ids.contains(&b)
}

/// (isr, elr, leader, last_known_elr, recovery state) after `change`.
fn after(
    s: &PartitionState,
    change: Option<PartitionChange>,
) -> (Vec<i32>, Vec<i32>, i32, Vec<i32>, LeaderRecoveryState) {
    let n = change.map_or_else(|| s.clone(), |c| s.apply(&c));
    (
        n.isr,
        n.elr,
        n.leader,
        n.last_known_elr,
        n.leader_recovery_state,
    )
}

#[test]
fn fencing_below_min_isr_moves_isr_members_into_the_elr() {
    use LeaderRecoveryState::Recovered;
    struct Case {
        name: &'static str,
        state: PartitionState,
        fenced: i32,
        alive: &'static [i32],
        min_isr: Option<usize>,
        want: (Vec<i32>, Vec<i32>, i32, Vec<i32>, LeaderRecoveryState),
    }
    let cases = [
        Case {
            name: "a shrink that stays at min ISR keeps the ELR empty",
            state: state(&[1, 2, 3], &[1, 2, 3], &[], 1),
            fenced: 3,
            alive: &[1, 2],
            min_isr: MIN_ISR,
            want: (vec![1, 2], vec![], 1, vec![], Recovered),
        },
        Case {
            name: "the ISR shrinks to 1 with min ISR 2: the removed member enters the ELR",
            state: state(&[1, 2, 3], &[1, 2], &[], 1),
            fenced: 2,
            alive: &[1],
            min_isr: MIN_ISR,
            want: (vec![1], vec![2], 1, vec![], Recovered),
        },
        Case {
            name: "the last member dies: the ISR becomes empty, no leader, it joins the ELR and \
                   is the last known leader",
            state: state(&[1, 2, 3], &[1], &[2], 1),
            fenced: 1,
            alive: &[],
            min_isr: MIN_ISR,
            want: (vec![], vec![2, 1], NO_LEADER, vec![1], Recovered),
        },
        Case {
            name: "the last member dies with a live ELR member: it leads, alone in the ISR",
            state: state(&[1, 2, 3], &[1], &[2], 1),
            fenced: 1,
            alive: &[2],
            min_isr: MIN_ISR,
            want: (vec![2], vec![1], 2, vec![], Recovered),
        },
        Case {
            name: "min ISR 1: the last member dies, the ISR becomes empty and it enters the ELR",
            state: state(&[1, 2], &[1], &[], 1),
            fenced: 1,
            alive: &[2],
            min_isr: Some(1),
            want: (vec![], vec![1], NO_LEADER, vec![1], Recovered),
        },
        Case {
            name: "without ELR the last member stays in the ISR and no ELR is kept",
            state: state(&[1, 2, 3], &[1], &[2], 1),
            fenced: 1,
            alive: &[2, 3],
            min_isr: None,
            want: (vec![1], vec![], NO_LEADER, vec![], Recovered),
        },
    ];
    for c in cases {
        let got = fence_broker(&c.state, c.fenced, &alive(c.alive), c.min_isr);
        assert_eq!(after(&c.state, got), c.want, "{}", c.name);
    }
}

#[test]
fn the_elr_is_cleared_when_the_isr_reaches_min_isr_again() {
    let s = state(&[1, 2, 3], &[1], &[2, 3], 1);
    let all = |_| true;
    let grown = PartitionChangeBuilder::new(&s, &all)
        .target_isr(vec![1, 2])
        .eligible_leader_replicas(MIN_ISR)
        .build();
    assert_eq!(
        after(&s, grown),
        (
            vec![1, 2],
            vec![],
            1,
            vec![],
            LeaderRecoveryState::Recovered
        )
    );
    // Still below min ISR (min ISR 3): the ELR keeps the members not back in the ISR.
    let partly = PartitionChangeBuilder::new(&s, &all)
        .target_isr(vec![1, 2])
        .eligible_leader_replicas(Some(3))
        .build();
    assert_eq!(after(&s, partly).1, vec![3]);
}

#[test]
fn an_unfenced_elr_member_is_a_clean_leader_of_a_partition_with_an_empty_isr() {
    let mut s = state(&[1, 2, 3], &[], &[2, 1], NO_LEADER);
    s.last_known_elr = vec![1];
    // Broker 3 was never in the ISR or ELR: not electable cleanly.
    assert_eq!(elect_leaderless(&s, &alive(&[3]), MIN_ISR), None);
    // Broker 1 comes back first: it leads (replica order among live ELR members), alone in
    // the ISR; the last known leader is cleared.
    let got = elect_leaderless(&s, &alive(&[1, 3]), MIN_ISR);
    assert_eq!(
        after(&s, got),
        (vec![1], vec![2], 1, vec![], LeaderRecoveryState::Recovered)
    );
}

#[test]
fn an_unclean_restart_leaves_the_isr_and_the_elr() {
    let s = state(&[1, 2, 3], &[], &[2, 1], NO_LEADER);
    assert_eq!(
        after(&s, unclean_shutdown(&s, 1, &alive(&[1]), MIN_ISR)),
        (
            vec![],
            vec![2],
            NO_LEADER,
            vec![],
            LeaderRecoveryState::Recovered
        )
    );
    // A replica in neither: nothing to write.
    assert_eq!(unclean_shutdown(&s, 3, &alive(&[3]), MIN_ISR), None);
    // An ISR member that restarted uncleanly leaves the ISR and does not enter the ELR.
    let s = state(&[1, 2, 3], &[1, 2], &[], 1);
    assert_eq!(
        after(&s, unclean_shutdown(&s, 2, &alive(&[1, 2]), MIN_ISR)),
        (vec![1], vec![], 1, vec![], LeaderRecoveryState::Recovered)
    );
}

#[test]
fn with_isr_and_elr_empty_the_last_known_leader_is_elected_and_marked_recovering() {
    let mut s = state(&[1, 2, 3], &[], &[], NO_LEADER);
    s.last_known_elr = vec![1];
    assert_eq!(elect_leaderless(&s, &alive(&[2, 3]), MIN_ISR), None);
    assert_eq!(
        after(&s, elect_leaderless(&s, &alive(&[1, 2]), MIN_ISR)),
        (vec![1], vec![], 1, vec![], LeaderRecoveryState::Recovering)
    );
    // Not without ELR (which also drops the stale field).
    assert_eq!(
        after(&s, elect_leaderless(&s, &alive(&[1]), None)),
        (
            vec![],
            vec![],
            NO_LEADER,
            vec![],
            LeaderRecoveryState::Recovered
        )
    );
}

#[test]
fn an_unclean_election_takes_any_live_replica_and_clears_the_elr() {
    let s = state(&[1, 2, 3], &[], &[2], NO_LEADER);
    // The ELR member is down: a clean election finds nobody.
    assert_eq!(elect_leaderless(&s, &alive(&[3]), MIN_ISR), None);
    assert_eq!(
        after(&s, unclean_election(&s, &alive(&[3]), MIN_ISR)),
        (vec![3], vec![], 3, vec![], LeaderRecoveryState::Recovering)
    );
}

#[test]
fn the_leader_shrinking_the_isr_below_min_isr_puts_the_removed_members_in_the_elr() {
    let s = state(&[1, 2, 3], &[1, 2, 3], &[], 1);
    let all = |_| true;
    let shrunk = PartitionChangeBuilder::new(&s, &all)
        .target_isr(vec![1])
        .eligible_leader_replicas(MIN_ISR)
        .build();
    assert_eq!(
        after(&s, shrunk),
        (
            vec![1],
            vec![2, 3],
            1,
            vec![],
            LeaderRecoveryState::Recovered
        )
    );
}

/// A model of the data: each broker's log end offset, and the high watermark, which advances
/// only while the ISR has at least min ISR members that all hold the records (acks=all; KIP-966
/// keeps it there below min ISR). A clean election, from the ISR or the ELR, must pick a
/// leader holding every committed record.
#[test]
fn a_clean_election_from_the_elr_loses_no_committed_data() {
    let min_isr = 2;
    let mut s = state(&[1, 2, 3], &[1, 2, 3], &[], 1);
    let mut log_end = [0u64; 4];
    let mut hwm = 0u64;
    let mut live: Vec<i32> = vec![1, 2, 3];
    let write = |s: &PartitionState, log_end: &mut [u64; 4], hwm: &mut u64, live: &[i32]| {
        // The leader appends 10 records; live ISR members replicate them.
        if s.leader == NO_LEADER {
            return;
        }
        log_end[s.leader as usize] += 10;
        let leader_end = log_end[s.leader as usize];
        for &b in &s.isr {
            if live.contains(&b) {
                log_end[b as usize] = leader_end;
            }
        }
        if s.isr.len() >= min_isr && s.isr.iter().all(|b| log_end[*b as usize] == leader_end) {
            *hwm = leader_end;
        }
    };
    // Brokers die one by one, records are written between the deaths; then they come back in
    // an order that makes the first returning one an ELR member.
    for dead in [3, 2, 1] {
        write(&s, &mut log_end, &mut hwm, &live);
        live.retain(|&b| b != dead);
        let acceptable = |b: i32| live.contains(&b);
        if let Some(c) = fence_broker(&s, dead, &acceptable, Some(min_isr)) {
            s = s.apply(&c);
        }
        // The leader (if any) keeps writing with acks=1; the high watermark only moves at min
        // ISR.
        write(&s, &mut log_end, &mut hwm, &live);
    }
    assert_eq!((s.isr.clone(), s.leader), (vec![], NO_LEADER));
    assert_eq!(s.elr, vec![2, 1]);
    for back in [2, 3] {
        live.push(back);
        let acceptable = |b: i32| live.contains(&b);
        if let Some(c) = elect_leaderless(&s, &acceptable, Some(min_isr)) {
            s = s.apply(&c);
        }
        if s.leader != NO_LEADER {
            break;
        }
    }
    assert_eq!(s.leader, 2, "the first ELR member back leads");
    assert_eq!(s.leader_recovery_state, LeaderRecoveryState::Recovered);
    assert!(
        log_end[s.leader as usize] >= hwm,
        "the new leader holds every committed record: its log ends at {}, the high watermark \
         is {hwm}",
        log_end[s.leader as usize]
    );
    // Broker 3 (never in the ELR) would have lost committed records.
    assert!(log_end[3] < hwm);
}
