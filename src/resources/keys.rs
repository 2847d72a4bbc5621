//! Every state key, declared once: the names under which the state file
//! records each resource's ID (and attributes). A key never changes once
//! released: a renamed key would orphan the resources recorded under the old
//! one. Keys of per-AZ resources end in the AZ suffix (`network::AZS`).

// network
pub const VPC: &str = "vpc";
pub const IGW: &str = "igw";
pub const RTB_PUBLIC: &str = "rtb/public";
pub const SG_ENDPOINTS: &str = "sg/endpoints";
pub const VPCE_S3: &str = "vpce/s3";
pub const FLOW_ROLE: &str = "iam-role/flow-logs";
pub const FLOW_LOG_GROUP: &str = "log-group/flow-logs";
pub const FLOW_LOG: &str = "flow-log";

// data
pub const SG_DB: &str = "sg/db";
pub const DB_SUBNET_GROUP: &str = "rds/subnet-group";
pub const DB_SECRET: &str = "secret/db";
pub const DB_INSTANCE: &str = "rds/instance";
pub const DB_CLUSTER: &str = "rds/cluster";
pub const DB_PARAMS: &str = "rds/parameter-group";
pub const DB_MONITORING_ROLE: &str = "iam-role/rds-monitoring";
pub const DB_ERROR_LOGS: &str = "log-group/db-error";
pub const DB_SLOW_LOGS: &str = "log-group/db-slowquery";
pub const TOPIC: &str = "sns/rds-events";
pub const EVENT_SUB: &str = "rds/event-subscription";
pub const SG_CACHE: &str = "sg/cache";
pub const CACHE_SUBNET_GROUP: &str = "elasticache/subnet-group";
pub const REPLICATION_GROUP: &str = "elasticache/replication-group";
pub const SG_EFS: &str = "sg/efs";
pub const EFS: &str = "efs/file-system";
pub const ACCESS_POINT: &str = "efs/access-point";
pub const BACKUP_VAULT: &str = "backup/vault";
pub const BACKUP_ROLE: &str = "iam-role/backup";
pub const BACKUP_PLAN: &str = "backup/plan";

// edge
pub const ALB: &str = "elbv2/alb";
pub const TARGET_GROUP: &str = "elbv2/target-group";
pub const LISTENER_HTTP: &str = "elbv2/listener-80";
pub const LISTENER_HTTPS: &str = "elbv2/listener-443";
pub const ORIGIN_SECRET: &str = "secret/origin-verify";
pub const WEB_ACL: &str = "wafv2/web-acl";
pub const WAF_LOG_GROUP: &str = "log-group/waf";
pub const DISTRIBUTION: &str = "cloudfront/distribution";

// compute
pub const LOG_GROUP: &str = "log-group/moodle";
pub const ADMIN_SECRET: &str = "secret/moodle-admin";
pub const EXEC_ROLE: &str = "iam-role/task-execution";
pub const TASK_ROLE: &str = "iam-role/task";
pub const CLUSTER: &str = "ecs/cluster";
pub const TASK_DEF: &str = "ecs/task-definition";
pub const SERVICE: &str = "ecs/service";
pub const SCALING: &str = "autoscaling/target";
pub const CRON_TASK_DEF: &str = "ecs/cron-task-definition";
pub const CRON_SERVICE: &str = "ecs/cron-service";

// audit
pub const BUCKET: &str = "s3/cloudtrail-bucket";
pub const LOGS_BUCKET: &str = "s3/logs-bucket";
pub const TRAIL: &str = "cloudtrail/trail";
/// The trail's CloudWatch Logs copy, the role CloudTrail writes it as, and
/// the security metric filters on it (a name prefix: there are many).
pub const TRAIL_LOG_GROUP: &str = "logs/cloudtrail";
pub const TRAIL_LOGS_ROLE: &str = "iam-role/cloudtrail-logs";
pub const SECURITY_FILTERS: &str = "logs/security-filters";
/// The KMS key of the trail's log and digest files (the audit key).
pub const AUDIT_KEY: &str = "kms/audit";

// observe
/// The stack's CloudWatch alarms (a name prefix: there are many).
pub const ALARMS: &str = "cloudwatch/alarms";
pub const DASHBOARD: &str = "cloudwatch/dashboard";
/// The KMS key of the alert topics, and its us-east-1 twin.
pub const ALERTS_KEY: &str = "kms/alerts";
pub const ALERTS_KEY_GLOBAL: &str = "kms/alerts-us-east-1";
/// The us-east-1 topic CloudFront's alarm notifies (when the stack is elsewhere).
pub const TOPIC_GLOBAL: &str = "sns/alerts-us-east-1";

// day-2 operations (not steps: see `ops`)
/// The upgrade in progress: its target image and how far it got.
pub const UPGRADE: &str = "ops/upgrade";
/// The image the site's database was last upgraded to, and the images it
/// was upgraded away from (older code than the database).
pub const SITE_IMAGE: &str = "ops/site-image";
/// A restore in progress, then the instance/file system it replaced (kept until `--delete-old`).
pub const RESTORE: &str = "ops/restore";
