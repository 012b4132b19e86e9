use super::*;

mod elr;

fn state(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionState {
    PartitionState {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 10,
        partition_epoch: 20,
        leader_recovery_state: LeaderRecoveryState::Recovered,
        elr: Vec::new(),
        last_known_elr: Vec::new(),
    }
}

fn all(_: i32) -> bool {
    true
}

fn change(isr: Option<&[i32]>, leader: LeaderChange) -> PartitionChange {
    PartitionChange {
        isr: isr.map(<[i32]>::to_vec),
        leader,
        ..PartitionChange::none()
    }
}

#[test]
fn fencing_rules() {
    struct Case {
        name: &'static str,
        state: PartitionState,
        broker: i32,
        alive: &'static [i32],
        want: Option<PartitionChange>,
    }
    let cases = [
        Case {
            name: "fencing the leader moves to the next ISR member in replica order",
            state: state(&[1, 2, 3], &[3, 2, 1], 1),
            broker: 1,
            alive: &[2, 3],
            want: Some(change(Some(&[3, 2]), LeaderChange::To(2))),
        },
        Case {
            name: "fencing a follower only shrinks the ISR",
            state: state(&[1, 2, 3], &[1, 2, 3], 1),
            broker: 3,
            alive: &[1, 2],
            want: Some(change(Some(&[1, 2]), LeaderChange::NoChange)),
        },
        Case {
            name: "fencing the last ISR member keeps it in the ISR and leaves no leader",
            state: state(&[1, 2, 3], &[1], 1),
            broker: 1,
            alive: &[2, 3],
            want: Some(change(None, LeaderChange::To(NO_LEADER))),
        },
        Case {
            name: "unacceptable ISR members are skipped",
            state: state(&[1, 2, 3], &[1, 2, 3], 1),
            broker: 1,
            alive: &[3],
            want: Some(change(Some(&[2, 3]), LeaderChange::To(3))),
        },
        Case {
            name: "no acceptable ISR member leaves no leader",
            state: state(&[1, 2, 3], &[1, 2], 1),
            broker: 1,
            alive: &[3],
            want: Some(change(Some(&[2]), LeaderChange::To(NO_LEADER))),
        },
        Case {
            name: "a broker outside the ISR changes nothing",
            state: state(&[1, 2, 3], &[1, 2], 1),
            broker: 3,
            alive: &[1, 2],
            want: None,
        },
        Case {
            name: "fencing the last member of a leaderless partition changes nothing",
            state: state(&[1, 2], &[2], NO_LEADER),
            broker: 2,
            alive: &[1],
            want: None,
        },
    ];
    for case in cases {
        let alive = |b: i32| case.alive.contains(&b);
        let got = fence_broker(&case.state, case.broker, &alive, None);
        assert_eq!(got, case.want, "{}", case.name);
        // The broker itself is never acceptable, even if the caller still thinks it is.
        let got = controlled_shutdown_move(&case.state, case.broker, &all, None);
        if let Some(LeaderChange::To(l)) = got.as_ref().map(|c| c.leader) {
            assert_ne!(l, case.broker, "{}", case.name);
        }
    }
}

#[test]
fn controlled_shutdown_moves_leadership_off_the_broker() {
    let s = state(&[1, 2, 3], &[1, 2, 3], 1);
    let got = controlled_shutdown_move(&s, 1, &all, None).unwrap();
    assert_eq!(got, change(Some(&[2, 3]), LeaderChange::To(2)));
}

#[test]
fn election_rules() {
    struct Case {
        name: &'static str,
        state: PartitionState,
        election: Election,
        alive: &'static [i32],
        want: Option<PartitionChange>,
    }
    let recovering = |isr: &[i32], leader: i32| PartitionChange {
        isr: Some(isr.to_vec()),
        leader: LeaderChange::To(leader),
        leader_recovery_state: Some(LeaderRecoveryState::Recovering),
        ..PartitionChange::none()
    };
    let cases = [
        Case {
            name: "online keeps a valid leader",
            state: state(&[1, 2, 3], &[1, 2, 3], 2),
            election: Election::Online,
            alive: &[1, 2, 3],
            want: None,
        },
        Case {
            name: "online picks the first acceptable ISR member in replica order",
            state: state(&[3, 1, 2], &[1, 2], NO_LEADER),
            election: Election::Online,
            alive: &[1, 2, 3],
            want: Some(change(None, LeaderChange::To(1))),
        },
        Case {
            name: "online with no acceptable ISR member stays leaderless",
            state: state(&[1, 2, 3], &[1], NO_LEADER),
            election: Election::Online,
            alive: &[2, 3],
            want: None,
        },
        Case {
            name: "unclean prefers a clean leader",
            state: state(&[1, 2, 3], &[2], NO_LEADER),
            election: Election::Unclean,
            alive: &[1, 2, 3],
            want: Some(change(None, LeaderChange::To(2))),
        },
        Case {
            name: "unclean picks the first acceptable replica and marks RECOVERING",
            state: state(&[1, 2, 3], &[1], NO_LEADER),
            election: Election::Unclean,
            alive: &[2, 3],
            want: Some(recovering(&[2], 2)),
        },
        Case {
            name: "unclean with no acceptable replica stays leaderless",
            state: state(&[1, 2, 3], &[1], NO_LEADER),
            election: Election::Unclean,
            alive: &[],
            want: None,
        },
        Case {
            name: "preferred moves leadership to the first replica",
            state: state(&[1, 2, 3], &[1, 2, 3], 2),
            election: Election::Preferred,
            alive: &[1, 2, 3],
            want: Some(change(None, LeaderChange::To(1))),
        },
        Case {
            name: "preferred no-ops when the preferred replica already leads",
            state: state(&[1, 2, 3], &[1, 2, 3], 1),
            election: Election::Preferred,
            alive: &[1, 2, 3],
            want: None,
        },
        Case {
            name: "preferred no-ops when the preferred replica is not in the ISR",
            state: state(&[1, 2, 3], &[2, 3], 2),
            election: Election::Preferred,
            alive: &[1, 2, 3],
            want: None,
        },
        Case {
            name: "preferred no-ops when the preferred replica is not acceptable",
            state: state(&[1, 2, 3], &[1, 2, 3], 2),
            election: Election::Preferred,
            alive: &[2, 3],
            want: None,
        },
        Case {
            name: "preferred elects another ISR member if the leader is gone",
            state: state(&[1, 2, 3], &[2, 3], NO_LEADER),
            election: Election::Preferred,
            alive: &[3],
            want: Some(change(None, LeaderChange::To(3))),
        },
    ];
    for case in cases {
        let alive = |b: i32| case.alive.contains(&b);
        let got = PartitionChangeBuilder::new(&case.state, &alive)
            .election(case.election)
            .build();
        assert_eq!(got, case.want, "{}", case.name);
    }
}

#[test]
fn helper_elections() {
    let leaderless = state(&[1, 2, 3], &[2, 3], NO_LEADER);
    assert_eq!(
        elect_leaderless(&leaderless, &all, None),
        Some(change(None, LeaderChange::To(2)))
    );
    assert_eq!(
        unfence_broker(&leaderless, &|b| b == 3, None),
        Some(change(None, LeaderChange::To(3)))
    );
    // A partition with a leader is left alone, even if its leader is no longer acceptable.
    assert_eq!(
        elect_leaderless(&state(&[1, 2], &[1, 2], 1), &|b| b == 2, None),
        None
    );
    assert_eq!(
        preferred_election(&state(&[1, 2], &[1, 2], 2), &all, None),
        Some(change(None, LeaderChange::To(1)))
    );
    let got = unclean_election(&state(&[1, 2], &[1], NO_LEADER), &|b| b == 2, None).unwrap();
    assert_eq!(
        got.leader_recovery_state,
        Some(LeaderRecoveryState::Recovering)
    );
}

#[test]
fn isr_changes_and_leader_epoch_bumps() {
    struct Case {
        name: &'static str,
        target_isr: &'static [i32],
        bump_on_shrink: bool,
        want: Option<PartitionChange>,
    }
    let cases = [
        Case {
            name: "shrink keeps the leader epoch (MV >= 3.6-IV0)",
            target_isr: &[1, 2],
            bump_on_shrink: false,
            want: Some(change(Some(&[1, 2]), LeaderChange::NoChange)),
        },
        Case {
            name: "shrink bumps the leader epoch before 3.6-IV0",
            target_isr: &[1, 2],
            bump_on_shrink: true,
            want: Some(change(Some(&[1, 2]), LeaderChange::To(1))),
        },
        Case {
            name: "expansion never bumps the leader epoch",
            target_isr: &[1, 2, 3, 4],
            bump_on_shrink: true,
            want: Some(change(Some(&[1, 2, 3, 4]), LeaderChange::NoChange)),
        },
        Case {
            name: "same ISR is a no-op",
            target_isr: &[1, 2, 3],
            bump_on_shrink: true,
            want: None,
        },
        Case {
            name: "reordered ISR is written",
            target_isr: &[3, 2, 1],
            bump_on_shrink: true,
            want: Some(change(Some(&[3, 2, 1]), LeaderChange::NoChange)),
        },
        Case {
            name: "empty target ISR is never written; the leader goes",
            target_isr: &[],
            bump_on_shrink: false,
            want: Some(change(None, LeaderChange::To(NO_LEADER))),
        },
        Case {
            name: "shrink that drops the leader elects a new one",
            target_isr: &[2, 3],
            bump_on_shrink: false,
            want: Some(change(Some(&[2, 3]), LeaderChange::To(2))),
        },
    ];
    let s = state(&[1, 2, 3, 4], &[1, 2, 3], 1);
    for case in cases {
        let got = PartitionChangeBuilder::new(&s, &all)
            .target_isr(case.target_isr.to_vec())
            .bump_leader_epoch_on_isr_shrink(case.bump_on_shrink)
            .build();
        assert_eq!(got, case.want, "{}", case.name);
    }
}

#[test]
fn replica_changes() {
    let s = state(&[1, 2, 3], &[1, 2, 3], 1);
    // Adding a replica does not bump the leader epoch.
    let got = PartitionChangeBuilder::new(&s, &all)
        .target_replicas(vec![1, 2, 3, 4])
        .build()
        .unwrap();
    assert_eq!(got.leader, LeaderChange::NoChange);
    assert_eq!(got.replicas, Some(vec![1, 2, 3, 4]));
    // Removing one does, by re-setting the current leader.
    let got = PartitionChangeBuilder::new(&s, &all)
        .target_replicas(vec![1, 2])
        .target_isr(vec![1, 2])
        .build()
        .unwrap();
    assert_eq!(got.leader, LeaderChange::To(1));
    assert_eq!(got.replicas, Some(vec![1, 2]));
    assert_eq!(got.isr, Some(vec![1, 2]));
    // Same replicas: no-op.
    assert_eq!(
        PartitionChangeBuilder::new(&s, &all)
            .target_replicas(vec![1, 2, 3])
            .build(),
        None
    );
}

#[test]
fn leader_recovery_state_transitions() {
    let mut s = state(&[1, 2, 3], &[2], 2);
    s.leader_recovery_state = LeaderRecoveryState::Recovering;
    // The leader reports recovery together with an ISR expansion.
    let got = PartitionChangeBuilder::new(&s, &all)
        .target_isr(vec![2, 3])
        .target_leader_recovery_state(LeaderRecoveryState::Recovered)
        .build()
        .unwrap();
    assert_eq!(
        got.leader_recovery_state,
        Some(LeaderRecoveryState::Recovered)
    );
    assert_eq!(got.isr, Some(vec![2, 3]));
    // Asking for the state it already has is a no-op.
    assert_eq!(
        PartitionChangeBuilder::new(&s, &all)
            .target_leader_recovery_state(LeaderRecoveryState::Recovering)
            .build(),
        None
    );
    // A second unclean election while RECOVERING does not re-write the state.
    s.leader = NO_LEADER;
    let got = unclean_election(&s, &|b| b == 1, None).unwrap();
    assert_eq!(got.leader, LeaderChange::To(1));
    assert_eq!(got.isr, Some(vec![1]));
    assert_eq!(got.leader_recovery_state, None);
}

#[test]
fn apply_epoch_arithmetic() {
    let s = state(&[1, 2, 3], &[1, 2, 3], 1);
    let isr_only = change(Some(&[1, 2]), LeaderChange::NoChange);
    let next = s.apply(&isr_only);
    assert_eq!(
        (next.leader, next.leader_epoch, next.partition_epoch),
        (1, 10, 21)
    );
    assert_eq!(next.isr, vec![1, 2]);

    let same_leader = change(None, LeaderChange::To(1));
    let next = s.apply(&same_leader);
    assert_eq!(
        (next.leader, next.leader_epoch, next.partition_epoch),
        (1, 11, 21)
    );

    let no_leader = change(None, LeaderChange::To(NO_LEADER));
    let next = s.apply(&no_leader);
    assert_eq!(
        (next.leader, next.leader_epoch, next.partition_epoch),
        (-1, 11, 21)
    );

    let unclean = PartitionChange {
        isr: Some(vec![3]),
        leader: LeaderChange::To(3),
        replicas: Some(vec![3, 2, 1]),
        leader_recovery_state: Some(LeaderRecoveryState::Recovering),
        ..PartitionChange::none()
    };
    let next = s.apply(&unclean);
    assert_eq!(next.replicas, vec![3, 2, 1]);
    assert_eq!(next.leader_recovery_state, LeaderRecoveryState::Recovering);
    assert_eq!(next.partition_epoch, 21);
}

#[test]
fn fence_then_apply_then_unfence_round_trip() {
    let s = state(&[1, 2], &[1, 2], 1);
    let s1 = s.apply(&fence_broker(&s, 1, &|b| b == 2, None).unwrap());
    assert_eq!(
        (s1.leader, s1.isr.clone(), s1.leader_epoch),
        (2, vec![2], 11)
    );
    let s2 = s1.apply(&fence_broker(&s1, 2, &|_| false, None).unwrap());
    assert_eq!(
        (s2.leader, s2.isr.clone(), s2.leader_epoch),
        (NO_LEADER, vec![2], 12)
    );
    let s3 = s2.apply(&unfence_broker(&s2, &|b| b == 2, None).unwrap());
    assert_eq!(
        (s3.leader, s3.isr, s3.leader_epoch, s3.partition_epoch),
        (2, vec![2], 13, 23)
    );
}

#[test]
fn wire_values() {
    assert_eq!(LeaderRecoveryState::Recovered.to_wire(), 0);
    assert_eq!(LeaderRecoveryState::Recovering.to_wire(), 1);
    assert_eq!(
        LeaderRecoveryState::from_wire(1),
        Some(LeaderRecoveryState::Recovering)
    );
    assert_eq!(LeaderRecoveryState::from_wire(2), None);
}
