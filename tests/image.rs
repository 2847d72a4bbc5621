//! The Moodle image: static checks (hadolint, shellcheck), the generated
//! config.php (php -l and values), the entrypoint's DB wait and install-once
//! logic with stub commands, and the environment contract with the compute tier.

mod common;
use common::repo;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn tool(name: &str) -> std::path::PathBuf {
    let p = repo().join(".venv/bin").join(name);
    assert!(p.exists(), "{} missing: scripts/test.sh installs it", p.display());
    p
}

#[test]
fn hadolint_and_shellcheck_are_clean() {
    let o = Command::new(tool("hadolint")).arg(repo().join("image/Dockerfile")).output().unwrap();
    assert!(
        o.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut scripts: Vec<String> = vec![".ci/run".into()];
    for dir in ["image", "scripts"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().map(|x| x == "sh").unwrap_or(false) {
                scripts.push(p.strip_prefix(repo()).unwrap().display().to_string());
            }
        }
    }
    for f in ["image/entrypoint.sh", "image/layout.sh", "image/healthcheck.sh"] {
        assert!(scripts.iter().any(|s| s == f), "{f} in {scripts:?}");
    }
    let o = Command::new(tool("shellcheck")).current_dir(repo()).args(&scripts).output().unwrap();
    assert!(o.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&o.stdout));
}

