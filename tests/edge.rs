//! Edge and audit tiers against moto, verified with independent SDK clients:
//! the ALB locked to CloudFront, WAF in us-east-1, the distribution, the
//! CloudTrail bucket and trail; in-place updates; teardown incl. a
//! distribution caught mid-disable by SIGKILL.

mod common;
use common::*;

#[cfg(feature = "test-hooks")]
use std::os::unix::process::ExitStatusExt;

async fn origin_secret(endpoint: &str) -> String {
    let conf = sdk(endpoint, REGION).await;
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    sm.get_secret_value().secret_id("moodle-origin-verify").send().await.unwrap().secret_string().unwrap().to_string()
}

fn cfg_value(p: &Project, key: &str) -> String {
    let text = std::fs::read_to_string(p.config_path()).unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap();
    line.split('"').nth(1).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_builds_edge_and_audit_as_specified() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    let (up_out, up_err) = p.expect(&["up", "--yes", "-vv"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let global = sdk(&moto.url, "us-east-1").await;
    let state = read_state(&p.state_path());
    let sid = |k: &str| state["resources"][k]["id"].as_str().unwrap().to_string();
    let secret = origin_secret(&moto.url).await;

    // ALB: internet-facing, public subnets, our SG.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let lb = elb.describe_load_balancers().names("moodle-alb").send().await.unwrap().load_balancers()[0].clone();
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    // Header fields that are not valid HTTP are dropped before they reach Moodle.
    let attrs = elb.describe_load_balancer_attributes().load_balancer_arn(lb.load_balancer_arn().unwrap()).send();
    let attrs = attrs.await.unwrap();
    let drop = attrs.attributes().iter().find(|a| a.key() == Some("routing.http.drop_invalid_header_fields.enabled"));
    assert_eq!(drop.and_then(|a| a.value()), Some("true"));
    // Access logs to the logs bucket, under alb/; deletion protection as configured (off).
    let attr = |k: &str| attrs.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value());
    let logs = "moodle-logs-123456789012-ap-southeast-1";
    assert_eq!(
        (attr("access_logs.s3.enabled"), attr("access_logs.s3.bucket"), attr("access_logs.s3.prefix")),
        (Some("true"), Some(logs), Some("alb"))
    );
    assert_eq!(attr("deletion_protection.enabled"), Some("true"));
    let mut lb_subnets: Vec<String> =
        lb.availability_zones().iter().filter_map(|z| z.subnet_id().map(str::to_string)).collect();
    lb_subnets.sort();
    let mut public = vec![sid("subnet/public-a"), sid("subnet/public-b")];
    public.sort();
    assert_eq!(lb_subnets, public);
    assert_eq!(lb.security_groups(), [sid("sg/alb")]);

    // SG: 443 from the CloudFront prefix list only.
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let pl = ec2
        .describe_managed_prefix_lists()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("prefix-list-name")
                .values("com.amazonaws.global.cloudfront.origin-facing")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .prefix_lists()[0]
        .prefix_list_id()
        .unwrap()
        .to_string();
    let sg = ec2.describe_security_groups().group_ids(sid("sg/alb")).send().await.unwrap().security_groups()[0].clone();
    assert_eq!(sg.ip_permissions().len(), 1, "{:?}", sg.ip_permissions());
    let perm = &sg.ip_permissions()[0];
    assert_eq!((perm.from_port(), perm.to_port()), (Some(443), Some(443)));
    assert_eq!(perm.prefix_list_ids().iter().filter_map(|p| p.prefix_list_id()).collect::<Vec<_>>(), [pl.as_str()]);
    assert!(perm.ip_ranges().is_empty(), "nothing from 0.0.0.0/0");

    // Target group.
    let tg = elb.describe_target_groups().names("moodle-tg").send().await.unwrap().target_groups()[0].clone();
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("HTTP"));
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
    assert_eq!(tg.health_check_path(), Some("/moodlectl-health"));
    assert_eq!(tg.health_check_timeout_seconds(), Some(20));
    assert_eq!(tg.matcher().and_then(|m| m.http_code()), Some("200"));
    let attrs =
        elb.describe_target_group_attributes().target_group_arn(tg.target_group_arn().unwrap()).send().await.unwrap();
    let delay = attrs
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value());
    assert_eq!(delay, Some("30"));

    // Listeners: 80 redirects; 443 has the certificate, default 403, header rule forwards.
    let ls = elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap()
        .listeners()
        .to_vec();
    let l80 = ls.iter().find(|l| l.port() == Some(80)).unwrap();
    let redirect = l80.default_actions()[0].redirect_config().unwrap();
    assert_eq!(
        (redirect.protocol(), redirect.port(), redirect.status_code().map(|s| s.as_str())),
        (Some("HTTPS"), Some("443"), Some("HTTP_301"))
    );
    let l443 = ls.iter().find(|l| l.port() == Some(443)).unwrap();
    assert_eq!(l443.certificates()[0].certificate_arn(), Some(cfg_value(&p, "alb_certificate_arn").as_str()));
    assert_eq!(l443.ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09"));
    assert_eq!(l443.default_actions()[0].fixed_response_config().and_then(|f| f.status_code()), Some("403"));
    let rules = elb.describe_rules().listener_arn(l443.listener_arn().unwrap()).send().await.unwrap().rules().to_vec();
    let rule = rules.iter().find(|r| r.is_default() != Some(true)).expect("header rule");
    let hdr = rule.conditions()[0].http_header_config().unwrap();
    assert_eq!(hdr.http_header_name(), Some("X-Origin-Verify"));
    assert_eq!(hdr.values(), std::slice::from_ref(&secret));
    assert_eq!(rule.actions()[0].target_group_arn(), tg.target_group_arn());

    // WAF in us-east-1.
    let waf = aws_sdk_wafv2::Client::new(&global);
    let summary =
        waf.list_web_acls().scope(aws_sdk_wafv2::types::Scope::Cloudfront).send().await.unwrap().web_acls()[0].clone();
    assert_eq!(summary.name(), Some("moodle-cf-waf"));
    assert!(summary.arn().unwrap().contains(":us-east-1:"));
    let acl = waf
        .get_web_acl()
        .name("moodle-cf-waf")
        .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
        .id(summary.id().unwrap())
        .send()
        .await
        .unwrap()
        .web_acl()
        .unwrap()
        .clone();
    assert!(acl.default_action().unwrap().allow().is_some());
    assert_eq!(acl.rules().len(), 1);
    let r0 = &acl.rules()[0];
    assert_eq!(r0.priority(), 0);
    assert_eq!(
        r0.statement().unwrap().managed_rule_group_statement().unwrap().name(),
        "AWSManagedRulesAmazonIpReputationList"
    );
    assert!(r0.override_action().unwrap().none().is_some());
    let vis = r0.visibility_config().unwrap();
    assert!(vis.sampled_requests_enabled() && vis.cloud_watch_metrics_enabled());

    // CloudFront.
    let cf = aws_sdk_cloudfront::Client::new(&global);
    let dc = cf
        .get_distribution_config()
        .id(sid("cloudfront/distribution"))
        .send()
        .await
        .unwrap()
        .distribution_config()
        .unwrap()
        .clone();
    let origin = &dc.origins().unwrap().items()[0];
    assert_eq!(origin.domain_name(), lb.dns_name().unwrap());
    let coc = origin.custom_origin_config().unwrap();
    assert_eq!(coc.origin_protocol_policy().as_str(), "https-only");
    assert_eq!(coc.origin_ssl_protocols().unwrap().items().iter().map(|p| p.as_str()).collect::<Vec<_>>(), ["TLSv1.2"]);
    assert_eq!(coc.origin_read_timeout(), Some(60));
    let h = &origin.custom_headers().unwrap().items()[0];
    assert_eq!((h.header_name(), h.header_value()), ("X-Origin-Verify", secret.as_str()));
    let b = dc.default_cache_behavior().unwrap();
    assert_eq!(b.viewer_protocol_policy().as_str(), "redirect-to-https");
    assert_eq!(b.allowed_methods().unwrap().quantity(), 7);
    assert_eq!(b.cache_policy_id(), Some("4135ea2d-6df8-44a3-9df3-4b5a84be39ad"));
    assert_eq!(b.origin_request_policy_id(), Some("216adef6-5c7f-47e4-b989-5492eafa07d3"));
    assert_eq!(dc.aliases().unwrap().items(), ["moodle.example.com"]);
    let vc = dc.viewer_certificate().unwrap();
    assert_eq!(vc.acm_certificate_arn(), Some(cfg_value(&p, "cloudfront_certificate_arn").as_str()));
    assert_eq!(vc.ssl_support_method().map(|s| s.as_str()), Some("sni-only"));
    assert_eq!(vc.minimum_protocol_version().map(|s| s.as_str()), Some("TLSv1.2_2021"));
    assert_eq!(dc.web_acl_id(), summary.arn());
    assert_eq!(dc.http_version().map(|h| h.as_str()), Some("http2and3"));
    assert!(dc.enabled());
    // Standard logs to the logs bucket, under cloudfront/, without cookies (Moodle's session).
    let lg = dc.logging().unwrap();
    assert_eq!((lg.enabled(), lg.include_cookies()), (true, false));
    assert_eq!((lg.bucket(), lg.prefix()), (format!("{logs}.s3.amazonaws.com").as_str(), "cloudfront/"));

    // CloudTrail bucket and trail.
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build());
    let bucket = "moodle-cloudtrail-123456789012-ap-southeast-1";
    let pab = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration()
        .unwrap()
        .clone();
    assert_eq!(
        [pab.block_public_acls(), pab.ignore_public_acls(), pab.block_public_policy(), pab.restrict_public_buckets()],
        [Some(true); 4]
    );
    let enc = s3.get_bucket_encryption().bucket(bucket).send().await.unwrap();
    let alg = enc.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap()
        .sse_algorithm()
        .as_str()
        .to_string();
    assert_eq!(alg, "AES256");
    // Versioned (an overwritten or deleted log file is kept), and the logs end
    // after logs.audit_retention_days, replaced versions 30 days later.
    let v = s3.get_bucket_versioning().bucket(bucket).send().await.unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Enabled"));
    let life = s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await.unwrap();
    let rule = &life.rules()[0];
    assert_eq!(rule.status().as_str(), "Enabled");
    assert_eq!(rule.expiration().and_then(|e| e.days()), Some(365));
    assert_eq!(rule.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()), Some(30));
    let own = s3.get_bucket_ownership_controls().bucket(bucket).send().await.unwrap();
    assert_eq!(own.ownership_controls().unwrap().rules()[0].object_ownership().as_str(), "BucketOwnerEnforced");
    let policy: serde_json::Value =
        serde_json::from_str(s3.get_bucket_policy().bucket(bucket).send().await.unwrap().policy().unwrap()).unwrap();
    let stmts = policy["Statement"].as_array().unwrap();
    assert!(stmts.iter().any(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"));
    let trail_arn = "arn:aws:cloudtrail:ap-southeast-1:123456789012:trail/moodle-trail";
    assert!(stmts
        .iter()
        .any(|s| s["Action"] == "s3:GetBucketAcl" && s["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn));
    assert!(stmts.iter().any(|s| s["Action"] == "s3:PutObject"
        && s["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"));
    // The access-logs bucket: the same protections; ACLs on (CloudFront's
    // standard logs write by ACL grant); the region's ELB account may write under alb/.
    let own = s3.get_bucket_ownership_controls().bucket(logs).send().await.unwrap();
    assert_eq!(own.ownership_controls().unwrap().rules()[0].object_ownership().as_str(), "BucketOwnerPreferred");
    // CloudFront refuses standard logs to a bucket with ACLs off (every new
    // bucket's default) or to no bucket at all (the emulator, as AWS).
    let here = aws_sdk_s3::types::BucketLocationConstraint::from(REGION);
    let located = aws_sdk_s3::types::CreateBucketConfiguration::builder().location_constraint(here).build();
    s3.create_bucket().bucket("acls-off").create_bucket_configuration(located).send().await.unwrap();
    let id = sid("cloudfront/distribution");
    let etag = cf.get_distribution_config().id(&id).send().await.unwrap().e_tag().unwrap().to_string();
    for (bucket, why) in [("acls-off", "doesn't enable ACL access"), ("no-such-bucket", "does not exist")] {
        let mut elsewhere = dc.clone();
        let to = aws_sdk_cloudfront::types::LoggingConfig::builder()
            .enabled(true)
            .include_cookies(false)
            .bucket(format!("{bucket}.s3.amazonaws.com"))
            .prefix("cloudfront/")
            .build();
        elsewhere.logging = Some(to);
        let call = cf.update_distribution().id(&id).if_match(&etag).distribution_config(elsewhere);
        let e = call.send().await.unwrap_err();
        let meta = aws_sdk_cloudfront::error::ProvideErrorMetadata::meta(&e);
        assert_eq!(meta.code(), Some("InvalidArgument"), "{bucket}: {meta:?}");
        assert!(meta.message().unwrap_or_default().contains(why), "{bucket}: {meta:?}");
    }
    s3.delete_bucket().bucket("acls-off").send().await.unwrap();
    let pab = s3.get_public_access_block().bucket(logs).send().await.unwrap();
    assert_eq!(pab.public_access_block_configuration().unwrap().block_public_policy(), Some(true));
    let life = s3.get_bucket_lifecycle_configuration().bucket(logs).send().await.unwrap();
    assert_eq!(life.rules()[0].expiration().and_then(|e| e.days()), Some(90));
    let policy: serde_json::Value =
        serde_json::from_str(s3.get_bucket_policy().bucket(logs).send().await.unwrap().policy().unwrap()).unwrap();
    let elb = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "LoadBalancerAccessLogs").unwrap();
    assert_eq!(elb["Principal"]["AWS"], "arn:aws:iam::114774131450:root");
    assert_eq!(elb["Resource"], format!("arn:aws:s3:::{logs}/alb/AWSLogs/123456789012/*"));
    let ct = aws_sdk_cloudtrail::Client::new(&conf);
    let t = ct.describe_trails().trail_name_list("moodle-trail").send().await.unwrap().trail_list()[0].clone();
    assert_eq!(t.s3_bucket_name(), Some(bucket));
    assert_eq!(t.is_multi_region_trail(), Some(true));
    assert_eq!(t.include_global_service_events(), Some(true));
    assert_eq!(t.log_file_validation_enabled(), Some(true));
    assert_eq!(ct.get_trail_status().name("moodle-trail").send().await.unwrap().is_logging(), Some(true));

    // The origin-verify value never reaches state or output.
    confirm_alert_email(&moto.url);
    let (status, _) = p.expect(&["status", "-o", "json"], 0);
    let (outputs, _) = p.expect(&["outputs"], 0);
    let state_text = std::fs::read_to_string(p.state_path()).unwrap();
    for (what, text) in [
        ("state", &state_text),
        ("up stdout", &up_out),
        ("up stderr", &up_err),
        ("status", &status),
        ("outputs", &outputs),
    ] {
        assert!(!text.contains(&secret), "origin-verify value appears in {what}");
    }
    let cf_domain = state["resources"]["cloudfront/distribution"]["attrs"]["domain"].as_str().unwrap();
    assert!(outputs.contains(&format!("moodle.example.com CNAME {cf_domain}")), "{outputs}");
    assert!(outputs.contains(lb.dns_name().unwrap()) && outputs.contains(summary.arn().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_timeout_and_waf_rule_groups_update_in_place() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    assert!(p.up_mutating(&moto).is_empty());

    p.edit_config("origin_timeout_seconds = 60", "origin_timeout_seconds = 45");
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(
        plan.lines().any(|l| l.starts_with('~')
            && l.contains("edge.cloudfront")
            && l.contains("origin_timeout_seconds: 60 → 45")),
        "{plan}"
    );
    assert_eq!(p.up_mutating(&moto), ["UpdateDistribution"]);

    p.edit_config("extra_managed_rule_groups = []", "extra_managed_rule_groups = [{ name = \"AWSManagedRulesCommonRuleSet\", count_rules = [\"SizeRestrictions_BODY\"] }]");
    assert_eq!(p.up_mutating(&moto), ["UpdateWebACL"]);

    let global = sdk(&moto.url, "us-east-1").await;
    let cf = aws_sdk_cloudfront::Client::new(&global);
    let id = read_state(&p.state_path())["resources"]["cloudfront/distribution"]["id"].as_str().unwrap().to_string();
    let dc = cf.get_distribution_config().id(&id).send().await.unwrap();
    assert_eq!(
        dc.distribution_config().unwrap().origins().unwrap().items()[0]
            .custom_origin_config()
            .unwrap()
            .origin_read_timeout(),
        Some(45)
    );
    let waf = aws_sdk_wafv2::Client::new(&global);
    let s =
        waf.list_web_acls().scope(aws_sdk_wafv2::types::Scope::Cloudfront).send().await.unwrap().web_acls()[0].clone();
    let acl = waf
        .get_web_acl()
        .name("moodle-cf-waf")
        .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
        .id(s.id().unwrap())
        .send()
        .await
        .unwrap()
        .web_acl()
        .unwrap()
        .clone();
    let mut rules: Vec<(i32, String)> = acl.rules().iter().map(|r| (r.priority(), r.name().to_string())).collect();
    rules.sort();
    assert_eq!(
        rules,
        [(0, "AWSManagedRulesAmazonIpReputationList".to_string()), (1, "AWSManagedRulesCommonRuleSet".to_string())]
    );
    let over =
        acl.rules()[1].statement().unwrap().managed_rule_group_statement().unwrap().rule_action_overrides().to_vec();
    assert_eq!(over.len(), 1);
    assert_eq!(over[0].name(), "SizeRestrictions_BODY");
    assert!(p.up_mutating(&moto).is_empty(), "converged");
}

// Needs the crash hook: built with `--features test-hooks` (scripts/test.sh).
#[cfg(feature = "test-hooks")]
/// Someone deleted the access-logs bucket by hand: CloudFront refuses any
/// update of a distribution that still logs to it — the disable included
/// (the emulator, as AWS) — so `down` disables it without standard logs.
#[tokio::test(flavor = "multi_thread")]
async fn down_disables_a_distribution_whose_logs_bucket_was_deleted() {
    let moto = Moto::start();
    let conf = sdk(&moto.url, REGION).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build());
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let logs = "moodle-logs-123456789012-ap-southeast-1";
    let versions = s3.list_object_versions().bucket(logs).send().await.unwrap();
    for v in versions.versions() {
        let call =
            s3.delete_object().bucket(logs).key(v.key().unwrap()).set_version_id(v.version_id().map(str::to_string));
        call.send().await.unwrap();
    }
    s3.delete_bucket().bucket(logs).send().await.unwrap();
    let (out, err) = p.expect(&["down", "--yes"], 0);
    assert!(err.contains("its logs bucket is gone; disabling without standard logs"), "{err}");
    assert_eq!(census(&moto.url).await, empty_stack(), "{out}");
    let global = sdk(&moto.url, "us-east-1").await;
    let cf = aws_sdk_cloudfront::Client::new(&global);
    let list = cf.list_distributions().send().await.unwrap();
    assert!(list.distribution_list().map(|l| l.items().is_empty()).unwrap_or(true), "the distribution is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn down_removes_edge_keeps_audit_bucket_unless_asked_and_survives_kill_mid_disable() {
    let moto = Moto::start();
    let conf = sdk(&moto.url, REGION).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build());
    let bucket = "moodle-cloudtrail-123456789012-ap-southeast-1";
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);

    // Killed right after the disabling UpdateDistribution: resume finishes the job.
    let o = p.run_env(&["down", "--yes"], &[("MOODLECTL_CRASH_AFTER_OP", "UpdateDistribution")]);
    assert_eq!(o.status.signal(), Some(9));
    let global = sdk(&moto.url, "us-east-1").await;
    let cf = aws_sdk_cloudfront::Client::new(&global);
    let list = cf.list_distributions().send().await.unwrap();
    let d = &list.distribution_list().unwrap().items()[0];
    assert!(!d.enabled(), "caught disabled, not yet deleted");
    let (out, _) = p.expect(&["down", "--yes"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
    assert!(s3.head_bucket().bucket(bucket).send().await.is_ok(), "audit bucket kept");
    assert!(out.contains(&format!("kept: CloudTrail bucket `{bucket}`")), "{out}");
    let logs = "moodle-logs-123456789012-ap-southeast-1";
    assert!(s3.head_bucket().bucket(logs).send().await.is_ok(), "access-logs bucket kept");
    assert!(out.contains(&format!("kept: access-logs bucket `{logs}`")), "{out}");

    // A new up adopts the kept bucket; --delete-logs then removes it with its objects.
    p.expect(&["up", "--yes"], 0);
    // The bucket policy denies plain HTTP (the emulator enforces it): lift it to seed a log.
    s3.delete_bucket_policy().bucket(bucket).send().await.unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("AWSLogs/123456789012/x.json.gz")
        .body(b"log".to_vec().into())
        .send()
        .await
        .unwrap();
    p.expect(&["down", "--yes", "--delete-logs"], 0);
    assert!(s3.head_bucket().bucket(bucket).send().await.is_err(), "bucket deleted");
    assert!(s3.head_bucket().bucket(logs).send().await.is_err(), "access-logs bucket deleted");
    assert_eq!(census(&moto.url).await, empty_stack());
}

#[tokio::test(flavor = "multi_thread")]
async fn unrestricted_alb_is_open_and_forwards() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.edit_config("restrict_alb = true", "restrict_alb = false");
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let state = read_state(&p.state_path());
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let sg = ec2
        .describe_security_groups()
        .group_ids(state["resources"]["sg/alb"]["id"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    let mut ports: Vec<i32> = sg
        .ip_permissions()
        .iter()
        .filter(|p| p.ip_ranges().iter().any(|r| r.cidr_ip() == Some("0.0.0.0/0")))
        .filter_map(|p| p.from_port())
        .collect();
    ports.sort();
    assert_eq!(ports, [80, 443]);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let lb = elb.describe_load_balancers().names("moodle-alb").send().await.unwrap().load_balancers()[0].clone();
    let ls = elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap()
        .listeners()
        .to_vec();
    let l443 = ls.iter().find(|l| l.port() == Some(443)).unwrap();
    assert_eq!(l443.default_actions()[0].r#type().map(|t| t.as_str()), Some("forward"));
    let rules = elb.describe_rules().listener_arn(l443.listener_arn().unwrap()).send().await.unwrap();
    assert!(rules.rules().iter().all(|r| r.is_default() == Some(true)), "no header rule");
}
