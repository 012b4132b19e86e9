//! Core step tests: one test per transition edge of the table in `mod.rs`.
