//! The local state file: what moodlectl has made, by logical name.
//!
//! IDs are recorded the moment a create call returns (before any wait), and the
//! file is replaced atomically (temp file + rename) on every change, so a
//! SIGKILL at any instant leaves either the old or the new file — never a torn
//! one — and the next run resumes from it. Only identifiers and non-secret
//! attributes are stored: passwords live in Secrets Manager, never here.
//!
//! A lock file beside the state makes a second concurrent run on the same
//! stack fail fast, naming the holder. A lock whose holder process is gone
//! (same host, pid no longer alive) is stale and is taken over.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// AWS kind, e.g. `ec2:vpc`.
    pub kind: String,
    /// The AWS identifier (ID, ARN or name, whatever the API keys on).
    pub id: String,
    /// Further non-secret attributes other steps need (ARNs, endpoints, AZs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

impl Resource {
    pub fn new(kind: &str, id: impl Into<String>) -> Self {
        Resource { kind: kind.to_string(), id: id.into(), attrs: BTreeMap::new() }
    }
    pub fn with(mut self, k: &str, v: impl Into<String>) -> Self {
        self.attrs.insert(k.to_string(), v.into());
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StateData {
    pub schema_version: u32,
    pub stack: String,
    pub region: String,
    /// Random per-lifetime value mixed into idempotency tokens, so that a
    /// stack recreated after `down` never replays a token of its predecessor.
    pub generation: String,
    pub updated_at: String,
    pub resources: BTreeMap<String, Resource>,
    /// Per resource key, how many times it was deleted: mixed into its
    /// idempotency token, so that an `up` after a partial `down` never gets a
    /// deleted NAT gateway or endpoint back from a replayed token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_epochs: BTreeMap<String, u32>,
    /// When each recent create was sent (key → unix seconds), set just
    /// before the call and kept for a while after it. AWS's reads are
    /// eventually consistent: for seconds after a create, a `Describe*` by
    /// the new ID may answer not-found and a filter-only one may leave it out.
    /// A lookup of a key created this recently keeps looking rather than
    /// concluding "absent" (and creating a second one, or forgetting one that
    /// exists). Entries older than an hour are dropped when the state is saved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub created_at: BTreeMap<String, u64>,
    /// The cost-relevant shape (`cost::Shape`) the last complete `up` built:
    /// what `plan` compares the configuration's estimate with. No secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}: cannot read state file: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: state file is not valid JSON for schema v{SCHEMA_VERSION}: {msg}\nhint: restore it from a backup, or delete it and rerun `moodlectl up`, which adopts resources by their `moodlectl:stack` tag", path.display())]
    Corrupt { path: PathBuf, line: usize, msg: String },
    #[error("{}: `schema_version` is {found}, this moodlectl understands {SCHEMA_VERSION}\nhint: use the moodlectl version that wrote it", path.display())]
    Version { path: PathBuf, found: u64 },
    #[error("{}: `{key}` is `{found}` but the config says `{expected}`: this state belongs to another stack\nhint: pass the right --config, or --state for this stack", path.display())]
    Mismatch { path: PathBuf, key: &'static str, found: String, expected: String },
    #[error("stack `{stack}` is locked by {holder}\nhint: wait for that run to finish; if it died, `moodlectl force-unlock {id}` (lock at {})", path.display())]
    Locked { stack: String, holder: String, id: String, path: PathBuf },
    #[error("state bucket `{bucket}` is not usable ({code})\nhint: the bucket for remote state is yours: create it (with versioning) or fix --state / [state] in the config")]
    Bucket { bucket: String, code: String },
    #[error("{what}: the state object was changed by another writer since this run read it; nothing more was written\nhint: another moodlectl (or a hand edit) wrote it; rerun to continue from the newer state")]
    Conflict { what: String },
    #[error("{what}: {msg}")]
    Remote { what: String, msg: String },
    #[error("lock `{found}` is held, not `{given}`; nothing was removed")]
    LockMismatch { found: String, given: String },
    #[error("{}: cannot write state file: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

impl StateError {
    /// Bad input (exit 2) versus a runtime problem (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            StateError::Corrupt { .. }
                | StateError::Version { .. }
                | StateError::Mismatch { .. }
                | StateError::Bucket { .. }
                | StateError::LockMismatch { .. }
        )
    }
}

/// Read and check a state file without locking; `None` when it does not exist.
pub fn read(path: &Path, stack: &str, region: &str) -> Result<Option<StateData>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path: path.into(), source }),
    };
    parse(&text, path, stack, region).map(Some)
}

