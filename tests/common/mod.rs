//! Test harness: a private moto server per test, the real `moodlectl` binary,
//! and independent AWS SDK clients to check what it built.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const REGION: &str = "ap-southeast-1";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
    pub recording: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// A moto server with extra environment (emulator switches).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let bin = repo().join(".venv/bin/python");
        assert!(
            bin.exists(),
            "{} missing: run scripts/setup-emulator.sh (scripts/test.sh does)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let recording = dir.path().join("recording.jsonl");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&bin)
                .arg(repo().join("scripts/moto_server.py"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
                .env("MOTO_RECORDER_FILEPATH", &recording)
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let mut m = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
                recording: recording.clone(),
                _dir: tempfile::tempdir().unwrap(),
            };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if http("GET", &format!("{}/moto-api/data.json", m.url)).is_ok() {
                    m._dir = dir;
                    return m;
                }
                if let Ok(Some(_)) = m.child.try_wait() {
                    break; // port taken between probe and bind: try another
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("moto server did not start");
    }

    pub fn start_recording(&self) {
        let _ = std::fs::remove_file(&self.recording);
        http(
            "POST",
            &format!("{}/moto-api/recorder/reset-recording", self.url),
        )
        .unwrap();
        http(
            "POST",
            &format!("{}/moto-api/recorder/start-recording", self.url),
        )
        .unwrap();
    }

    /// Stop recording; return the API operations seen, each with `is_read`.
    pub fn stop_recording(&self) -> Vec<(String, bool)> {
        http(
            "POST",
            &format!("{}/moto-api/recorder/stop-recording", self.url),
        )
        .unwrap();
        let text = http(
            "GET",
            &format!("{}/moto-api/recorder/download-recording", self.url),
        )
        .unwrap();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(classify)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Name a recorded request's operation and say whether it only reads.
fn classify(line: &str) -> (String, bool) {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let headers = &v["headers"];
    let body = v["body"].as_str().unwrap_or_default();
    let body = if v["body_encoded"].as_bool().unwrap_or(false) {
        String::from_utf8(b64(body)).unwrap_or_default()
    } else {
        body.to_string()
    };
    let op = if let Some(t) = headers["X-Amz-Target"].as_str() {
        t.rsplit('.').next().unwrap().to_string()
    } else if let Some(a) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        a.to_string()
    } else {
        rest_operation(
            v["method"].as_str().unwrap_or("?"),
            v["url"].as_str().unwrap_or("?"),
        )
    };
    let read = ["Describe", "List", "Get", "Head", "Lookup", "GET ", "HEAD "]
        .iter()
        .any(|p| op.starts_with(p));
    (op, read)
}

/// Names for the REST (non-query, non-JSON-target) calls the tests count.
fn rest_operation(method: &str, url: &str) -> String {
    let path = url
        .split_once("://")
        .map(|(_, r)| r.split_once('/').map(|(_, p)| p).unwrap_or(""))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.split('/').collect();
    match (method, parts.as_slice()) {
        ("PUT", [_, "distribution", _, "config"]) => "UpdateDistribution".into(),
        ("POST", [_, "distribution"]) => "CreateDistribution".into(),
        ("DELETE", [_, "distribution", _]) => "DeleteDistribution".into(),
        ("GET", [_, "distribution", ..]) => "GetDistribution".into(),
        _ => format!("{method} {url}"),
    }
}

fn b64(s: &str) -> Vec<u8> {
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = vec![];
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let Some(v) = table.iter().position(|t| *t == c) else {
            continue;
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

/// Minimal HTTP/1.1 client for moto's control API (no extra dependency).
pub fn http(method: &str, url: &str) -> std::io::Result<String> {
    use std::io::Write;
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    if !resp.starts_with("HTTP/1.1 200") && !resp.starts_with("HTTP/1.0 200") {
        return Err(std::io::Error::other(
            resp.lines().next().unwrap_or("").to_string(),
        ));
    }
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // moto answers with chunked encoding for large downloads.
    if resp
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body.as_str();
        while let Some((len, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        return Ok(out);
    }
    Ok(body)
}

/// A project directory with a config, pointed at an endpoint.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
}

pub const CONFIG: &str = include_str!("../../moodle.toml");

impl Project {
    /// A project whose config names certificates that exist on the emulator.
    pub fn new(endpoint: &str) -> Project {
        let p = Project::bare(endpoint);
        let o = Command::new(repo().join(".venv/bin/python"))
            .arg(repo().join("scripts/emulator_prereqs.py"))
            .arg(p.config_path())
            .env("AWS_ENDPOINT_URL", endpoint)
            .output()
            .expect("run emulator_prereqs.py");
        assert!(
            o.status.success(),
            "emulator_prereqs.py: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        p
    }

    /// A project with the example config as is (no emulator needed).
    pub fn bare(endpoint: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("moodle.toml"), CONFIG).unwrap();
        Project {
            dir,
            endpoint: endpoint.to_string(),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("moodle.toml")
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join(".moodlectl/moodle.json")
    }

    pub fn set_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// Replace `from` with `to` in the config (must match).
    pub fn edit_config(&self, from: &str, to: &str) {
        let c = std::fs::read_to_string(self.config_path()).unwrap();
        assert!(c.contains(from), "config has no `{from}`");
        self.set_config(&c.replace(from, to));
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_moodlectl"));
        c.current_dir(self.dir.path())
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run moodlectl")
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run moodlectl")
    }

    /// Run with extra environment; kill it and fail the test if it outlives `limit`.
    pub fn run_bounded(&self, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
        let mut c = self.cmd(args);
        c.envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run moodlectl");
        // Drain the pipes on threads so a chatty child cannot block on them.
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut so, &mut b).ok();
            b
        });
        let t_err = std::thread::spawn(move || {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut se, &mut b).ok();
            b
        });
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > limit {
                child.kill().ok();
                child.wait().ok();
                let err = String::from_utf8_lossy(&t_err.join().unwrap()).to_string();
                panic!(
                    "moodlectl {args:?} ran past {limit:?}; stderr tail:\n{}",
                    &err[err.len().saturating_sub(3000)..]
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: t_out.join().unwrap(),
            stderr: t_err.join().unwrap(),
        }
    }

    /// Run and require exit code `code`; returns (stdout, stderr).
    pub fn expect(&self, args: &[&str], code: i32) -> (String, String) {
        let o = self.run(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        );
        assert_eq!(
            o.status.code(),
            Some(code),
            "moodlectl {args:?}\nstdout:\n{out}\nstderr:\n{err}"
        );
        (out, err)
    }
}

pub fn creds() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("test", "test", None, None, "tests")
}

pub async fn sdk(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(creds())
        .load()
        .await
}

/// A listener that counts connections and answers nothing: proves that a
/// command made no AWS request.
pub struct Blackhole {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            let mut held = vec![];
            for s in l.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                held.push(s); // keep open, never answer
            }
        });
        Blackhole { url, hits }
    }
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub fn read_state(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The state file's logical key → AWS ID map.
pub fn state_ids(p: &Path) -> std::collections::BTreeMap<String, String> {
    read_state(p)["resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["id"].as_str().unwrap().to_string()))
        .collect()
}

/// Live, tagged resources of stack `moodle`, by kind, read with our own SDK
/// clients (never moodlectl's state). Deleted/deleting ones do not count;
/// secrets pending deletion count as deleted (AWS semantics).
pub async fn census(endpoint: &str) -> std::collections::BTreeMap<&'static str, usize> {
    use aws_sdk_ec2::types::Filter;
    let conf = sdk(endpoint, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let f = Filter::builder()
        .name("tag:moodlectl:stack")
        .values("moodle")
        .build();
    let mine = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .any(|t| t.key() == Some("moodlectl:stack") && t.value() == Some("moodle"))
    };
    let mut m = std::collections::BTreeMap::new();
    m.insert(
        "vpc",
        ec2.describe_vpcs()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
    );
    m.insert(
        "subnet",
        ec2.describe_subnets()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
    );
    m.insert(
        "igw",
        ec2.describe_internet_gateways()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len(),
    );
    m.insert(
        "eip",
        ec2.describe_addresses()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .addresses()
            .len(),
    );
    m.insert(
        "nat",
        ec2.describe_nat_gateways()
            .filter(f.clone())
            .send()
            .await
            .unwrap()
            .nat_gateways()
            .iter()
            .filter(|n| {
                mine(n.tags())
                    && !matches!(
                        n.state().map(|s| s.as_str()),
                        Some("deleted") | Some("deleting")
                    )
            })
            .count(),
    );
    m.insert(
        "route_table",
        ec2.describe_route_tables()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len(),
    );
    m.insert(
        "security_group",
        ec2.describe_security_groups()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
    );
    m.insert(
        "vpc_endpoint",
        ec2.describe_vpc_endpoints()
            .filters(f.clone())
            .send()
            .await
            .unwrap()
            .vpc_endpoints()
            .iter()
            .filter(|e| {
                !matches!(
                    e.state()
                        .map(|s| s.as_str().to_ascii_lowercase())
                        .as_deref(),
                    Some("deleted") | Some("deleting")
                )
            })
            .count(),
    );
    m.insert(
        "flow_log",
        ec2.describe_flow_logs()
            .filter(f.clone())
            .send()
            .await
            .unwrap()
            .flow_logs()
            .len(),
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    m.insert(
        "log_group",
        logs.describe_log_groups()
            .log_group_name_prefix("/moodlectl/moodle/")
            .send()
            .await
            .unwrap()
            .log_groups()
            .len(),
    );
    let iam = aws_sdk_iam::Client::new(&conf);
    m.insert(
        "iam_role",
        iam.list_roles()
            .send()
            .await
            .unwrap()
            .roles()
            .iter()
            .filter(|r| r.role_name().starts_with("moodle-"))
            .count(),
    );
    let rds = aws_sdk_rds::Client::new(&conf);
    m.insert(
        "db_instance",
        rds.describe_db_instances()
            .send()
            .await
            .unwrap()
            .db_instances()
            .len(),
    );
    m.insert(
        "db_subnet_group",
        rds.describe_db_subnet_groups()
            .send()
            .await
            .unwrap()
            .db_subnet_groups()
            .iter()
            .filter(|g| {
                g.db_subnet_group_name()
                    .unwrap_or("")
                    .starts_with("moodle-")
            })
            .count(),
    );
    m.insert(
        "db_event_subscription",
        rds.describe_event_subscriptions()
            .send()
            .await
            .unwrap()
            .event_subscriptions_list()
            .len(),
    );
    let sns = aws_sdk_sns::Client::new(&conf);
    m.insert(
        "sns_topic",
        sns.list_topics()
            .send()
            .await
            .unwrap()
            .topics()
            .iter()
            .filter(|t| t.topic_arn().unwrap_or("").ends_with(":moodle-rds-events"))
            .count(),
    );
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    m.insert(
        "secret",
        sm.list_secrets()
            .send()
            .await
            .unwrap()
            .secret_list()
            .iter()
            .filter(|s| s.name().unwrap_or("").starts_with("moodle-") && s.deleted_date().is_none())
            .count(),
    );
    let efs = aws_sdk_efs::Client::new(&conf);
    let fss: Vec<_> = efs
        .describe_file_systems()
        .send()
        .await
        .unwrap()
        .file_systems()
        .iter()
        .filter(|f| !matches!(f.life_cycle_state().as_str(), "deleted" | "deleting"))
        .cloned()
        .collect();
    m.insert("efs", fss.len());
    let mut mts = 0;
    let mut aps = 0;
    for f in &fss {
        mts += efs
            .describe_mount_targets()
            .file_system_id(f.file_system_id())
            .send()
            .await
            .unwrap()
            .mount_targets()
            .len();
        aps += efs
            .describe_access_points()
            .file_system_id(f.file_system_id())
            .send()
            .await
            .unwrap()
            .access_points()
            .len();
    }
    m.insert("efs_mount_target", mts);
    m.insert("efs_access_point", aps);
    let ec = aws_sdk_elasticache::Client::new(&conf);
    m.insert(
        "replication_group",
        ec.describe_replication_groups()
            .send()
            .await
            .unwrap()
            .replication_groups()
            .iter()
            .filter(|g| g.status() != Some("deleting"))
            .count(),
    );
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let lbs = elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .to_vec();
    m.insert(
        "load_balancer",
        lbs.iter()
            .filter(|l| l.load_balancer_name().unwrap_or("").starts_with("moodle-"))
            .count(),
    );
    let mut listeners = 0;
    for l in &lbs {
        listeners += elb
            .describe_listeners()
            .load_balancer_arn(l.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap()
            .listeners()
            .len();
    }
    m.insert("listener", listeners);
    m.insert(
        "target_group",
        elb.describe_target_groups()
            .send()
            .await
            .unwrap()
            .target_groups()
            .iter()
            .filter(|t| t.target_group_name().unwrap_or("").starts_with("moodle-"))
            .count(),
    );
    let global = sdk(endpoint, "us-east-1").await;
    let waf = aws_sdk_wafv2::Client::new(&global);
    m.insert(
        "web_acl",
        waf.list_web_acls()
            .scope(aws_sdk_wafv2::types::Scope::Cloudfront)
            .send()
            .await
            .unwrap()
            .web_acls()
            .iter()
            .filter(|a| a.name() == Some("moodle-cf-waf"))
            .count(),
    );
    let cf = aws_sdk_cloudfront::Client::new(&global);
    m.insert(
        "distribution",
        cf.list_distributions()
            .send()
            .await
            .unwrap()
            .distribution_list()
            .map(|l| {
                l.items()
                    .iter()
                    .filter(|d| d.comment() == "moodlectl stack moodle")
                    .count()
            })
            .unwrap_or(0),
    );
    let ct = aws_sdk_cloudtrail::Client::new(&conf);
    m.insert(
        "trail",
        ct.describe_trails()
            .send()
            .await
            .unwrap()
            .trail_list()
            .iter()
            .filter(|t| t.name() == Some("moodle-trail"))
            .count(),
    );
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let clusters = ecs
        .describe_clusters()
        .clusters("moodle-cluster")
        .send()
        .await
        .unwrap();
    m.insert(
        "ecs_cluster",
        clusters
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
            .count(),
    );
    let services = if m["ecs_cluster"] > 0 {
        ecs.describe_services()
            .cluster("moodle-cluster")
            .services("moodle-service")
            .send()
            .await
            .unwrap()
            .services()
            .iter()
            .filter(|s| s.status() == Some("ACTIVE"))
            .count()
    } else {
        0
    };
    m.insert("ecs_service", services);
    m.insert(
        "task_definition",
        ecs.list_task_definitions()
            .family_prefix("moodle-moodle")
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .send()
            .await
            .unwrap()
            .task_definition_arns()
            .len(),
    );
    let aas = aws_sdk_applicationautoscaling::Client::new(&conf);
    m.insert(
        "scalable_target",
        aas.describe_scalable_targets()
            .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
            .send()
            .await
            .unwrap()
            .scalable_targets()
            .len(),
    );
    m.insert(
        "cache_subnet_group",
        ec.describe_cache_subnet_groups()
            .send()
            .await
            .unwrap()
            .cache_subnet_groups()
            .iter()
            .filter(|g| {
                g.cache_subnet_group_name()
                    .unwrap_or("")
                    .starts_with("moodle-")
            })
            .count(),
    );
    m
}

/// What `census` must show for a complete stack.
pub fn full_stack() -> std::collections::BTreeMap<&'static str, usize> {
    std::collections::BTreeMap::from([
        ("vpc", 1),
        ("subnet", 4),
        ("igw", 1),
        ("eip", 2),
        ("nat", 2),
        ("route_table", 3),
        // endpoints, db, efs, cache, alb, service
        ("security_group", 6),
        // flow logs + container; flow-log role, task execution, task
        ("vpc_endpoint", 5),
        ("flow_log", 1),
        ("log_group", 2),
        ("iam_role", 3),
        ("db_instance", 1),
        ("db_subnet_group", 1),
        ("db_event_subscription", 1),
        ("sns_topic", 1),
        // DB credentials, origin-verify, Moodle admin
        ("secret", 3),
        ("efs", 1),
        ("efs_mount_target", 2),
        ("efs_access_point", 1),
        ("replication_group", 1),
        ("cache_subnet_group", 1),
        ("load_balancer", 1),
        ("target_group", 1),
        ("listener", 2),
        ("web_acl", 1),
        ("distribution", 1),
        ("trail", 1),
        ("ecs_cluster", 1),
        ("ecs_service", 1),
        ("task_definition", 1),
        ("scalable_target", 1),
    ])
}

pub fn empty_stack() -> std::collections::BTreeMap<&'static str, usize> {
    full_stack().into_iter().map(|(k, _)| (k, 0)).collect()
}

/// Operations that changed something, from a recording.
pub fn mutating(ops: &[(String, bool)]) -> Vec<String> {
    ops.iter()
        .filter(|(_, r)| !r)
        .map(|(o, _)| o.clone())
        .collect()
}

/// Parse NDJSON events; the `steps` count of `run_started`.
pub fn events(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}
