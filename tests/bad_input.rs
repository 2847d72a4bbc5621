//! Bad config, flags and state files: exit 2 with a message naming the
//! file/line/key, and not a single request sent (the endpoint is a listener
//! that counts connections).

#[macro_use]
mod common;
use common::*;

struct Case {
    name: &'static str,
    /// (from, to) replacement applied to the example config, or a whole file.
    config: Config,
    args: &'static [&'static str],
    state: Option<&'static str>,
    /// Substrings the error must contain.
    expect: &'static [&'static str],
}

enum Config {
    Edit(&'static str, &'static str),
    Append(&'static str),
    Whole(&'static str),
    Missing,
}

const CASES: &[Case] = &[
    Case {
        name: "unknown top-level table",
        config: Config::Append("\n[extras]\nfoo = 1\n"),
        args: &["up", "--yes"],
        state: None,
        expect: &["moodle.toml:", "unknown field `extras`"],
    },
    Case {
        name: "unknown key in a table",
        config: Config::Edit("desired_count = 1", "desired_count = 1\ndesired_cnt = 2"),
        args: &["plan"],
        state: None,
        expect: &["`service.desired_cnt`", "unknown field"],
    },
    Case {
        name: "wrong type",
        config: Config::Edit("desired_count = 1", "desired_count = \"one\""),
        args: &["up", "--yes"],
        state: None,
        expect: &["`service.desired_count`", "invalid type"],
    },
    Case {
        name: "desired count 0",
        config: Config::Edit("desired_count = 1", "desired_count = 0"),
        args: &["up", "--yes"],
        state: None,
        expect: &["`service.desired_count`", "at least 1"],
    },
    Case {
        name: "max < desired",
        config: Config::Edit("# max_count = 10", "max_count = 0"),
        args: &["status"],
        state: None,
        expect: &["`service.max_count`", "less than"],
    },
    Case {
        name: "cloudfront certificate outside us-east-1",
        config: Config::Edit("arn:aws:acm:us-east-1:", "arn:aws:acm:eu-west-1:"),
        args: &["up", "--yes"],
        state: None,
        expect: &["`domain.cloudfront_certificate_arn`", "us-east-1"],
    },
    Case {
        name: "malformed ALB certificate ARN",
        config: Config::Edit(
            "arn:aws:acm:ap-southeast-1:123456789012:certificate/11111111",
            "arn:aws:acm:ap-southeast-1:12345:certificate/11111111",
        ),
        args: &["up", "--yes"],
        state: None,
        expect: &["`domain.alb_certificate_arn`", "not an ACM certificate ARN"],
    },
    Case {
        name: "malformed e-mail",
        config: Config::Edit("event_email = \"user@example.com\"", "event_email = \"user.example.com\""),
        args: &["up", "--yes"],
        state: None,
        expect: &["`database.event_email`", "e-mail"],
    },
    Case {
        name: "malformed domain",
        config: Config::Edit("name = \"moodle.example.com\"", "name = \"moodle example\""),
        args: &["up", "--yes"],
        state: None,
        expect: &["`domain.name`", "DNS name"],
    },
    Case {
        name: "unknown region",
        config: Config::Edit("region = \"ap-southeast-1\"", "region = \"ap-southeast-9\""),
        args: &["up", "--yes"],
        state: None,
        expect: &["`stack.region`", "unknown AWS region"],
    },
    Case {
        name: "bad DB instance class",
        config: Config::Edit("# instance_class = \"db.r6g.large\"", "instance_class = \"r6g.large\""),
        args: &["up", "--yes"],
        state: None,
        expect: &["`database.instance_class`", "instance class"],
    },
    Case {
        name: "bad cache node type",
        config: Config::Edit("# node_type = \"cache.r6g.large\"", "node_type = \"cache.huge\""),
        args: &["up", "--yes"],
        state: None,
        expect: &["`cache.node_type`"],
    },
    Case {
        name: "invalid Fargate size",
        config: Config::Edit("# memory_mib = 4096", "memory_mib = 1000"),
        args: &["up", "--yes"],
        state: None,
        expect: &["`service.memory_mib`", "Fargate"],
    },
    Case {
        name: "invalid WAF log retention",
        config: Config::Edit("waf_retention_days = 30", "waf_retention_days = 31"),
        args: &["plan"],
        state: None,
        expect: &["`logs.waf_retention_days`", "31 is not a CloudWatch Logs retention value"],
    },
    Case {
        name: "a listener TLS policy that is not an ELB policy",
        config: Config::Edit(
            "alb_ssl_policy = \"ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09\"",
            "alb_ssl_policy = \"TLSv1.3\"",
        ),
        args: &["plan"],
        state: None,
        expect: &["`cdn.alb_ssl_policy`", "not an ELB predefined security policy"],
    },
    Case {
        name: "enhanced monitoring every 7 seconds",
        config: Config::Edit("monitoring_interval_seconds = 60", "monitoring_interval_seconds = 7"),
        args: &["plan"],
        state: None,
        expect: &["`database.monitoring_interval_seconds`", "7 is not an RDS monitoring interval"],
    },
    Case {
        name: "backup plan retention of zero days",
        config: Config::Edit("backup_plan_retention_days = 35", "backup_plan_retention_days = 0"),
        args: &["plan"],
        state: None,
        expect: &["`logs.backup_plan_retention_days`"],
    },
    Case {
        name: "invalid log retention",
        config: Config::Edit("flow_log_retention_days = 7", "flow_log_retention_days = 8"),
        args: &["plan"],
        state: None,
        expect: &["`network.flow_log_retention_days`"],
    },
    Case {
        name: "unknown engine",
        config: Config::Edit("engine = \"mysql\"", "engine = \"postgres\""),
        args: &["up", "--yes"],
        state: None,
        expect: &["`database.engine`", "unknown variant"],
    },
    Case {
        name: "Fargate Spot with ARM",
        config: Config::Edit("platform = \"X86\"", "platform = \"ARM\"\nspot_weight = 2"),
        args: &["up", "--yes"],
        state: None,
        expect: &["`service.spot_weight`", "Fargate Spot does not run ARM64", "hint:"],
    },
    Case {
        name: "origin timeout beyond CloudFront's range",
        config: Config::Edit("origin_timeout_seconds = 60", "origin_timeout_seconds = 180"),
        args: &["plan"],
        state: None,
        expect: &["`cdn.origin_timeout_seconds`", "between 1 and 120", "quota"],
    },
    Case {
        name: "unknown profile",
        config: Config::Edit("profile = \"production\"", "profile = \"tiny\""),
        args: &["cost"],
        state: None,
        expect: &["moodle.toml:", "`stack.profile`", "unknown variant `tiny`", "`production`", "`small`"],
    },
    Case {
        name: "three NAT gateways",
        config: Config::Edit("# nat_gateways = 2", "nat_gateways = 3"),
        args: &["plan"],
        state: None,
        expect: &["`network.nat_gateways`", "must be 1 (shared) or 2"],
    },
    Case {
        name: "an interface endpoint moodlectl does not know",
        config: Config::Edit("# interface_endpoints = [", "interface_endpoints = [\"sqs\", "),
        args: &["up", "--yes"],
        state: None,
        expect: &["`network.interface_endpoints`", "`sqs` is not one of"],
    },
    Case {
        name: "negative usage",
        config: Config::Edit("nat_data_gb = 50", "nat_data_gb = -5"),
        args: &["cost"],
        state: None,
        expect: &["`usage.nat_data_gb`", "must be between 0"],
    },
    Case {
        name: "storage autoscaling maximum too close",
        config: Config::Edit("# max_allocated_storage_gb = 300", "max_allocated_storage_gb = 32"),
        args: &["up", "--yes"],
        state: None,
        expect: &["`database.max_allocated_storage_gb`", "at least 10% above", "at least 33"],
    },
    Case {
        name: "engine version of another engine",
        config: Config::Edit(
            "engine = \"mysql\"",
            "engine = \"mariadb\"\nengine_version = \"8.0.mysql_aurora.3.08.0\"",
        ),
        args: &["up", "--yes"],
        state: None,
        expect: &["`database.engine_version`", "is not a version of engine"],
    },
    Case {
        name: "bad stack name",
        config: Config::Edit("name = \"moodle\"", "name = \"Moodle_Prod\""),
        args: &["up", "--yes"],
        state: None,
        expect: &["`stack.name`"],
    },
    Case {
        name: "missing required table",
        config: Config::Whole("[stack]\nregion = \"eu-west-1\"\n"),
        args: &["up", "--yes"],
        state: None,
        expect: &["moodle.toml", "missing field `domain`"],
    },
    Case {
        name: "TOML syntax error",
        config: Config::Edit("[cache]", "[cache"),
        args: &["up", "--yes"],
        state: None,
        expect: &["moodle.toml:"],
    },
    Case {
        name: "config file missing",
        config: Config::Missing,
        args: &["up", "--yes"],
        state: None,
        expect: &["cannot read config file"],
    },
    Case {
        name: "unknown --region",
        config: Config::Edit("", ""),
        args: &["up", "--yes", "--region", "mars-1"],
        state: None,
        expect: &["--region", "mars-1"],
    },
    Case {
        name: "--region that breaks the ALB certificate",
        config: Config::Edit("", ""),
        args: &["up", "--yes", "--region", "eu-west-1"],
        state: None,
        expect: &["--region eu-west-1", "domain.alb_certificate_arn"],
    },
    Case {
        name: "bad --output",
        config: Config::Edit("", ""),
        args: &["up", "--yes", "--output", "yaml"],
        state: None,
        expect: &["yaml"],
    },
    Case { name: "unknown command", config: Config::Edit("", ""), args: &["deploy"], state: None, expect: &["deploy"] },
    Case {
        name: "--parallelism 0",
        config: Config::Edit("", ""),
        args: &["up", "--yes", "--parallelism", "0"],
        state: None,
        expect: &["parallelism"],
    },
    Case {
        name: "up without --yes and no TTY",
        config: Config::Edit("", ""),
        args: &["up"],
        state: None,
        expect: &["--yes"],
    },
    Case {
        name: "down without --yes and no TTY",
        config: Config::Edit("", ""),
        args: &["down"],
        state: None,
        expect: &["--yes"],
    },
    Case {
        name: "corrupt state JSON",
        config: Config::Edit("", ""),
        args: &["up", "--yes"],
        state: Some("{\n \"schema_version\": 1,\n garbage"),
        expect: &["moodle.json:3:", "not valid JSON"],
    },
    Case {
        name: "unknown state schema version",
        config: Config::Edit("", ""),
        args: &["status"],
        state: Some("{\"schema_version\": 7}"),
        expect: &["`schema_version` is 7"],
    },
    Case {
        name: "state of another stack",
        config: Config::Edit("", ""),
        args: &["down", "--yes"],
        state: Some(
            r#"{"schema_version":1,"stack":"other","region":"ap-southeast-1","generation":"ab","updated_at":"x","resources":{}}"#,
        ),
        expect: &["`stack` is `other`", "another stack"],
    },
    Case {
        name: "state of another region",
        config: Config::Edit("", ""),
        args: &["up", "--yes"],
        state: Some(
            r#"{"schema_version":1,"stack":"moodle","region":"eu-west-1","generation":"ab","updated_at":"x","resources":{}}"#,
        ),
        expect: &["`region` is `eu-west-1`"],
    },
    Case {
        name: "state with unknown field",
        config: Config::Edit("", ""),
        args: &["plan"],
        state: Some(
            r#"{"schema_version":1,"stack":"moodle","region":"ap-southeast-1","generation":"ab","updated_at":"x","resources":{},"secret":"x"}"#,
        ),
        expect: &["unknown field `secret`"],
    },
];

#[test]
fn bad_inputs_exit_2_naming_the_problem_without_any_request() {
    let hole = Blackhole::start();
    assert!(CASES.len() >= 15);
    for case in CASES {
        let p = Project::bare(&hole.url);
        match &case.config {
            Config::Edit(from, to) => p.edit_config(from, to),
            Config::Append(extra) => p.set_config(&format!("{CONFIG}{extra}")),
            Config::Whole(text) => p.set_config(text),
            Config::Missing => std::fs::remove_file(p.config_path()).unwrap(),
        }
        if let Some(s) = case.state {
            std::fs::create_dir_all(p.state_path().parent().unwrap()).unwrap();
            std::fs::write(p.state_path(), s).unwrap();
        }
        let before_state = std::fs::read(p.state_path()).ok();
        let o = p.run(case.args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: exit {:?}\n{err}", case.name, o.status.code());
        for e in case.expect {
            assert!(err.contains(e), "{}: stderr lacks `{e}`:\n{err}", case.name);
        }
        assert!(o.stdout.is_empty(), "{}: nothing on stdout", case.name);
        // The whole message as a user reads it.
        snapshot!(format!("bad_input_{}", case.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")), err);
        assert_eq!(hole.hits(), 0, "{}: a request reached the endpoint", case.name);
        assert_eq!(std::fs::read(p.state_path()).ok(), before_state, "{}: state touched", case.name);
        assert!(!p.dir.path().join(".moodlectl/moodle.lock").exists(), "{}: lock left", case.name);
    }
}

#[test]
fn config_errors_name_the_line() {
    let hole = Blackhole::start();
    let p = Project::bare(&hole.url);
    p.edit_config("# max_count = 10", "max_count = 0");
    let line = CONFIG.lines().position(|l| l.starts_with("# max_count")).unwrap() + 1;
    let (_, err) = p.expect(&["plan"], 2);
    assert!(err.contains(&format!("moodle.toml:{line}: `service.max_count`")), "{err}");
}