fn base_env(password: &str, tls: bool, port: &str) -> Vec<(String, String)> {
    [
        ("MOODLE_DATABASE_TYPE", "mysqli"),
        ("MOODLE_DATABASE_HOST", "moodle-db.abc.ap-southeast-1.rds.amazonaws.com"),
        ("MOODLE_DATABASE_PORT_NUMBER", port),
        ("MOODLE_DATABASE_NAME", "moodledb"),
        ("MOODLE_DATABASE_USER", "dbadmin"),
        ("MOODLE_DATABASE_PASSWORD", password),
        ("MOODLE_USERNAME", "moodleadmin"),
        ("MOODLE_PASSWORD", "admin-secret"),
        ("MOODLE_EMAIL", "hello@example.com"),
        ("MOODLE_SITE_NAME", "Scalable Moodle"),
        ("MOODLE_DNS_NAME", "moodle.example.com"),
        ("MOODLE_REDIS_HOST", "master.moodle-redis.abc.cache.amazonaws.com"),
        ("MOODLE_REDIS_PORT", "6380"),
        ("MOODLE_REDIS_TLS", if tls { "true" } else { "false" }),
        ("MOODLE_DATA_DIR", "/var/www/moodledata"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn php(args: &[&str]) -> std::process::Output {
    Command::new("php").args(args).output().expect("php (scripts/test.sh installs php-cli)")
}

/// Evaluate the config without Moodle's bootstrap; print one $CFG field.
fn cfg_value(file: &Path, expr: &str) -> String {
    let code = format!(
        "$s = preg_replace('/^require_once.*$/m', '', file_get_contents('{}')); $f = tempnam(sys_get_temp_dir(), 'cfg'); file_put_contents($f, $s); include $f; echo json_encode({expr});",
        file.display()
    );
    let o = php(&["-r", &code]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// `MOODLE_DATABASE_TLS=true` (the default task definition): config.php asks
/// Moodle for `'ssl' => 'verify-full'` when its mysqli driver knows the
/// option, and the entrypoint refuses to start, saying why, when it does not
/// (a server requiring TLS would refuse the driver's clear connection).
#[test]
fn database_tls_is_asked_for_only_from_a_driver_that_knows_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |app: &Path, tls: &str, file: &Path| {
        Command::new("bash")
            .arg(repo().join("image/entrypoint.sh"))
            .arg("write-config")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .envs(base_env("pw", true, "3306"))
            .env("MOODLE_DATABASE_TLS", tls)
            .env("APP_DIR", app)
            .env("CONFIG_FILE", file)
            .output()
            .unwrap()
    };
    // A driver with the option (5.1+ layout: public/lib/dml).
    let new = dir.path().join("new");
    std::fs::create_dir_all(new.join("public/lib/dml")).unwrap();
    std::fs::write(
        new.join("public/lib/dml/mysqli_native_moodle_database.php"),
        "<?php class x { private static $sslmodes = ['require', 'verify-full']; }",
    )
    .unwrap();
    // pgsql knowing 'verify-full' says nothing about mysqli.
    let old = dir.path().join("old");
    std::fs::create_dir_all(old.join("lib/dml")).unwrap();
    std::fs::write(old.join("lib/dml/mysqli_native_moodle_database.php"), "<?php class x {}").unwrap();
    std::fs::write(old.join("lib/dml/pgsql_native_moodle_database.php"), "<?php $m = ['verify-full'];").unwrap();

    let file = dir.path().join("tls.php");
    let o = write(&new, "true", &file);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(php(&["-l", file.to_str().unwrap()]).status.success());
    assert_eq!(cfg_value(&file, "$CFG->dboptions['ssl']"), "\"verify-full\"");
    assert_eq!(cfg_value(&file, "$CFG->dboptions['dbport']"), "3306");

    let file = dir.path().join("clear.php");
    let o = write(&new, "false", &file);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(cfg_value(&file, "isset($CFG->dboptions['ssl'])"), "false");

    let file = dir.path().join("refused.php");
    let o = write(&old, "true", &file);
    assert_eq!(o.status.code(), Some(64));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mysqli driver has no $CFG->dboptions['ssl']") && err.contains("require_tls = false"),
        "{err}"
    );
    assert!(!file.exists());
}

#[test]
fn generated_config_php_lints_and_carries_the_right_values() {
    let dir = tempfile::tempdir().unwrap();
    let nasty = r#"p'a\s$s"w`o{r}d;\'"#;
    for (i, (password, tls, port)) in
        [("plainPassword123", true, "3306"), (nasty, false, "3307"), ("Abc123xyz", true, "03306")].iter().enumerate()
    {
        let file = dir.path().join(format!("config{i}.php"));
        let o = Command::new("bash")
            .arg(repo().join("image/entrypoint.sh"))
            .arg("write-config")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .envs(base_env(password, *tls, port))
            .env("CONFIG_FILE", &file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let lint = php(&["-l", file.to_str().unwrap()]);
        assert!(lint.status.success(), "php -l: {}", String::from_utf8_lossy(&lint.stdout));
        // Values, as PHP itself reads them.
        assert_eq!(cfg_value(&file, "$CFG->dbpass"), serde_json::to_string(password).unwrap(), "password escaped");
        assert_eq!(cfg_value(&file, "$CFG->dboptions['dbport']"), (port.parse::<u32>().unwrap()).to_string());
        assert_eq!(cfg_value(&file, "$CFG->wwwroot"), "\"https:\\/\\/moodle.example.com\"");
        assert_eq!(cfg_value(&file, "$CFG->localcachedir"), "\"\\/var\\/cache\\/moodle\"");
        assert_eq!(cfg_value(&file, "$CFG->dataroot"), "\"\\/var\\/www\\/moodledata\"");
        assert_eq!(cfg_value(&file, "$CFG->sslproxy"), "true");
        assert_eq!(cfg_value(&file, "$CFG->session_handler_class"), "\"\\\\core\\\\session\\\\redis\"");
        // Moodle's session handler takes the bare host (a tls:// prefix breaks
        // its host:port split) and TLS options with peer verification.
        assert_eq!(cfg_value(&file, "$CFG->session_redis_host"), "\"master.moodle-redis.abc.cache.amazonaws.com\"");
        assert_eq!(cfg_value(&file, "$CFG->session_redis_port"), "6380");
        let ca = "\"\\/etc\\/ssl\\/certs\\/ca-certificates.crt\"";
        if *tls {
            assert_eq!(
                cfg_value(&file, "$CFG->session_redis_encrypt"),
                format!("{{\"cafile\":{ca},\"verify_peer\":true,\"verify_peer_name\":true}}")
            );
        } else {
            assert_eq!(cfg_value(&file, "$CFG->session_redis_encrypt"), "false");
        }
        assert_eq!(
            cfg_value(&file, "$CFG->moodlectl_muc_redis['server']"),
            "\"master.moodle-redis.abc.cache.amazonaws.com:6380\""
        );
        assert_eq!(cfg_value(&file, "$CFG->moodlectl_muc_redis['encryption']"), tls.to_string());
        // The MUC store verifies the peer only when given a CA file.
        assert_eq!(
            cfg_value(&file, "$CFG->moodlectl_muc_redis['cafile']"),
            if *tls { ca.to_string() } else { "\"\"".to_string() }
        );
        assert_eq!(
            cfg_value(&file, "$CFG->alternative_component_cache"),
            "\"\\/var\\/cache\\/moodle\\/core_component.php\""
        );
        assert_eq!(cfg_value(&file, "$CFG->directorypermissions"), 0o2770.to_string());
        // Read-only even for its owner (Moodle's core_configrw check).
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o440);
        // OPcache never caches what Moodle writes below the dataroot.
        assert_eq!(std::fs::read_to_string(dir.path().join("opcache.blacklist")).unwrap(), "/var/www/moodledata/\n");
    }
    // A missing variable is refused by name.
    let o = Command::new("bash")
        .arg(repo().join("image/entrypoint.sh"))
        .arg("write-config")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("CONFIG_FILE", dir.path().join("x.php"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("MOODLE_DATABASE_HOST"));
}

/// A stand-in for `php` that plays the DB probe and Moodle's CLI scripts,
/// recording what it was asked to do in $STUB_DIR. `upgrade.php
/// --is-pending` answers as Moodle does: 1 while "notready_left" counts down
/// (mid-install or mid-upgrade: "Site is being upgraded"), 2 when an upgrade
/// is pending, 0 when up to date — and 0 already while the installer is
/// still finishing, as real Moodle does.
const FAKE_PHP: &str = r#"#!/usr/bin/env bash
set -euo pipefail
d="$STUB_DIR"
exec 9>"$d/.flock"; flock 9
case "$1" in
  */db-state.php)
    left=$(cat "$d/unreachable_left" 2>/dev/null || echo 0)
    if (( left > 0 )); then echo $((left - 1)) > "$d/unreachable_left"; echo unreachable; exit 0; fi
    cat "$d/state" ;;
  */install_database.php)
    flock -u 9
    echo "$*" >> "$d/installs"; echo installed > "$d/state"; echo 1 > "$d/installing"; sleep 1; rm -f "$d/installing" ;;
  */upgrade.php)
    if [[ "${2:-}" == "--is-pending" ]]; then
      left=$(cat "$d/notready_left" 2>/dev/null || echo 0)
      if (( left > 0 )); then echo $((left - 1)) > "$d/notready_left"; echo "!!! Site is being upgraded, please retry later. !!!"; exit 1; fi
      # As Moodle 5.2 does in install_database.php's last seconds: the
      # version hashes are stored, "no upgrade needed", the install goes on.
      [[ -f "$d/installing" ]] && exit 0
      [[ -f "$d/pending" ]] && exit 2
      exit 0
    fi
    echo upgrade >> "$d/upgrades"; rm -f "$d/pending" ;;
  */alternative_component_cache.php) echo "$*" >> "$d/component_caches" ;;
  */configure-muc.php) echo muc >> "$d/muc" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"#;

