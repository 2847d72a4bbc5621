//! The toolkit the steps share: tags, lookups, waits and retries, and the
//! resources several tiers create the same way (security groups, IAM roles,
//! log groups, log buckets, secrets).

pub mod bucket;
pub mod ec2;
pub mod iam;
pub mod log_group;
pub mod lookup;
pub mod propagation;
pub mod retry;
pub mod secrets;
pub mod sg;
pub mod tags;
pub mod wait;
