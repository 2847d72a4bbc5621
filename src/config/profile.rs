//! `[stack] profile`: the shape every key the file leaves unset defaults to.
//!
//! `production` is the AWS reference deployment (every default in
//! `moodle.toml`). `small` is a cheaper shape for trials and small schools;
//! [`SMALL_DIFFERENCES`] lists each key it changes with the trade-off, and the
//! README's profile table is that list. A key the file sets always wins, so a
//! profile is only ever a set of defaults, never a constraint.
//!
//! Every difference is one AWS changes in place when the profile goes from
//! `small` to `production`: a NAT gateway and interface endpoints are added,
//! the database's class and Multi-AZ are modified (`ModifyDBInstance`), a
//! replica is added to the cache (`IncreaseReplicaCount`) before failover is
//! switched on, and the task size becomes a new task definition revision.

use super::Config;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The reference deployment: highly available in two AZs.
    #[default]
    Production,
    /// One NAT gateway, single-AZ burstable database, one cache node, smaller tasks.
    Small,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Production => "production",
            Profile::Small => "small",
        }
    }

    /// Give every key the file does not set (`is_set` says which it sets)
    /// this profile's value.
    pub fn apply(self, cfg: &mut Config, is_set: &dyn Fn(&str) -> bool) {
        if self == Profile::Production {
            return;
        }
        for d in SMALL_DIFFERENCES {
            if !is_set(d.key) {
                (d.set)(cfg);
            }
        }
    }
}

/// One key the `small` profile sets differently from `production`.
pub struct Difference {
    pub key: &'static str,
    pub production: &'static str,
    pub small: &'static str,
    /// What the cheaper value gives up.
    pub trade_off: &'static str,
    set: fn(&mut Config),
}

/// The `small` profile, key by key (also the README's table).
pub const SMALL_DIFFERENCES: &[Difference] = &[
    Difference {
        key: "network.nat_gateways",
        production: "2",
        small: "1",
        trade_off: "both private subnets leave through the NAT gateway in the first AZ: if that AZ fails, tasks in the other lose outbound access (image pulls, e-mail, AWS APIs)",
        set: |c| c.network.nat_gateways = 1,
    },
    Difference {
        key: "network.interface_endpoints",
        production: "[\"ecr.api\", \"ecr.dkr\", \"secretsmanager\", \"logs\"]",
        small: "[]",
        trade_off: "image pulls, secrets and logs go through the NAT gateway (charged per GB) instead of private endpoints",
        set: |c| c.network.interface_endpoints = vec![],
    },
    Difference {
        key: "database.instance_class",
        production: "db.r6g.large",
        small: "db.t4g.medium",
        trade_off: "a burstable Graviton class (2 vCPU, 4 GiB): fine for a few hundred users; sustained load spends CPU credits (unlimited mode bills the surplus)",
        set: |c| c.database.instance_class = "db.t4g.medium".into(),
    },
    Difference {
        key: "database.multi_az",
        production: "true",
        small: "false",
        trade_off: "no standby: an AZ outage or a host failure takes the site down until RDS recovers the instance (minutes to hours); maintenance restarts are visible",
        set: |c| c.database.multi_az = false,
    },
    Difference {
        key: "database.max_allocated_storage_gb",
        production: "300",
        small: "100",
        trade_off: "storage autoscaling stops at 100 GB",
        set: |c| c.database.max_allocated_storage_gb = 100,
    },
    Difference {
        key: "cache.node_type",
        production: "cache.r6g.large",
        small: "cache.t4g.small",
        trade_off: "1.37 GiB of memory for sessions and cache; a busy site evicts keys (users logged out) sooner",
        set: |c| c.cache.node_type = "cache.t4g.small".into(),
    },
    Difference {
        key: "cache.num_nodes",
        production: "2",
        small: "1",
        trade_off: "no replica and no failover: when the node or its AZ fails, every session is lost and the site errors until ElastiCache replaces the node",
        set: |c| c.cache.num_nodes = 1,
    },
    Difference {
        key: "service.cpu",
        production: "2048",
        small: "1024",
        trade_off: "each task has 1 vCPU: pages under load are slower and autoscaling starts tasks sooner",
        set: |c| c.service.cpu = 1024,
    },
    Difference {
        key: "service.memory_mib",
        production: "4096",
        small: "2048",
        trade_off: "2 GiB per task: fewer PHP workers per task",
        set: |c| c.service.memory_mib = 2048,
    },
    Difference {
        key: "service.max_count",
        production: "10",
        small: "4",
        trade_off: "autoscaling stops at 4 tasks",
        set: |c| c.service.max_count = 4,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MINIMAL;
    use std::path::Path;

    #[test]
    fn small_profile_sets_every_listed_key_and_the_file_wins() {
        let src = MINIMAL.replace("region = \"ap-southeast-1\"", "region = \"ap-southeast-1\"\nprofile = \"small\"");
        let c = Config::parse(Path::new("moodle.toml"), &src).unwrap();
        assert_eq!(c.network.nat_gateways, 1);
        assert!(c.network.interface_endpoints.is_empty());
        assert_eq!(c.database.instance_class, "db.t4g.medium");
        assert!(!c.database.multi_az);
        assert_eq!(c.cache.num_nodes, 1);
        assert_eq!((c.service.cpu, c.service.memory_mib, c.service.max_count), (1024, 2048, 4));
        // Each production value in the table is the default it replaces.
        let p = Config::parse(Path::new("moodle.toml"), MINIMAL).unwrap();
        assert_eq!(p.database.instance_class, SMALL_DIFFERENCES[2].production);
        assert_eq!(p.cache.node_type, SMALL_DIFFERENCES[5].production);
        assert_eq!(p.network.nat_gateways.to_string(), SMALL_DIFFERENCES[0].production);

        let set = format!("{src}\n[database]\nmulti_az = true\n");
        let c = Config::parse(Path::new("moodle.toml"), &set).unwrap();
        assert!(c.database.multi_az, "a key the file sets overrides the profile");
        assert_eq!(c.database.instance_class, "db.t4g.medium");

        let prod = Config::with_profile(Path::new("moodle.toml"), &set, Profile::Production).unwrap();
        assert_eq!(prod.database.instance_class, "db.r6g.large");
        assert_eq!(prod.network.nat_gateways, 2);
    }
}