/// The web server's stand-in: records what the database looked like when
/// this replica started serving.
const FAKE_WEB: &str = r#"#!/usr/bin/env bash
d="$STUB_DIR"
exec 9>"$d/.flock"; flock 9
echo "state=$(cat "$d/state") installing=$([[ -f "$d/installing" ]] && echo yes || echo no) pending=$([[ -f "$d/pending" ]] && echo yes || echo no) notready_left=$(cat "$d/notready_left" 2>/dev/null || echo 0)" >> "$d/serving"
"#;

fn replica(stub: &Path, data: &Path, i: usize, extra: &[(&str, &str)]) -> std::process::Child {
    let mut c = Command::new("bash");
    c.arg(repo().join("image/entrypoint.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(base_env("pw", true, "3306"))
        .env("MOODLE_DATA_DIR", data)
        .env("CONFIG_FILE", stub.join(format!("config{i}.php")))
        .env("PHP_BIN", stub.join("php"))
        .env("APP_DIR", "/opt/moodle")
        .env("HELPERS", "/opt/moodlectl")
        .env("STUB_DIR", stub)
        .env("WEB_SERVER", stub.join("web"))
        .env("CRON", "off")
        .env("POLL_SECONDS", "0.2")
        .env("DB_WAIT_SECONDS", "30")
        .env("LOCK_WAIT_SECONDS", "30")
        .envs(extra.iter().copied())
        .stderr(std::process::Stdio::piped());
    c.spawn().unwrap()
}

fn stub_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (name, text) in [("php", FAKE_PHP), ("web", FAKE_WEB)] {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// Every "serving" line: each replica that reached its web server.
fn served(stub: &Path) -> Vec<String> {
    std::fs::read_to_string(stub.join("serving")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map(|s| s.lines().count()).unwrap_or(0)
}

#[test]
fn three_replicas_wait_for_the_db_and_install_exactly_once() {
    let stub = stub_dir();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(stub.path().join("state"), "empty\n").unwrap();
    std::fs::write(stub.path().join("unreachable_left"), "4\n").unwrap();
    let kids: Vec<_> = (0..3).map(|i| replica(stub.path(), data.path(), i, &[])).collect();
    let mut logs = String::new();
    for (i, k) in kids.into_iter().enumerate() {
        let o = k.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "replica failed:\n{err}");
        logs.push_str(&format!("--- replica {i}\n{err}"));
    }
    assert_eq!(
        lines(&stub.path().join("installs")),
        1,
        "install_database.php ran exactly once; replicas said:\n{logs}"
    );
    assert!(std::fs::read_to_string(stub.path().join("installs")).unwrap().contains("--adminuser=moodleadmin"));
    assert_eq!(lines(&stub.path().join("upgrades")), 0);
    // Every replica points the cache at Redis and builds its component
    // cache at every start, and serves only once the install is complete.
    assert_eq!(lines(&stub.path().join("muc")), 3, "{logs}");
    assert_eq!(lines(&stub.path().join("component_caches")), 3);
    let serving = served(stub.path());
    assert_eq!(serving.len(), 3, "{serving:?}\n{logs}");
    for s in &serving {
        assert_eq!(
            s, "state=installed installing=no pending=no notready_left=0",
            "a replica served before the install finished:\n{logs}"
        );
    }
    assert!(!data.path().join(".moodlectl-install.lock").exists(), "lock released");

    // Newer code: exactly one replica upgrades.
    std::fs::write(stub.path().join("pending"), "").unwrap();
    let kids: Vec<_> = (0..3).map(|i| replica(stub.path(), data.path(), i, &[])).collect();
    for k in kids {
        assert!(k.wait_with_output().unwrap().status.success());
    }
    assert_eq!(lines(&stub.path().join("upgrades")), 1);
    assert_eq!(lines(&stub.path().join("installs")), 1);
    let serving = served(stub.path());
    assert_eq!(serving.len(), 6);
    assert!(
        serving.iter().all(|s| s.contains("pending=no")),
        "no replica serves the old database with new code: {serving:?}"
    );
}

#[test]
fn a_site_that_is_not_ready_is_waited_for_not_served() {
    // `upgrade.php --is-pending` exits 1 while another replica installs or
    // upgrades ("Site is being upgraded"): only 0 means up to date. The
    // replica waits, says why, and serves once Moodle answers 0.
    let stub = stub_dir();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(stub.path().join("state"), "installed\n").unwrap();
    std::fs::write(stub.path().join("notready_left"), "4\n").unwrap();
    let o = replica(stub.path(), data.path(), 0, &[]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("Moodle is not ready (upgrade.php --is-pending exited 1: !!! Site is being upgraded, please retry later. !!!); waiting"),
        "{err}"
    );
    assert_eq!(err.matches("is not ready").count(), 1, "one line per reason: {err}");
    assert_eq!(served(stub.path()), ["state=installed installing=no pending=no notready_left=0"]);
    assert_eq!(lines(&stub.path().join("upgrades")), 0, "1 is not 2");
    assert_eq!(lines(&stub.path().join("installs")), 0);

    // Bounded: a site that never becomes ready stops the start, unserved.
    std::fs::write(stub.path().join("notready_left"), "100000\n").unwrap();
    let o = replica(stub.path(), data.path(), 1, &[("LOCK_WAIT_SECONDS", "1")]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("gave up after 1s: Moodle is not ready (upgrade.php --is-pending exited 1"), "{err}");
    assert_eq!(served(stub.path()).len(), 1, "the second replica never served");
}

#[test]
fn a_dataroot_the_php_user_cannot_write_stops_the_start_with_a_clear_message() {
    // An EFS access point rooted at `/` hands uid 33 the file system's
    // root-owned 755 root. As root (CI) the check runs as `nobody`, since
    // root may write anywhere.
    let stub = stub_dir();
    let data = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(conf.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // A directory we just made is ours: its owner is our effective uid.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(data.path()).unwrap()) == 0;
    if !root {
        std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let mut c = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"]);
        c
    } else {
        Command::new("bash")
    };
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(repo().join("image/entrypoint.sh"), script.path()).unwrap();
    std::fs::set_permissions(script.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = c
        .arg(script.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(base_env("pw", true, "3306"))
        .env("MOODLE_DATA_DIR", data.path())
        .env("CONFIG_FILE", conf.path().join("config.php"))
        .env("PHP_BIN", stub.path().join("php"))
        .env("STUB_DIR", stub.path())
        .env("WEB_SERVER", stub.path().join("web"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(73), "{err}");
    assert!(
        err.contains(&format!("moodledata {} is not writable by uid", data.path().display()))
            && err.contains("mode 755")
            && err.contains("EFS access point must create its root directory owned by this user"),
        "{err}"
    );
    assert!(served(stub.path()).is_empty());
    assert_eq!(lines(&stub.path().join("installs")), 0);

    // A dataroot that is not there at all says so too.
    let o = Command::new("bash")
        .arg(repo().join("image/entrypoint.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(base_env("pw", true, "3306"))
        .env("MOODLE_DATA_DIR", data.path().join("missing"))
        .env("CONFIG_FILE", conf.path().join("config2.php"))
        .env("PHP_BIN", stub.path().join("php"))
        .env("STUB_DIR", stub.path())
        .env("WEB_SERVER", stub.path().join("web"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(73), "{err}");
    assert!(err.contains("(it is missing)"), "{err}");
}

#[test]
fn db_wait_is_bounded_and_a_stale_lock_is_taken_over() {
    let stub = stub_dir();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(stub.path().join("state"), "empty\n").unwrap();
    std::fs::write(stub.path().join("unreachable_left"), "100000\n").unwrap();
    let t = std::time::Instant::now();
    let o = replica(stub.path(), data.path(), 0, &[("DB_WAIT_SECONDS", "1")]).wait_with_output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not reachable after 1s"));
    assert!(t.elapsed().as_secs() < 15);
    assert_eq!(lines(&stub.path().join("installs")), 0);

    // A lock left by a replica that died hours ago does not block forever.
    std::fs::write(stub.path().join("unreachable_left"), "0\n").unwrap();
    let lock = data.path().join(".moodlectl-install.lock");
    std::fs::create_dir(&lock).unwrap();
    std::fs::write(lock.join("holder"), "dead-host 1000\n").unwrap();
    let o = replica(stub.path(), data.path(), 1, &[]).wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(lines(&stub.path().join("installs")), 1);
}

#[test]
fn a_lock_taken_a_moment_ago_is_not_mistaken_for_a_stale_one() {
    // Between a holder's mkdir and its holder file, the lock has no
    // timestamp yet; it must count as fresh (this race once let two replicas
    // install at the same time).
    let stub = stub_dir();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(stub.path().join("state"), "empty\n").unwrap();
    let lock = data.path().join(".moodlectl-install.lock");
    for holder in [None, Some("half-written-host")] {
        std::fs::create_dir_all(&lock).unwrap();
        if let Some(h) = holder {
            std::fs::write(lock.join("holder"), h).unwrap();
        }
        let o = replica(stub.path(), data.path(), 0, &[("LOCK_WAIT_SECONDS", "1")]).wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{holder:?}: {err}");
        assert!(err.contains("another replica held the install lock"), "{err}");
        assert!(!err.contains("stale"), "{err}");
        assert!(lock.exists());
        assert_eq!(lines(&stub.path().join("installs")), 0);
    }
}

#[test]
fn the_env_contract_is_the_same_on_both_sides() {
    use moodlectl::resources::compute::{ENV_NAMES, SECRET_ENV_NAMES};
    let set_by_compute: BTreeSet<String> = ENV_NAMES.iter().chain(SECRET_ENV_NAMES).map(|s| s.to_string()).collect();
    let mut read_by_image = BTreeSet::new();
    for f in [
        "image/entrypoint.sh",
        "image/healthcheck.sh",
        "image/moodlectl/db-state.php",
        "image/moodlectl/health.php",
        "image/moodlectl/configure-muc.php",
    ] {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(pos) = text[i..].find("MOODLE_") {
            let start = i + pos;
            let mut end = start;
            while end < bytes.len()
                && (bytes[end].is_ascii_uppercase() || bytes[end] == b'_' || bytes[end].is_ascii_digit())
            {
                end += 1;
            }
            // `MOODLE_*` in prose is a wildcard, not a variable; NO_MOODLE_COOKIES
            // (a Moodle constant) only contains the prefix.
            let inside_a_word = start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
            if end > start + "MOODLE_".len() && !inside_a_word {
                read_by_image.insert(text[start..end].to_string());
            }
            i = end;
        }
    }
    assert_eq!(read_by_image, set_by_compute, "image/ and src/resources/compute.rs disagree on the environment");
}

/// The task's read-only root: the paths the task definition gives volumes
/// of task storage are exactly the Dockerfile's `VOLUME`s (Fargate fills each
/// from the image's directory, so one missing there would be root-owned and
/// unwritable for uid 33; one missing in the task would be read-only).
#[test]
fn the_writable_paths_are_the_same_on_both_sides() {
    use moodlectl::resources::compute::SCRATCH_VOLUMES;
    let dockerfile = std::fs::read_to_string(repo().join("image/Dockerfile")).unwrap();
    let line = dockerfile.lines().find(|l| l.starts_with("VOLUME ")).expect("a VOLUME line");
    let declared: BTreeSet<String> =
        serde_json::from_str::<Vec<String>>(line.trim_start_matches("VOLUME ")).unwrap().into_iter().collect();
    let mounted: BTreeSet<String> = SCRATCH_VOLUMES.iter().map(|(_, p)| p.to_string()).collect();
    assert_eq!(declared, mounted);
    // The USER comes after: the VOLUMEs' owners were set by layout.sh (as root).
    assert!(dockerfile.find("VOLUME ").unwrap() > dockerfile.find("layout.sh \\").unwrap());
}
