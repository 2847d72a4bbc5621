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
    let log_arn = format!(
        "arn:aws:logs:{}:*:log-group:{}",
        cx.aws.region,
        log_group_name(cx)
    );
    let secrets: Vec<String> = [DB_SECRET, ADMIN_SECRET]
        .iter()
        .filter_map(|k| cx.state.id(k))
        .collect();
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

pub(crate) struct ExecRoleStep;

#[async_trait]
impl Step<StepCx> for ExecRoleStep {
    fn id(&self) -> StepId {
        ids::COMPUTE_EXECUTION_ROLE
    }
    fn deps(&self) -> &'static [StepId] {
        &[ids::DATA_DB_SECRET, ids::COMPUTE_ADMIN_SECRET]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::ensure_role(
            cx,
            EXEC_ROLE,
            &exec_role_name(cx),
            &ecs_trust(),
            "moodle-task-execution",
            &exec_policy(cx),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::destroy_role(cx, EXEC_ROLE, &exec_role_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            iam::inspect_role(cx, EXEC_ROLE, &exec_role_name(cx)).await?,
        ])
    }
}

pub(crate) struct TaskRoleStep;

#[async_trait]
impl Step<StepCx> for TaskRoleStep {
    fn id(&self) -> StepId {
        ids::COMPUTE_TASK_ROLE
    }
    fn deps(&self) -> &'static [StepId] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::ensure_role(
            cx,
            TASK_ROLE,
            &task_role_name(cx),
            &ecs_trust(),
            "moodle-ecs-exec",
            &task_policy(),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::destroy_role(cx, TASK_ROLE, &task_role_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            iam::inspect_role(cx, TASK_ROLE, &task_role_name(cx)).await?,
        ])
    }
}
