//! KRaft consensus, sans-IO and deterministic.