/// Parse and check state text; `path` names it in messages (a file or s3:// URL).
pub fn parse(text: &str, path: &Path, stack: &str, region: &str) -> Result<StateData, StateError> {
    // Check the version before the full schema, so a newer file gets the
    // version message rather than a confusing "unknown field".
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| StateError::Corrupt {
        path: path.into(),
        line: e.line(),
        msg: e.to_string(),
    })?;
    let found = value.get("schema_version").and_then(|v| v.as_u64());
    match found {
        Some(v) if v == SCHEMA_VERSION as u64 => {}
        Some(v) => return Err(StateError::Version { path: path.into(), found: v }),
        None => return Err(StateError::Corrupt { path: path.into(), line: 1, msg: "missing `schema_version`".into() }),
    }
    let data: StateData = serde_json::from_str(text).map_err(|e| StateError::Corrupt {
        path: path.into(),
        line: e.line(),
        msg: e.to_string(),
    })?;
    for (key, found, expected) in [("stack", &data.stack, stack), ("region", &data.region, region)] {
        if found != expected {
            return Err(StateError::Mismatch {
                path: path.into(),
                key,
                found: found.clone(),
                expected: expected.to_string(),
            });
        }
    }
    Ok(data)
}

fn fresh(stack: &str, region: &str) -> StateData {
    StateData {
        schema_version: SCHEMA_VERSION,
        stack: stack.into(),
        region: region.into(),
        generation: random_hex(8),
        updated_at: now_rfc3339(),
        resources: BTreeMap::new(),
        token_epochs: BTreeMap::new(),
        created_at: BTreeMap::new(),
        applied: None,
    }
}

/// Where a state lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    /// `s3://bucket/key` or a file path.
    pub fn parse(s: &str) -> Result<Location, String> {
        match s.strip_prefix("s3://") {
            Some(rest) => match rest.split_once('/') {
                Some((b, k)) if !b.is_empty() && !k.is_empty() && !k.ends_with('/') => {
                    Ok(Location::S3 { bucket: b.into(), key: k.into() })
                }
                _ => Err(format!("`{s}` is not s3://BUCKET/KEY")),
            },
            None => Ok(Location::Local(PathBuf::from(s))),
        }
    }

    pub fn display(&self) -> PathBuf {
        match self {
            Location::Local(p) => p.clone(),
            Location::S3 { bucket, key } => PathBuf::from(format!("s3://{bucket}/{key}")),
        }
    }
}

/// A state object in S3 and the ETag of the version this run last saw.
pub struct S3State {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub key: String,
    etag: Mutex<Option<String>>,
    /// Serialises PUTs so the ETag chain stays linear; waited on only inside
    /// `block_in_place`, never by a thread that runtime tasks depend on.
    save_lock: Mutex<()>,
}

/// Run a future to completion from synchronous code inside the runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

fn s3_code<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String {
    match e {
        aws_smithy_runtime_api::client::result::SdkError::ServiceError(se) => {
            se.err().code().unwrap_or("Unknown").to_string()
        }
        _ => "ClientError".into(),
    }
}

