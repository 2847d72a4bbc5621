//! Day-2 operations: what runs against a deployed stack outside the step
//! graph — one-off tasks of the service (`run`, the pending-upgrade check of
//! `up`), safety copies (RDS snapshots and AWS Backup recovery points of the
//! file system), the upgrade procedure and restores.
//!
//! These are procedures, not converging steps: each records its progress in
//! the state file as it goes (what it started, under a name or token that a
//! rerun reuses), so a killed command resumes where it stopped instead of
//! taking a second snapshot or running a second upgrade.

pub mod copies;
pub mod oneoff;
pub mod restore;
pub mod restore_aurora;
pub mod upgrade;
