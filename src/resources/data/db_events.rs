//! RDS event alerts: an SNS topic with the e-mail subscription, and an RDS
//! event subscription naming our instance as its only source.
//!
//! The subscription needs the instance to exist (not to be available); the
//! topic is independent. A changed address is a new subscription and the old
//! one unsubscribed.

use super::*;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- alerts

pub(crate) struct TopicStep;

pub(crate) async fn find_topic(cx: &StepCx) -> Result<Option<String>, StepError> {
    if let Some(arn) = cx.state.id(TOPIC) {
        if absent_ok("GetTopicAttributes", &arn, cx.aws.sns.get_topic_attributes().topic_arn(&arn).send().await)?
            .is_some()
        {
            return Ok(Some(arn));
        }
    }
    let suffix = format!(":{}", topic_name(cx));
    let mut token = None;
    loop {
        let o = cx
            .aws
            .sns
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_err("ListTopics", "SNS topics", e))?;
        if let Some(t) = o.topics().iter().filter_map(|t| t.topic_arn()).find(|a| a.ends_with(&suffix)) {
            return Ok(Some(t.to_string()));
        }
        match o.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(None),
        }
    }
}

pub(crate) const TOPIC_STEP: Node = Node { id: ids::DATA_EVENTS_TOPIC, deps: &[], step: &TopicStep };

#[async_trait]
impl Step<StepCx> for TopicStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = topic_name(cx);
        let email = &cx.cfg.database.event_email;
        let (arn, mut out) = match find_topic(cx).await? {
            Some(arn) => {
                cx.record(TOPIC, Resource::new("sns:topic", &arn))?;
                (arn, Outcome::Unchanged)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = Tags::new(cx, TOPIC).render();
                let o = cx
                    .aws
                    .sns
                    .create_topic()
                    .name(&name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateTopic", &name, e))?;
                let arn = o.topic_arn().unwrap_or_default().to_string();
                cx.record_new(TOPIC, Resource::new("sns:topic", &arn))?;
                (arn, Outcome::Created)
            }
        };
        let subs = cx
            .aws
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_err("ListSubscriptionsByTopic", &name, e))?;
        let emails: Vec<_> = subs.subscriptions().iter().filter(|s| s.protocol() == Some("email")).collect();
        if !emails.iter().any(|s| s.endpoint() == Some(email.as_str())) {
            if out == Outcome::Unchanged {
                out = Outcome::Updated(vec![change(
                    "event_email",
                    emails.first().and_then(|s| s.endpoint()).unwrap_or("none"),
                    email,
                )]);
            }
            if !cx.dry_run {
                cx.aws
                    .sns
                    .subscribe()
                    .topic_arn(&arn)
                    .protocol("email")
                    .endpoint(email)
                    .return_subscription_arn(true)
                    .send()
                    .await
                    .map_err(|e| aws_err("Subscribe", &name, e))?;
            }
        }
        // Old addresses stop receiving alerts (unconfirmed ones expire by themselves).
        for s in emails.iter().filter(|s| s.endpoint() != Some(email.as_str())) {
            if let Some(sarn) = s.subscription_arn().filter(|a| a.starts_with("arn:")) {
                if !cx.dry_run {
                    deleted("Unsubscribe", sarn, cx.aws.sns.unsubscribe().subscription_arn(sarn).send().await)?;
                }
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let out = match find_topic(cx).await? {
            Some(arn) => deleted("DeleteTopic", &arn, cx.aws.sns.delete_topic().topic_arn(&arn).send().await)?,
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(TOPIC)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = topic_name(cx);
        Ok(vec![match find_topic(cx).await? {
            Some(arn) => {
                let subs = cx
                    .aws
                    .sns
                    .list_subscriptions_by_topic()
                    .topic_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| aws_err("ListSubscriptionsByTopic", &name, e))?;
                let emails: Vec<String> = subs
                    .subscriptions()
                    .iter()
                    .filter(|s| s.protocol() == Some("email"))
                    .filter_map(|s| s.endpoint().map(str::to_string))
                    .collect();
                let mut i = Inspection::new(
                    "sns:topic",
                    &name,
                    Some(arn),
                    format!("{} e-mail subscription(s)", emails.len()),
                    true,
                )
                .detail("emails", emails.join(","));
                if !emails.contains(&cx.cfg.database.event_email) {
                    i.drift = Some(format!("no subscription for {}", cx.cfg.database.event_email));
                }
                i
            }
            None => Inspection::missing("sns:topic", &name, cx.state.id(TOPIC)),
        }])
    }
}