impl S3State {
    /// Fail early, with a hint, when the user's bucket is missing.
    pub async fn check_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), StateError> {
        match client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(StateError::Bucket { bucket: bucket.into(), code: s3_code(&e) }),
        }
    }

    /// Current object text and ETag, if the object exists.
    pub async fn get(
        client: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(String, String)>, StateError> {
        match client.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => {
                let etag = o.e_tag().unwrap_or_default().to_string();
                let bytes = o
                    .body
                    .collect()
                    .await
                    .map_err(|e| StateError::Remote { what: format!("s3://{bucket}/{key}"), msg: e.to_string() })?
                    .into_bytes();
                Ok(Some((String::from_utf8_lossy(&bytes).into_owned(), etag)))
            }
            Err(e)
                if e.as_service_error().map(|s| s.is_no_such_key()).unwrap_or(false) || s3_code(&e) == "NoSuchKey" =>
            {
                Ok(None)
            }
            Err(e) => Err(StateError::Remote { what: format!("s3://{bucket}/{key}"), msg: s3_code(&e) }),
        }
    }

    /// Conditional write: If-Match the version we read, or If-None-Match for a new object.
    async fn put(&self, body: Vec<u8>) -> Result<(), StateError> {
        let mut etag = self.etag.lock().unwrap().clone();
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(body.into());
        let req = match &etag {
            Some(e) => req.if_match(e),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(o) => {
                etag = o.e_tag().map(str::to_string);
                *self.etag.lock().unwrap() = etag;
                Ok(())
            }
            Err(e)
                if s3_code(&e) == "PreconditionFailed"
                    || e.raw_response().map(|r| r.status().as_u16() == 412).unwrap_or(false) =>
            {
                Err(StateError::Conflict { what: format!("s3://{}/{}", self.bucket, self.key) })
            }
            Err(e) => Err(StateError::Remote { what: format!("s3://{}/{}", self.bucket, self.key), msg: s3_code(&e) }),
        }
    }
}

/// The state of one run: loaded (or new), shared between concurrent steps,
/// saved atomically on every change.
pub struct StateStore {
    path: PathBuf,
    remote: Option<S3State>,
    data: Mutex<StateData>,
    /// Read-only stores (plan, status) never write.
    writable: bool,
}

impl StateStore {
    pub fn open(path: &Path, stack: &str, region: &str, writable: bool) -> Result<Self, StateError> {
        let data = read(path, stack, region)?.unwrap_or_else(|| fresh(stack, region));
        Ok(StateStore { path: path.into(), remote: None, data: Mutex::new(data), writable })
    }

    /// Did the state exist before this run (file or object)?
    pub fn existed(&self) -> bool {
        match &self.remote {
            Some(r) => r.etag.lock().unwrap().is_some(),
            None => self.path.exists(),
        }
    }

