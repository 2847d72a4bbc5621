//! The task execution role (pull from ECR, write logs, read exactly the two
//! secrets) and the task role (ECS Exec).
//!
//! Both must be assumable by `ecs-tasks.amazonaws.com`; ECS checks that when
//! the task definition is registered, which IAM propagation can delay.

use super::*;
use crate::resources::data::DB_SECRET;
use crate::resources::prelude::*;

/// Pull from ECR, write logs, read exactly the two secrets.
pub(crate) fn exec_policy(cx: &StepCx) -> serde_json::Value {
    let log_arn = format!("arn:aws:logs:{}:*:log-group:{}", cx.aws.region, log_group_name(cx));
    let secrets: Vec<String> = [DB_SECRET, ADMIN_SECRET].iter().filter_map(|k| cx.state.id(k)).collect();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": format!("{log_arn}:*")},
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secrets}
        ]
    })
}

/// ECS Exec (SSM session channels) so `moodlectl` can run Moodle CLI commands in a task.
pub(crate) fn task_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
            "Resource": "*"
        }]
    })
}

pub(crate) const EXEC_ROLE_DEF: iam::RoleStep = iam::RoleStep {
    key: EXEC_ROLE,
    name: exec_role_name,
    // The ECS agent assumes it; AWS documents no source-account context for it.
    trust: |_| iam::trust("ecs-tasks.amazonaws.com"),
    policy_name: "moodle-task-execution",
    policy: exec_policy,
};

/// What the containers themselves may do: ECS Exec's SSM channel.
pub(crate) const TASK_ROLE_DEF: iam::RoleStep = iam::RoleStep {
    key: TASK_ROLE,
    name: task_role_name,
    trust: |account| iam::trust_in_account("ecs-tasks.amazonaws.com", account),
    policy_name: "moodle-ecs-exec",
    policy: |_| task_policy(),
};
