//! Test harness: a private moto server per test, the real `moodlectl` binary,
//! and independent AWS SDK clients to check what it built.
#![allow(dead_code)]

use std::collections::BTreeMap;
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
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
        assert!(bin.exists(), "{} missing: run scripts/setup-emulator.sh (scripts/test.sh does)", bin.display());
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
        http("POST", &format!("{}/moto-api/recorder/reset-recording", self.url)).unwrap();
        http("POST", &format!("{}/moto-api/recorder/start-recording", self.url)).unwrap();
    }

    /// Stop recording; return the API operations seen, each with `is_read`.
    pub fn stop_recording(&self) -> Vec<(String, bool)> {
        http("POST", &format!("{}/moto-api/recorder/stop-recording", self.url)).unwrap();
        let text = http("GET", &format!("{}/moto-api/recorder/download-recording", self.url)).unwrap();
        text.lines().filter(|l| !l.trim().is_empty()).map(classify).collect()
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
        aws_smithy_types::base64::decode(body).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default()
    } else {
        body.to_string()
    };
    let op = if let Some(t) = headers["X-Amz-Target"].as_str() {
        t.rsplit('.').next().unwrap().to_string()
    } else if let Some(a) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        a.to_string()
    } else {
        rest_operation(v["method"].as_str().unwrap_or("?"), v["url"].as_str().unwrap_or("?"))
    };
    let read = ["Describe", "List", "Get", "Head", "Lookup", "GET ", "HEAD "].iter().any(|p| op.starts_with(p));
    (op, read)
}

/// Names for the REST (non-query, non-JSON-target) calls the tests count.
fn rest_operation(method: &str, url: &str) -> String {
    let path = url.split_once("://").map(|(_, r)| r.split_once('/').map(|(_, p)| p).unwrap_or("")).unwrap_or(url);
    let path = path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.split('/').collect();
    match (method, parts.as_slice()) {
        ("PUT", [_, "distribution", _, "config"]) => "UpdateDistribution".into(),
        ("POST", [_, "distribution"]) => "CreateDistribution".into(),
        ("DELETE", [_, "distribution", _]) => "DeleteDistribution".into(),
        ("GET", [_, "distribution", ..]) => "GetDistribution".into(),
        // AWS Backup
        ("PUT", ["backup-jobs"]) => "StartBackupJob".into(),
        ("PUT", ["restore-jobs"]) => "StartRestoreJob".into(),
        ("PUT", ["backup-vaults", _]) => "CreateBackupVault".into(),
        ("DELETE", ["backup-vaults", _]) => "DeleteBackupVault".into(),
        ("DELETE", ["backup-vaults", _, "recovery-points", ..]) => "DeleteRecoveryPoint".into(),
        _ => format!("{method} {url}"),
    }
}

