//! RDS event alerts: an SNS topic with the e-mail subscription, and an RDS
//! event subscription naming our instance as its only source.
//!
//! The subscription needs the instance to exist (not to be available); the
//! topic is independent. A changed address is a new subscription and the old
//! one unsubscribed.

use super::*;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- alerts

/// An alert topic: the stack's (RDS events and alarms; `data.events-topic`)
/// or its us-east-1 twin for CloudFront's alarm (`global`; only when the
/// stack is elsewhere). Each is encrypted with the KMS key of its region
/// (`observe::KeyStep`) and has the e-mail subscription.
pub(crate) struct TopicStep {
    pub global: bool,
}

impl TopicStep {
    fn sns<'a>(&self, cx: &'a StepCx) -> &'a aws_sdk_sns::Client {
        if self.global {
            &cx.aws.sns_global
        } else {
            &cx.aws.sns
        }
    }
    fn key(&self) -> &'static str {
        if self.global {
            TOPIC_GLOBAL
        } else {
            TOPIC
        }
    }
    fn kms_key(&self) -> &'static str {
        if self.global {
            ALERTS_KEY_GLOBAL
        } else {
            ALERTS_KEY
        }
    }
    fn name(&self, cx: &StepCx) -> String {
        if self.global {
            cx.cfg.name("alerts")
        } else {
            topic_name(cx)
        }
    }
    fn needed(&self, cx: &StepCx) -> bool {
        !self.global || crate::resources::observe::needs_us_east_1_twin(cx)
    }
    async fn find(&self, cx: &StepCx) -> Result<Option<String>, StepError> {
        find_topic_in(cx, self.sns(cx), self.key(), &self.name(cx)).await
    }
}

async fn find_topic_in(
    cx: &StepCx,
    sns: &aws_sdk_sns::Client,
    key: &str,
    name: &str,
) -> Result<Option<String>, StepError> {
    if let Some(arn) = cx.state.id(key) {
        let live = sns.get_topic_attributes().topic_arn(&arn).send().await;
        if live.or_absent("GetTopicAttributes", &arn)?.is_some() {
            return Ok(Some(arn));
        }
    }
    let suffix = format!(":{name}");
    let mut token = None;
    loop {
        let o = sns.list_topics().set_next_token(token).send().await.ctx("ListTopics", "SNS topics")?;
        if let Some(t) = o.topics().iter().filter_map(|t| t.topic_arn()).find(|a| a.ends_with(&suffix)) {
            return Ok(Some(t.to_string()));
        }
        match o.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(None),
        }
    }
}

/// The topic's e-mail subscriptions, every page. An unconfirmed one has the
/// subscription ARN `PendingConfirmation` (SNS API reference,
/// ListSubscriptionsByTopic): it receives nothing until its owner clicks the
/// link AWS mailed.
async fn email_subscriptions(
    sns: &aws_sdk_sns::Client,
    arn: &str,
) -> Result<Vec<aws_sdk_sns::types::Subscription>, StepError> {
    let pages = sns.list_subscriptions_by_topic().topic_arn(arn).into_paginator().send();
    let subs: Vec<_> = pages.collect::<Result<Vec<_>, _>>().await.ctx("ListSubscriptionsByTopic", arn)?;
    Ok(subs.iter().flat_map(|o| o.subscriptions()).filter(|s| s.protocol() == Some("email")).cloned().collect())
}

fn pending(s: &aws_sdk_sns::types::Subscription) -> bool {
    s.subscription_arn() == Some("PendingConfirmation")
}

const KMS_ATTR: &str = "KmsMasterKeyId";

