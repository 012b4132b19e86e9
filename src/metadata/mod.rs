//! KRaft metadata: the record types the controller writes to `__cluster_metadata`.

pub mod records;