pub(crate) struct EventSubscriptionStep;

pub(crate) async fn find_event_sub(cx: &StepCx) -> Result<Option<aws_sdk_rds::types::EventSubscription>, StepError> {
    let name = topic_name(cx);
    let r = absent_ok(
        "DescribeEventSubscriptions",
        &name,
        cx.aws.rds.describe_event_subscriptions().subscription_name(&name).send().await,
    )?;
    Ok(r.and_then(|o| o.event_subscriptions_list().first().cloned()))
}

pub(crate) const EVENT_SUBSCRIPTION_STEP: Node = Node {
    id: ids::DATA_DB_EVENT_SUBSCRIPTION,
    deps: &[ids::DATA_EVENTS_TOPIC, ids::DATA_DB_INSTANCE],
    step: &EventSubscriptionStep,
};

#[async_trait]
impl Step<StepCx> for EventSubscriptionStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = topic_name(cx);
        let source = instance_id(cx);
        let mut cats: Vec<String> = EVENT_CATEGORIES.iter().map(|s| s.to_string()).collect();
        cats.sort();
        match find_event_sub(cx).await? {
            Some(s) => {
                cx.record(EVENT_SUB, Resource::new("rds:event-subscription", &name))?;
                let topic = cx.state.id(TOPIC).unwrap_or_default();
                let mut live: Vec<String> = s.event_categories_list().to_vec();
                live.sort();
                let mut changes = vec![];
                if live != cats
                    || s.sns_topic_arn() != Some(topic.as_str())
                    || s.enabled() != Some(true)
                    || s.source_type() != Some("db-instance")
                {
                    changes.push(change("event subscription", live.join("|"), cats.join("|")));
                    if !cx.dry_run {
                        cx.aws
                            .rds
                            .modify_event_subscription()
                            .subscription_name(&name)
                            .sns_topic_arn(&topic)
                            .source_type("db-instance")
                            .set_event_categories(Some(cats.clone()))
                            .enabled(true)
                            .send()
                            .await
                            .map_err(|e| aws_err("ModifyEventSubscription", &name, e))?;
                    }
                }
                for other in s.source_ids_list().iter().filter(|i| **i != source) {
                    changes.push(format!("remove source {other}"));
                    if !cx.dry_run {
                        cx.aws
                            .rds
                            .remove_source_identifier_from_subscription()
                            .subscription_name(&name)
                            .source_identifier(other)
                            .send()
                            .await
                            .map_err(|e| aws_err("RemoveSourceIdentifierFromSubscription", &name, e))?;
                    }
                }
                if !s.source_ids_list().contains(&source) {
                    changes.push(format!("add source {source}"));
                    if !cx.dry_run {
                        cx.aws
                            .rds
                            .add_source_identifier_to_subscription()
                            .subscription_name(&name)
                            .source_identifier(&source)
                            .send()
                            .await
                            .map_err(|e| aws_err("AddSourceIdentifierToSubscription", &name, e))?;
                    }
                }
                Ok(if changes.is_empty() { Outcome::Unchanged } else { Outcome::Updated(changes) })
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let topic = cx.require(TOPIC, ids::DATA_EVENTS_TOPIC)?;
                cx.aws
                    .rds
                    .create_event_subscription()
                    .subscription_name(&name)
                    .sns_topic_arn(topic)
                    .source_type("db-instance")
                    .source_ids(&source)
                    .set_event_categories(Some(cats))
                    .enabled(true)
                    .set_tags(Some(Tags::named(cx, EVENT_SUB, &name).render()))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateEventSubscription", &name, e))?;
                cx.record_new(EVENT_SUB, Resource::new("rds:event-subscription", &name))?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = topic_name(cx);
        let out = match find_event_sub(cx).await? {
            Some(_) => deleted(
                "DeleteEventSubscription",
                &name,
                cx.aws.rds.delete_event_subscription().subscription_name(&name).send().await,
            )?,
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(EVENT_SUB)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = topic_name(cx);
        Ok(vec![match find_event_sub(cx).await? {
            Some(s) => Inspection::new(
                "rds:event-subscription",
                &name,
                s.event_subscription_arn().map(str::to_string),
                s.status().unwrap_or("unknown"),
                s.enabled() == Some(true),
            )
            .detail("sources", s.source_ids_list().join(","))
            .detail("categories", s.event_categories_list().join(",")),
            None => Inspection::missing("rds:event-subscription", &name, cx.state.id(EVENT_SUB)),
        }])
    }
}