#[async_trait]
impl Step<StepCx> for TopicStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        if !self.needed(cx) {
            return Ok(Outcome::Unchanged);
        }
        let (sns, name) = (self.sns(cx), self.name(cx));
        let email = &cx.cfg.database.event_email;
        let kms = cx.state.get(self.kms_key()).and_then(|r| r.attrs.get("arn").cloned());
        let (arn, mut out) = match self.find(cx).await? {
            Some(arn) => {
                cx.record(self.key(), Resource::new("sns:topic", &arn))?;
                let attrs = sns.get_topic_attributes().topic_arn(&arn).send().await.ctx("GetTopicAttributes", &arn)?;
                let live = attrs.attributes().and_then(|a| a.get(KMS_ATTR)).cloned().unwrap_or_default();
                match kms.as_ref().filter(|k| **k != live) {
                    Some(k) => {
                        if !cx.dry_run {
                            let call = sns.set_topic_attributes().topic_arn(&arn).attribute_name(KMS_ATTR);
                            call.attribute_value(k).send().await.ctx("SetTopicAttributes", &arn)?;
                        }
                        let shown = if live.is_empty() { "none" } else { live.as_str() };
                        (arn, Outcome::Updated(vec![change("encryption key", shown, k)]))
                    }
                    None => (arn, Outcome::Unchanged),
                }
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = Tags::new(cx, self.key()).render();
                let call = sns.create_topic().name(&name).set_tags(Some(tags));
                let call = call.set_attributes(kms.map(|k| [(KMS_ATTR.to_string(), k)].into()));
                let o = call.send().await.ctx("CreateTopic", &name)?;
                let arn = o.topic_arn().unwrap_or_default().to_string();
                cx.record_new(self.key(), Resource::new("sns:topic", &arn))?;
                (arn, Outcome::Created)
            }
        };
        let emails = email_subscriptions(sns, &arn).await?;
        if !emails.iter().any(|s| s.endpoint() == Some(email.as_str())) {
            if out == Outcome::Unchanged {
                out = Outcome::Updated(vec![change(
                    "event_email",
                    emails.first().and_then(|s| s.endpoint()).unwrap_or("none"),
                    email,
                )]);
            }
            if !cx.dry_run {
                let call = sns.subscribe().topic_arn(&arn).protocol("email").endpoint(email);
                let call = call.return_subscription_arn(true);
                call.send().await.ctx("Subscribe", &name)?;
            }
        }
        // Old addresses stop receiving alerts (unconfirmed ones expire by themselves).
        for s in emails.iter().filter(|s| s.endpoint() != Some(email.as_str())) {
            if let Some(sarn) = s.subscription_arn().filter(|a| a.starts_with("arn:")) {
                if !cx.dry_run {
                    deleted("Unsubscribe", sarn, sns.unsubscribe().subscription_arn(sarn).send().await)?;
                }
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let found = if self.needed(cx) { self.find(cx).await? } else { None };
        cx.remove(self.key(), found, |arn| async move {
            deleted("DeleteTopic", &arn, self.sns(cx).delete_topic().topic_arn(&arn).send().await)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        if !self.needed(cx) {
            return Ok(vec![]);
        }
        let found = match self.find(cx).await? {
            Some(arn) => Some((email_subscriptions(self.sns(cx), &arn).await?, arn)),
            None => None,
        };
        let want = &cx.cfg.database.event_email;
        let name = if self.global { format!("{} (us-east-1)", self.name(cx)) } else { self.name(cx) };
        cx.inspect_one(self.key(), "sns:topic", &name, found, |i, (subs, arn)| {
            let ours = subs.iter().find(|s| s.endpoint() == Some(want.as_str()));
            let (state, ok) = match ours {
                Some(s) if pending(s) => (format!("{want}: pending confirmation (the link AWS e-mailed)"), false),
                Some(_) => (format!("{want}: confirmed"), true),
                None => (format!("no subscription for {want}"), false),
            };
            let mut i = i.status(Some(&arn), state, ok).detail(
                "emails",
                subs.iter()
                    .map(|s| format!("{}{}", s.endpoint().unwrap_or("?"), if pending(s) { " (pending)" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            if ours.is_none() {
                i.drift = Some(format!("no subscription for {want}"));
            }
            i
        })
    }
}

pub(crate) struct EventSubscriptionStep;

pub(crate) async fn find_event_sub(cx: &StepCx) -> Result<Option<aws_sdk_rds::types::EventSubscription>, StepError> {
    let name = topic_name(cx);
    let call = cx.aws.rds.describe_event_subscriptions().subscription_name(&name);
    let r = call.send().await.or_absent("DescribeEventSubscriptions", &name)?;
    Ok(r.and_then(|o| o.event_subscriptions_list().first().cloned()))
}

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
                        let call = cx.aws.rds.modify_event_subscription().subscription_name(&name);
                        let call = call.sns_topic_arn(&topic).source_type("db-instance");
                        let call = call.set_event_categories(Some(cats.clone())).enabled(true);
                        call.send().await.ctx("ModifyEventSubscription", &name)?;
                    }
                }
                for other in s.source_ids_list().iter().filter(|i| **i != source) {
                    changes.push(format!("remove source {other}"));
                    if !cx.dry_run {
                        let call = cx.aws.rds.remove_source_identifier_from_subscription().subscription_name(&name);
                        let call = call.source_identifier(other);
                        call.send().await.ctx("RemoveSourceIdentifierFromSubscription", &name)?;
                    }
                }
                if !s.source_ids_list().contains(&source) {
                    changes.push(format!("add source {source}"));
                    if !cx.dry_run {
                        let call = cx.aws.rds.add_source_identifier_to_subscription().subscription_name(&name);
                        let call = call.source_identifier(&source);
                        call.send().await.ctx("AddSourceIdentifierToSubscription", &name)?;
                    }
                }
                Ok(Outcome::of_changes(changes))
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let topic = cx.require(TOPIC, ids::DATA_EVENTS_TOPIC)?;
                let call = cx.aws.rds.create_event_subscription().subscription_name(&name).sns_topic_arn(topic);
                let call = call.source_type("db-instance").source_ids(&source).set_event_categories(Some(cats));
                let call = call.enabled(true).set_tags(Some(Tags::named(cx, EVENT_SUB, &name).render()));
                call.send().await.ctx("CreateEventSubscription", &name)?;
                cx.record_new(EVENT_SUB, Resource::new("rds:event-subscription", &name))?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = topic_name(cx);
        cx.remove(EVENT_SUB, find_event_sub(cx).await?, |_| async {
            let r = cx.aws.rds.delete_event_subscription().subscription_name(&name).send().await;
            deleted("DeleteEventSubscription", &name, r)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        cx.inspect_one(EVENT_SUB, "rds:event-subscription", &topic_name(cx), find_event_sub(cx).await?, |i, s| {
            i.status(s.event_subscription_arn(), s.status().unwrap_or("unknown"), s.enabled() == Some(true))
                .detail("sources", s.source_ids_list().join(","))
                .detail("categories", s.event_categories_list().join(","))
        })
    }
}