    /// A state object in the user's S3 bucket.
    pub async fn open_s3(
        client: aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        stack: &str,
        region: &str,
        writable: bool,
    ) -> Result<Self, StateError> {
        S3State::check_bucket(&client, bucket).await?;
        let shown = PathBuf::from(format!("s3://{bucket}/{key}"));
        let (data, etag) = match S3State::get(&client, bucket, key).await? {
            Some((text, etag)) => (parse(&text, &shown, stack, region)?, Some(etag)),
            None => (fresh(stack, region), None),
        };
        Ok(StateStore {
            path: shown,
            remote: Some(S3State {
                client,
                bucket: bucket.into(),
                key: key.into(),
                etag: Mutex::new(etag),
                save_lock: Mutex::new(()),
            }),
            data: Mutex::new(data),
            writable,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, key: &str) -> Option<Resource> {
        self.data.lock().unwrap().resources.get(key).cloned()
    }

    pub fn id(&self, key: &str) -> Option<String> {
        self.get(key).map(|r| r.id)
    }

    pub fn generation(&self) -> String {
        self.data.lock().unwrap().generation.clone()
    }

    pub fn snapshot(&self) -> StateData {
        self.data.lock().unwrap().clone()
    }

    /// Record (or replace) a resource and persist immediately.
    pub fn record(&self, key: &str, res: Resource) -> Result<(), StateError> {
        {
            let mut d = self.data.lock().unwrap();
            if d.resources.get(key) == Some(&res) {
                return Ok(());
            }
            d.resources.insert(key.to_string(), res);
            self.save_locked(&mut d)?;
        }
        self.flush_remote()
    }

    /// Record a resource just created; its create time is kept (see
    /// `created_at`) unless an earlier note of the same create is.
    pub fn record_created(&self, key: &str, res: Resource) -> Result<(), StateError> {
        {
            let mut d = self.data.lock().unwrap();
            d.created_at.entry(key.to_string()).or_insert_with(unix_now);
            d.resources.insert(key.to_string(), res);
            self.save_locked(&mut d)?;
        }
        self.flush_remote()
    }

    /// Forget a resource (it was deleted, or is not there) and persist
    /// immediately. Its token epoch moves on either way: a resource created
    /// by a run that died before recording it is deleted without ever having
    /// been in the state, and its token must not be replayed either.
    pub fn forget(&self, key: &str) -> Result<(), StateError> {
        {
            let mut d = self.data.lock().unwrap();
            d.resources.remove(key);
            d.created_at.remove(key);
            *d.token_epochs.entry(key.to_string()).or_default() += 1;
            self.save_locked(&mut d)?;
        }
        self.flush_remote()
    }

    /// How many times `key` was deleted (see `token_epochs`).
    pub fn token_epoch(&self, key: &str) -> u32 {
        self.data.lock().unwrap().token_epochs.get(key).copied().unwrap_or(0)
    }

    /// Note that a create of `key` is about to be sent (`Some`), or that AWS
    /// refused it outright so nothing was created (`None`), and persist it.
    pub fn set_created_at(&self, key: &str, at: Option<u64>) -> Result<(), StateError> {
        {
            let mut d = self.data.lock().unwrap();
            match at {
                Some(t) => d.created_at.insert(key.to_string(), t),
                None => d.created_at.remove(key),
            };
            self.save_locked(&mut d)?;
        }
        self.flush_remote()
    }

    /// Note the shape a complete `up` built (see `applied`).
    pub fn set_applied(&self, shape: serde_json::Value) -> Result<(), StateError> {
        {
            let mut d = self.data.lock().unwrap();
            if d.applied.as_ref() == Some(&shape) {
                return Ok(());
            }
            d.applied = Some(shape);
            self.save_locked(&mut d)?;
        }
        self.flush_remote()
    }

    /// The shape the last complete `up` built, if any.
    pub fn applied(&self) -> Option<serde_json::Value> {
        self.data.lock().unwrap().applied.clone()
    }

    /// When a create of `key` was last sent, if it was recent (see `created_at`).
    pub fn created_at(&self, key: &str) -> Option<u64> {
        self.data.lock().unwrap().created_at.get(key).copied()
    }

    /// Replace the whole state (`state push`) and persist it.
    pub fn replace(&self, data: StateData) -> Result<(), StateError> {
        {
            let mut d = self.data.lock().unwrap();
            *d = data;
            self.save_locked(&mut d)?;
        }
        self.flush_remote()
    }

    /// Persist the current state (used to create the file at the start of `up`).
    pub fn save(&self) -> Result<(), StateError> {
        {
            let mut d = self.data.lock().unwrap();
            self.save_locked(&mut d)?;
        }
        self.flush_remote()
    }

    /// PUT the latest state to S3. The data lock is held only to serialise
    /// the snapshot, never across the request.
    fn flush_remote(&self) -> Result<(), StateError> {
        let Some(r) = &self.remote else { return Ok(()) };
        if !self.writable {
            return Ok(());
        }
        tokio::task::block_in_place(|| {
            let _g = r.save_lock.lock().unwrap();
            let json = serde_json::to_vec_pretty(&*self.data.lock().unwrap()).expect("state serialises");
            tokio::runtime::Handle::current().block_on(r.put(json))
        })
    }

    /// Remove the state file: the stack is gone.
    pub fn remove_file(&self) -> Result<(), StateError> {
        if let Some(r) = &self.remote {
            let what = self.path.display().to_string();
            return block_on(r.client.delete_object().bucket(&r.bucket).key(&r.key).send())
                .map(|_| ())
                .map_err(|e| StateError::Remote { what, msg: s3_code(&e) });
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Write { path: self.path.clone(), source }),
        }
    }

    fn save_locked(&self, d: &mut StateData) -> Result<(), StateError> {
        if !self.writable {
            return Ok(());
        }
        d.updated_at = now_rfc3339();
        let hour_ago = unix_now().saturating_sub(3600);
        d.created_at.retain(|_, t| *t > hour_ago);
        if self.remote.is_some() {
            return Ok(()); // written by flush_remote, outside the data lock
        }
        let json = serde_json::to_vec_pretty(&*d).expect("state serialises");
        write_atomic(&self.path, &json).map_err(|source| StateError::Write { path: self.path.clone(), source })
    }
}

/// Write via a temp file in the same directory + fsync + rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[derive(Debug, Serialize, Deserialize)]
struct LockInfo {
    #[serde(default)]
    id: String,
    pid: u32,
    host: String,
    started_at: String,
    command: String,
}

impl LockInfo {
    fn mine(command: &str) -> LockInfo {
        LockInfo {
            id: random_hex(6),
            pid: std::process::id(),
            host: host(),
            started_at: now_rfc3339(),
            command: command.into(),
        }
    }
    fn holder(&self) -> String {
        format!(
            "pid {} on host {} since {} (`moodlectl {}`), lock id {}",
            self.pid, self.host, self.started_at, self.command, self.id
        )
    }
}

/// An acquired advisory lock; released on drop.
pub struct StateLock {
    path: PathBuf,
    remote: Option<(aws_sdk_s3::Client, String, String)>,
}

fn lock_path(state_path: &Path) -> PathBuf {
    state_path.with_extension("lock")
}

impl StateLock {
    /// Take the lock beside `state_path`, or fail naming the holder.
    pub fn acquire(state_path: &Path, stack: &str, command: &str) -> Result<StateLock, StateError> {
        let path = lock_path(state_path);
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Write { path: path.clone(), source })?;
        }
        let me = LockInfo::mine(command);
        for _ in 0..3 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let body = serde_json::to_vec(&me).unwrap();
                    f.write_all(&body)
                        .and_then(|_| f.sync_all())
                        .map_err(|source| StateError::Write { path: path.clone(), source })?;
                    return Ok(StateLock { path, remote: None });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder: Option<LockInfo> =
                        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok());
                    match holder {
                        Some(h) if h.host == me.host && !pid_alive(h.pid) => {
                            // The holder died (e.g. SIGKILL): the lock is stale.
                            // Said, not done silently: the state may hold that
                            // run's half-finished work, which this run resumes.
                            eprintln!(
                                "note: taking over the lock of {} — that process is gone; its work is resumed",
                                h.holder()
                            );
                            let _ = std::fs::remove_file(&path);
                        }
                        Some(h) => {
                            return Err(StateError::Locked { stack: stack.into(), holder: h.holder(), id: h.id, path });
                        }
                        None => {
                            // Half-written by a holder that is still writing it,
                            // or garbage: give the writer a moment, then judge.
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            let again = std::fs::read_to_string(&path).unwrap_or_default();
                            if serde_json::from_str::<LockInfo>(&again).is_err() {
                                return Err(StateError::Locked {
                                    stack: stack.into(),
                                    holder: "an unreadable lock file".into(),
                                    id: "?".into(),
                                    path,
                                });
                            }
                        }
                    }
                }
                Err(source) => return Err(StateError::Write { path, source }),
            }
        }
        Err(StateError::Locked {
            stack: stack.into(),
            holder: "another process (lock contention)".into(),
            id: "?".into(),
            path,
        })
    }

    /// Take the lock object `<key>.lock` with If-None-Match, like Terraform's S3 lockfile.
    /// A lock left by a killed run stays until `force-unlock`: on another host
    /// liveness cannot be checked.
    pub async fn acquire_s3(
        client: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        stack: &str,
        command: &str,
    ) -> Result<StateLock, StateError> {
        let lock_key = format!("{key}.lock");
        let shown = PathBuf::from(format!("s3://{bucket}/{lock_key}"));
        let me = LockInfo::mine(command);
        let r = client
            .put_object()
            .bucket(bucket)
            .key(&lock_key)
            .if_none_match("*")
            .body(serde_json::to_vec(&me).unwrap().into())
            .send()
            .await;
        match r {
            Ok(_) => Ok(StateLock { path: shown, remote: Some((client.clone(), bucket.into(), lock_key)) }),
            Err(e)
                if s3_code(&e) == "PreconditionFailed"
                    || e.raw_response().map(|r| r.status().as_u16() == 412).unwrap_or(false) =>
            {
                let holder = S3State::get(client, bucket, &lock_key)
                    .await?
                    .and_then(|(t, _)| serde_json::from_str::<LockInfo>(&t).ok());
                let (holder, id) = match holder {
                    Some(h) => (h.holder(), h.id),
                    None => ("an unreadable lock object".into(), "?".into()),
                };
                Err(StateError::Locked { stack: stack.into(), holder, id, path: shown })
            }
            Err(e) => Err(StateError::Remote { what: shown.display().to_string(), msg: s3_code(&e) }),
        }
    }

    /// Remove a lock left behind, if its id is `id`.
    pub async fn force_unlock(loc: &Location, s3: Option<&aws_sdk_s3::Client>, id: &str) -> Result<(), StateError> {
        match (loc, s3) {
            (Location::S3 { bucket, key }, Some(client)) => {
                let lock_key = format!("{key}.lock");
                let Some((text, _)) = S3State::get(client, bucket, &lock_key).await? else {
                    return Err(StateError::LockMismatch { found: "none".into(), given: id.into() });
                };
                let found = serde_json::from_str::<LockInfo>(&text).map(|h| h.id).unwrap_or_default();
                if found != id {
                    return Err(StateError::LockMismatch { found, given: id.into() });
                }
                client
                    .delete_object()
                    .bucket(bucket)
                    .key(&lock_key)
                    .send()
                    .await
                    .map_err(|e| StateError::Remote { what: lock_key, msg: s3_code(&e) })?;
                Ok(())
            }
            _ => {
                let path = lock_path(&loc.display());
                let found = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| serde_json::from_str::<LockInfo>(&t).ok())
                    .map(|h| h.id);
                match found {
                    Some(f) if f == id => {
                        std::fs::remove_file(&path).map_err(|source| StateError::Write { path, source })
                    }
                    f => Err(StateError::LockMismatch { found: f.unwrap_or("none".into()), given: id.into() }),
                }
            }
        }
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        match self.remote.take() {
            Some((client, bucket, key)) => {
                if tokio::runtime::Handle::try_current().is_ok() {
                    let _ = block_on(client.delete_object().bucket(bucket).key(key).send());
                }
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    // kill(pid, 0) probes existence without sending a signal.
    // SAFETY: no signal is sent; the call only reads the process table.
    #[allow(unsafe_code)]
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn host() -> String {
    hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "unknown".into())
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_persisted_atomically_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let s = StateStore::open(&p, "moodle", "eu-west-1", true).unwrap();
        s.record("vpc", Resource::new("ec2:vpc", "vpc-1")).unwrap();
        let again = StateStore::open(&p, "moodle", "eu-west-1", true).unwrap();
        assert_eq!(again.id("vpc").as_deref(), Some("vpc-1"));
        assert_eq!(again.generation(), s.generation());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn rejects_other_stack_version_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let s = StateStore::open(&p, "moodle", "eu-west-1", true).unwrap();
        s.save().unwrap();
        assert!(matches!(read(&p, "other", "eu-west-1"), Err(StateError::Mismatch { key: "stack", .. })));
        assert!(matches!(read(&p, "moodle", "us-east-1"), Err(StateError::Mismatch { key: "region", .. })));
        std::fs::write(&p, r#"{"schema_version": 99}"#).unwrap();
        assert!(matches!(read(&p, "moodle", "eu-west-1"), Err(StateError::Version { found: 99, .. })));
        std::fs::write(&p, "{\n  \"schema_version\": 1,\n  oops").unwrap();
        match read(&p, "moodle", "eu-west-1") {
            Err(StateError::Corrupt { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lock_names_holder_and_stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let l = StateLock::acquire(&p, "moodle", "up").unwrap();
        let e = StateLock::acquire(&p, "moodle", "up").err().unwrap().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(l);
        // A lock left by a dead process on this host is stale.
        let stale = LockInfo {
            id: "dead".into(),
            pid: 999_999_999,
            host: host(),
            started_at: now_rfc3339(),
            command: "up".into(),
        };
        std::fs::write(p.with_extension("lock"), serde_json::to_vec(&stale).unwrap()).unwrap();
        assert!(StateLock::acquire(&p, "moodle", "up").is_ok());
    }
}