/// moto's control API: the body of a successful request. (On a thread of
/// its own: the blocking client may not run inside the async tests' runtime.)
pub fn http(method: &str, url: &str) -> std::io::Result<String> {
    let (method, url) = (reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url.to_string());
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let r = client.request(method, &url).send().map_err(std::io::Error::other)?;
        if !r.status().is_success() {
            return Err(std::io::Error::other(format!("{url}: HTTP {}", r.status())));
        }
        r.text().map_err(std::io::Error::other)
    })
    .join()
    .expect("http thread")
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
        assert!(o.status.success(), "emulator_prereqs.py: {}", String::from_utf8_lossy(&o.stderr));
        p
    }

    /// A project with the example config as is (no emulator needed).
    pub fn bare(endpoint: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("moodle.toml"), CONFIG).unwrap();
        Project { dir, endpoint: endpoint.to_string() }
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
            // The emulator is consistent unless a test turns its consistency
            // mode on (and sets this to match): a lookup that misses a
            // resource created moments ago need not keep looking for 60 s.
            .env("MOODLECTL_SETTLE_S", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run moodlectl")
    }

    /// Run as a person does, on a terminal: `script` (util-linux) gives the
    /// command a pseudo-terminal; `answer` is typed at its question. Returns
    /// (exit code, what the terminal showed, without `\r`).
    pub fn on_terminal(&self, args: &[&str], answer: &str) -> (i32, String) {
        let inner = self.cmd(args);
        let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_moodlectl"))
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let mut c = Command::new("script");
        c.args(["-qec", &line.join(" "), "/dev/null"]).current_dir(self.dir.path());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.env_remove("CI").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("script (util-linux)");
        // Typed once the question is up; `script` forwards it to the terminal.
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, format!("{answer}\n").as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        drop(stdin);
        // NO_COLOR is set (Project::cmd): the screen is plain text.
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).replace('\r', ""))
    }

    /// Run with stdout going into a pipe nobody reads any more (`| head`
    /// after it exited): the reader end is closed before the process starts.
    pub fn run_into_closed_pipe(&self, args: &[&str]) -> Output {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        self.cmd(args).stdout(writer).output().expect("run moodlectl")
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
        c.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
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
        Output { status, stdout: t_out.join().unwrap(), stderr: t_err.join().unwrap() }
    }

    /// Run and require exit code `code`; returns (stdout, stderr).
    pub fn expect(&self, args: &[&str], code: i32) -> (String, String) {
        let o = self.run(args);
        let (out, err) =
            (String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string());
        assert_eq!(o.status.code(), Some(code), "moodlectl {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        (out, err)
    }

    /// `up --yes` (exit 0) while `moto` records: the calls that changed
    /// something, in order (`[]` for a no-op run).
    pub fn up_mutating(&self, moto: &Moto) -> Vec<String> {
        moto.start_recording();
        self.expect(&["up", "--yes"], 0);
        mutating(&moto.stop_recording())
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

/// The task definition the web service runs now (independent ECS reads).
pub async fn service_task_definition(conf: &aws_config::SdkConfig) -> aws_sdk_ecs::types::TaskDefinition {
    let ecs = aws_sdk_ecs::Client::new(conf);
    let s = ecs.describe_services().cluster("moodle-cluster").services("moodle-service").send().await.unwrap();
    let arn = s.services()[0].task_definition().unwrap().to_string();
    let td = ecs.describe_task_definition().task_definition(&arn).send().await.unwrap();
    td.task_definition().unwrap().clone()
}

/// A variable of the environment a task definition gives its (first) container.
pub fn container_env(td: &aws_sdk_ecs::types::TaskDefinition, name: &str) -> Option<String> {
    let env = td.container_definitions()[0].environment();
    env.iter().find(|e| e.name() == Some(name)).and_then(|e| e.value()).map(str::to_string)
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
pub fn state_ids(p: &Path) -> BTreeMap<String, String> {
    read_state(p)["resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["id"].as_str().unwrap().to_string()))
        .collect()
}

/// A policy document as IAM returns it (URL-encoded JSON, RFC 3986), parsed.
pub fn iam_policy(doc: &str) -> serde_json::Value {
    serde_json::from_str(&url_decode(doc)).expect("a JSON policy document")
}

/// IAM returns policy documents URL-encoded; the emulator may not.
pub fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Live resources of stack `moodle` by kind, from `scripts/census.py` — the
/// one census, run with boto3 (an independent client: it shares no code with
/// moodlectl), the same the soak and the demo use. Deleted/deleting ones do
/// not count; secrets pending deletion count as deleted (AWS semantics).
/// The log buckets and the audit key, which `down` keeps by design, are left
/// to the tests about them.
pub async fn census(endpoint: &str) -> BTreeMap<String, usize> {
    let mut m = run_census(&["--json", "moodle"], Some(endpoint));
    m.remove("s3-bucket");
    m.remove("audit-kms-key");
    m
}

/// The operator clicks the links AWS mailed: confirm the e-mail
/// subscriptions of the stack's alert topics, in its region and us-east-1
/// (boto3, independent of moodlectl). Until then `status` reports them
/// pending and unhealthy, as on AWS.
pub fn confirm_alert_email(endpoint: &str) {
    let code = "import boto3\n\
        import os\n\
        for r in (os.environ['AWS_REGION'], 'us-east-1'):\n    \
            sns = boto3.client('sns', region_name=r)\n    \
            for t in sns.list_topics()['Topics']:\n        \
                sns.confirm_subscription(TopicArn=t['TopicArn'], Token='emulator')\n";
    let o = Command::new(repo().join(".venv/bin/python"))
        .args(["-c", code])
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .expect("run python");
    assert!(o.status.success(), "confirm_subscription: {}", String::from_utf8_lossy(&o.stderr));
}

/// What the census counts for the stack moodle.toml describes.
pub fn full_stack() -> BTreeMap<String, usize> {
    let mut m = run_census(&["--expected", "full"], None);
    m.remove("s3-bucket");
    m.remove("audit-kms-key");
    m
}

/// Nothing left.
pub fn empty_stack() -> BTreeMap<String, usize> {
    full_stack().into_keys().map(|k| (k, 0)).collect()
}

fn run_census(args: &[&str], endpoint: Option<&str>) -> BTreeMap<String, usize> {
    let mut c = Command::new(repo().join(".venv/bin/python"));
    c.arg(repo().join("scripts/census.py")).args(args);
    c.env("AWS_REGION", REGION).env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test");
    if let Some(e) = endpoint {
        c.env("AWS_ENDPOINT_URL", e);
    }
    let o = c.output().expect("run scripts/census.py");
    assert!(o.status.success(), "census.py: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("census.py --json")
}

/// Operations that changed something, from a recording.
pub fn mutating(ops: &[(String, bool)]) -> Vec<String> {
    ops.iter().filter(|(_, r)| !r).map(|(o, _)| o.clone()).collect()
}

/// Parse NDJSON events; the `steps` count of `run_started`.
pub fn events(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// What changes from run to run in moodlectl's output, replaced before a
/// snapshot is compared (as uv's test suite filters its output): AWS IDs and
/// ARNs, endpoints, times and durations, temporary paths.
pub const INSTA_FILTERS: &[(&str, &str)] = &[
    (r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:[^\s`'\x22,)]+", "[ARN]"),
    (r"\b(vpc|subnet|igw|nat|eipalloc|eni|rtb|rtbassoc|sg|vpce|fl|fs|fsmt|fsap|pl)-[0-9a-f]{8,17}\b", "[$1-ID]"),
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "[UUID]"),
    (r"\b[A-Z0-9]{13,14}\b", "[DISTRIBUTION-ID]"),
    (r"\btask [0-9a-f]{8}\b", "task [TASK-ID]"),
    (r"\b[a-z0-9]+\.cloudfront\.net\b", "[DISTRIBUTION].cloudfront.net"),
    (r"\b[a-z0-9.-]+\.(elb|rds|cache)\.amazonaws\.com\b", "[$1-ENDPOINT]"),
    (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "[TIME]"),
    (r"\b\d\d:\d\d:\d\d\b", "[TIME]"),
    (r"\b\d+m\d+s\b", "[ELAPSED]"),
    (r"\b\d+(\.\d+)?\s?(ms|s)\b", "[ELAPSED]"),
    (r"https?://127\.0\.0\.1:\d+", "[ENDPOINT]"),
    (r"/tmp/\.tmp[A-Za-z0-9]+", "[TEMP]"),
    (r"\b\d{12}\b", "[ACCOUNT]"),
];

/// `insta::assert_snapshot!` with [`INSTA_FILTERS`] applied. `table`: the
/// value is a table whose columns are padded to the width of IDs the filters
/// shorten, so the cells are compared, not the padding.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        $crate::snapshot!(@with $name, $value, &[])
    };
    ($name:expr, $value:expr, table) => {
        $crate::snapshot!(@with $name, $value, &[(r"[ ]{2,}", "  ")])
    };
    (@with $name:expr, $value:expr, $extra:expr) => {{
        let mut settings = insta::Settings::clone_current();
        let extra: &[(&str, &str)] = $extra;
        for (re, with) in $crate::common::INSTA_FILTERS.iter().chain(extra) {
            settings.add_filter(re, *with);
        }
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!($name, $value));
    }};
}

/// Validate `v` against a schema of `schema/` (JSON Schema, by the jsonschema crate).
pub fn validate(schema: &serde_json::Value, v: &serde_json::Value, path: &str) -> Result<(), String> {
    let validator = jsonschema::validator_for(schema).map_err(|e| format!("schema: {e}"))?;
    let errors: Vec<String> = validator.iter_errors(v).map(|e| format!("{path}{}: {e}", e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

pub fn schema(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(repo().join("schema").join(name)).unwrap()).unwrap()
}
