//! Tags: how a resource is found again when the state file does not know it.
//!
//! Every resource carries `moodlectl:stack` (the stack name) and
//! `moodlectl:resource` (its logical key in the state file), plus `Name`
//! where the console shows one. Tags go in the create call itself wherever
//! the API allows, so a crash right after a create can always be recovered by
//! a lookup. [`Tags`] is that one set; [`SdkTag`] renders it for each SDK,
//! whose `Tag` types differ only in which fields are optional.

use crate::resources::StepCx;
use std::collections::HashMap;

pub const TAG_STACK: &str = "moodlectl:stack";
pub const TAG_RESOURCE: &str = "moodlectl:resource";

/// The tags of one resource of this stack.
#[derive(Debug, Clone)]
pub struct Tags {
    pairs: Vec<(String, String)>,
}

impl Tags {
    /// Stack and logical key.
    pub fn new(cx: &StepCx, key: &str) -> Tags {
        Tags { pairs: vec![(TAG_STACK.into(), cx.cfg.stack.name.clone()), (TAG_RESOURCE.into(), key.into())] }
    }

    /// Stack, logical key and `Name`.
    pub fn named(cx: &StepCx, key: &str, name: &str) -> Tags {
        let mut t = Tags::new(cx, key);
        t.pairs.push(("Name".into(), name.into()));
        t
    }

    /// The tags in one SDK's type.
    pub fn render<T: SdkTag>(&self) -> Vec<T> {
        self.pairs.iter().map(|(k, v)| T::make(k, v)).collect()
    }

    /// The tags as a map (CloudWatch Logs, Application Auto Scaling).
    pub fn map(&self) -> HashMap<String, String> {
        self.pairs.iter().cloned().collect()
    }
}

/// A `Tag` type of one AWS SDK.
pub trait SdkTag {
    fn make(key: &str, value: &str) -> Self;
    fn key_str(&self) -> Option<&str>;
    fn value_str(&self) -> Option<&str>;
}

macro_rules! sdk_tag {
    // key and value optional in the model: the builder cannot fail.
    (optional: $($t:ty),*) => {$(
        impl SdkTag for $t {
            fn make(key: &str, value: &str) -> Self {
                <$t>::builder().key(key).value(value).build()
            }
            fn key_str(&self) -> Option<&str> {
                self.key()
            }
            fn value_str(&self) -> Option<&str> {
                self.value()
            }
        }
    )*};
    // key required: the builder checks it; the value is required or optional.
    (required $value:ident: $($t:ty),*) => {$(
        impl SdkTag for $t {
            fn make(key: &str, value: &str) -> Self {
                <$t>::builder().key(key).value(value).build().expect("key and value are set")
            }
            fn key_str(&self) -> Option<&str> {
                Some(self.key())
            }
            fn value_str(&self) -> Option<&str> {
                sdk_tag!(@value $value self)
            }
        }
    )*};
    (@value required $s:ident) => { Some($s.value()) };
    (@value optional $s:ident) => { $s.value() };
}

sdk_tag!(optional:
    aws_sdk_cloudwatch::types::Tag,
    aws_sdk_ec2::types::Tag,
    aws_sdk_ecs::types::Tag,
    aws_sdk_rds::types::Tag,
    aws_sdk_elasticache::types::Tag,
    aws_sdk_secretsmanager::types::Tag,
    aws_sdk_elasticloadbalancingv2::types::Tag
);
sdk_tag!(required required:
    aws_sdk_efs::types::Tag,
    aws_sdk_sns::types::Tag,
    aws_sdk_iam::types::Tag,
    aws_sdk_wafv2::types::Tag,
    aws_sdk_s3::types::Tag
);
sdk_tag!(required optional:
    aws_sdk_cloudfront::types::Tag,
    aws_sdk_cloudtrail::types::Tag
);

// KMS names its fields TagKey/TagValue.
impl SdkTag for aws_sdk_kms::types::Tag {
    fn make(key: &str, value: &str) -> Self {
        Self::builder().tag_key(key).tag_value(value).build().expect("key and value are set")
    }
    fn key_str(&self) -> Option<&str> {
        Some(self.tag_key())
    }
    fn value_str(&self) -> Option<&str> {
        Some(self.tag_value())
    }
}

/// The value of tag `key` in a list of tags.
pub fn tag_value<'a, T: SdkTag>(tags: &'a [T], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key_str() == Some(key)).and_then(|t| t.value_str())
}

/// Does a resource carry this stack's tags for logical `key`? Lookups check
/// this client-side too: some endpoints (moto for NAT gateways) ignore tag
/// filters, and adopting the wrong resource would be far worse than a
/// redundant comparison.
pub fn is_ours<T: SdkTag>(cx: &StepCx, tags: &[T], key: &str) -> bool {
    tag_value(tags, TAG_STACK) == Some(cx.cfg.stack.name.as_str()) && tag_value(tags, TAG_RESOURCE) == Some(key)
}

/// The same check on a tag map.
pub fn map_is_ours(cx: &StepCx, tags: Option<&HashMap<String, String>>, key: &str) -> bool {
    tags.is_some_and(|t| {
        t.get(TAG_STACK).map(String::as_str) == Some(cx.cfg.stack.name.as_str())
            && t.get(TAG_RESOURCE).map(String::as_str) == Some(key)
    })
}

/// EC2: the tags in the create call.
pub fn ec2_tag_spec(
    cx: &StepCx,
    rtype: aws_sdk_ec2::types::ResourceType,
    key: &str,
    name: &str,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(rtype)
        .set_tags(Some(Tags::named(cx, key, name).render()))
        .build()
}

/// EC2: filters that find the resource with logical `key` of this stack.
pub fn ec2_filters(cx: &StepCx, key: &str) -> Vec<aws_sdk_ec2::types::Filter> {
    vec![ec2_stack_filter(cx), ec2_filter(&format!("tag:{TAG_RESOURCE}"), key)]
}

/// EC2: every resource of the stack of one kind.
pub fn ec2_stack_filter(cx: &StepCx) -> aws_sdk_ec2::types::Filter {
    ec2_filter(&format!("tag:{TAG_STACK}"), &cx.cfg.stack.name)
}

pub fn ec2_filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder().name(name).values(value).build()
}
