//! Every step's ID, declared once. Steps and their dependencies refer to
//! these constants, so a misspelt dependency does not compile; the graph
//! checks the rest (unique, known, acyclic) when it is built.

use crate::engine::StepId;

// network
pub const NETWORK_VPC: StepId = StepId::new("network.vpc");
pub const NETWORK_VPC_DNS: StepId = StepId::new("network.vpc-dns");
pub const NETWORK_DEFAULT_SG: StepId = StepId::new("network.default-sg");
pub const NETWORK_DEFAULT_NACL: StepId = StepId::new("network.default-nacl");
pub const NETWORK_SUBNETS: StepId = StepId::new("network.subnets");
pub const NETWORK_PUBLIC_SUBNET_IP: StepId = StepId::new("network.public-subnet-ip");
pub const NETWORK_EIPS: StepId = StepId::new("network.eips");
pub const NETWORK_IGW: StepId = StepId::new("network.igw");
pub const NETWORK_NAT: StepId = StepId::new("network.nat");
pub const NETWORK_ENDPOINT_SG: StepId = StepId::new("network.endpoint-sg");
pub const NETWORK_INTERFACE_ENDPOINTS: StepId = StepId::new("network.interface-endpoints");
pub const NETWORK_PUBLIC_ROUTES: StepId = StepId::new("network.public-routes");
pub const NETWORK_PRIVATE_ROUTE_TABLES: StepId = StepId::new("network.private-route-tables");
pub const NETWORK_NAT_ROUTES: StepId = StepId::new("network.nat-routes");
pub const NETWORK_S3_ENDPOINT: StepId = StepId::new("network.s3-endpoint");
pub const NETWORK_FLOW_LOG_ROLE: StepId = StepId::new("network.flow-log-role");
pub const NETWORK_FLOW_LOG_GROUP: StepId = StepId::new("network.flow-log-group");
pub const NETWORK_FLOW_LOG: StepId = StepId::new("network.flow-log");

// data
pub const DATA_DB_INSTANCE: StepId = StepId::new("data.db-instance");
pub const DATA_DB_PARAMS: StepId = StepId::new("data.db-parameter-group");
pub const DATA_DB_REQUIRE_TLS: StepId = StepId::new("data.db-require-tls");
pub const DATA_DB_MONITORING_ROLE: StepId = StepId::new("data.db-monitoring-role");
pub const DATA_DB_LOG_GROUPS: StepId = StepId::new("data.db-log-groups");
pub const DATA_DB_SUBNET_GROUP: StepId = StepId::new("data.db-subnet-group");
pub const DATA_DB_SG: StepId = StepId::new("data.db-sg");
pub const DATA_DB_SECRET: StepId = StepId::new("data.db-secret");
pub const DATA_DB_SECRET_ENDPOINT: StepId = StepId::new("data.db-secret-endpoint");
pub const DATA_EVENTS_TOPIC: StepId = StepId::new("data.events-topic");
pub const DATA_DB_EVENT_SUBSCRIPTION: StepId = StepId::new("data.db-event-subscription");
pub const DATA_CACHE_SG: StepId = StepId::new("data.cache-sg");
pub const DATA_CACHE_SUBNET_GROUP: StepId = StepId::new("data.cache-subnet-group");
pub const DATA_REDIS: StepId = StepId::new("data.redis");
pub const DATA_EFS: StepId = StepId::new("data.efs");
pub const DATA_EFS_SG: StepId = StepId::new("data.efs-sg");
pub const DATA_EFS_MOUNT_TARGETS: StepId = StepId::new("data.efs-mount-targets");
pub const DATA_EFS_ACCESS_POINT: StepId = StepId::new("data.efs-access-point");
pub const DATA_EFS_POLICY: StepId = StepId::new("data.efs-policy");
pub const DATA_EFS_OLD_ACCESS_POINTS: StepId = StepId::new("data.efs-old-access-points");
pub const DATA_BACKUP_VAULT: StepId = StepId::new("data.backup-vault");
pub const DATA_BACKUP_ROLE: StepId = StepId::new("data.backup-role");
pub const DATA_BACKUP_PLAN: StepId = StepId::new("data.backup-plan");

// edge
pub const EDGE_ALB_SG: StepId = StepId::new("edge.alb-sg");
pub const EDGE_ALB: StepId = StepId::new("edge.alb");
pub const EDGE_TARGET_GROUP: StepId = StepId::new("edge.target-group");
pub const EDGE_ORIGIN_SECRET: StepId = StepId::new("edge.origin-secret");
pub const EDGE_LISTENERS: StepId = StepId::new("edge.listeners");
pub const EDGE_WAF: StepId = StepId::new("edge.waf");
pub const EDGE_WAF_LOG_GROUP: StepId = StepId::new("edge.waf-log-group");
pub const EDGE_WAF_LOGGING: StepId = StepId::new("edge.waf-logging");
pub const EDGE_CLOUDFRONT: StepId = StepId::new("edge.cloudfront");

// compute
pub const COMPUTE_LOG_GROUP: StepId = StepId::new("compute.log-group");
pub const COMPUTE_ADMIN_SECRET: StepId = StepId::new("compute.admin-secret");
pub const COMPUTE_EXECUTION_ROLE: StepId = StepId::new("compute.execution-role");
pub const COMPUTE_TASK_ROLE: StepId = StepId::new("compute.task-role");
pub const COMPUTE_CLUSTER: StepId = StepId::new("compute.cluster");
pub const COMPUTE_SERVICE_SG: StepId = StepId::new("compute.service-sg");
pub const COMPUTE_SG_RULES: StepId = StepId::new("compute.sg-rules");
pub const COMPUTE_TASK_DEFINITION: StepId = StepId::new("compute.task-definition");
pub const COMPUTE_SERVICE: StepId = StepId::new("compute.service");
pub const COMPUTE_AUTOSCALING: StepId = StepId::new("compute.autoscaling");
pub const COMPUTE_CRON_TASK_DEFINITION: StepId = StepId::new("compute.cron-task-definition");
pub const COMPUTE_CRON_SERVICE: StepId = StepId::new("compute.cron-service");

// audit
pub const AUDIT_BUCKET: StepId = StepId::new("audit.bucket");
pub const AUDIT_TRAIL: StepId = StepId::new("audit.trail");
pub const AUDIT_LOGS_BUCKET: StepId = StepId::new("audit.logs-bucket");
pub const AUDIT_TRAIL_LOG_GROUP: StepId = StepId::new("audit.trail-log-group");
pub const AUDIT_TRAIL_LOGS_ROLE: StepId = StepId::new("audit.trail-logs-role");
pub const AUDIT_SECURITY_FILTERS: StepId = StepId::new("audit.security-filters");
pub const AUDIT_KEY: StepId = StepId::new("audit.key");

// observe
pub const OBSERVE_ALARMS: StepId = StepId::new("observe.alarms");
pub const OBSERVE_DASHBOARD: StepId = StepId::new("observe.dashboard");
pub const OBSERVE_ALERTS_KEY: StepId = StepId::new("observe.alerts-key");
pub const OBSERVE_ALERTS_KEY_GLOBAL: StepId = StepId::new("observe.alerts-key-us-east-1");
pub const OBSERVE_ALERTS_TOPIC_GLOBAL: StepId = StepId::new("observe.alerts-topic-us-east-1");

// day-2 operations: not steps of the graph; their progress is reported
// under these names (see `ops`).
pub const OPS_UPGRADE: StepId = StepId::new("ops.upgrade");
pub const OPS_BACKUP: StepId = StepId::new("ops.backup");
pub const OPS_RESTORE: StepId = StepId::new("ops.restore");
