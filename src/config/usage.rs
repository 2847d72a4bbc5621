//! `[usage]`: the traffic and storage a cost estimate assumes.
//!
//! AWS bills much of this stack by use (CloudFront and WAF per request and GB,
//! NAT gateways per GB processed, EFS and backups per GB stored, CloudWatch
//! Logs per GB ingested). Nothing in the configuration says how busy the site
//! will be, so `moodlectl cost` takes these assumptions, each with a default
//! for a school of roughly a thousand active users, and prints them with the
//! estimate.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UsageCfg {
    /// HTTPS requests to CloudFront (and through the WAF) per month.
    pub requests_per_month: f64,
    /// GB CloudFront sends to users per month.
    pub cdn_data_out_gb: f64,
    /// GB through the NAT gateways per month (image pulls, e-mail, AWS APIs
    /// without an endpoint, plugin downloads).
    pub nat_data_gb: f64,
    /// Average load balancer capacity units (LCU) in use.
    pub alb_lcus: f64,
    /// GB of moodledata on EFS.
    pub efs_storage_gb: f64,
    /// Share of it in Infrequent Access (files untouched for 30 days move there), percent.
    pub efs_infrequent_access_percent: f64,
    /// GB of backups kept (AWS Backup recovery points, database snapshots beyond the free allowance).
    pub backup_storage_gb: f64,
    /// GB of logs ingested by CloudWatch Logs per month (container, flow, WAF, database logs).
    pub logs_ingested_gb: f64,
    /// Average discount of Fargate Spot on the on-demand price, percent (it varies; AWS quotes up to 70).
    pub fargate_spot_discount_percent: f64,
}

impl Default for UsageCfg {
    fn default() -> Self {
        Self {
            requests_per_month: 5_000_000.0,
            cdn_data_out_gb: 200.0,
            nat_data_gb: 50.0,
            alb_lcus: 1.0,
            efs_storage_gb: 50.0,
            efs_infrequent_access_percent: 50.0,
            backup_storage_gb: 100.0,
            logs_ingested_gb: 10.0,
            fargate_spot_discount_percent: 70.0,
        }
    }
}

impl UsageCfg {
    /// (key, value) for validation and for printing the assumptions.
    pub fn entries(&self) -> [(&'static str, f64); 9] {
        [
            ("requests_per_month", self.requests_per_month),
            ("cdn_data_out_gb", self.cdn_data_out_gb),
            ("nat_data_gb", self.nat_data_gb),
            ("alb_lcus", self.alb_lcus),
            ("efs_storage_gb", self.efs_storage_gb),
            ("efs_infrequent_access_percent", self.efs_infrequent_access_percent),
            ("backup_storage_gb", self.backup_storage_gb),
            ("logs_ingested_gb", self.logs_ingested_gb),
            ("fargate_spot_discount_percent", self.fargate_spot_discount_percent),
        ]
    }
}
