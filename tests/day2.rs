//! Day-2 operations against the emulator, checked with independent SDK
//! reads: `up`'s pending-upgrade check, `upgrade` (order, failure, kills),
//! `backup`/`backups`/`restore`.
//!
//! The emulator models Moodle's database version by image tag (see
//! scripts/emu/tasks.py): `:5.0.2-2` is the same Moodle as `:5.0.2` (a
//! rebuild), `:5.1.0` needs a database upgrade.

mod common;
use common::*;

use serde_json::Value;

const REPO: &str = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/moodle-moodle";

async fn push(moto: &Moto, tag: &str) {
    let conf = sdk(&moto.url, REGION).await;
    let ecr = aws_sdk_ecr::Client::new(&conf);
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}"#;
    ecr.put_image().repository_name("moodle-moodle").image_tag(tag).image_manifest(manifest).send().await.unwrap();
}

fn use_image(p: &Project, from: &str, to: &str) {
    p.edit_config(&format!("uri = \"{REPO}:{from}\""), &format!("uri = \"{REPO}:{to}\""));
}

/// The image and revision the web service runs (independent read).
async fn service_image(moto: &Moto) -> (String, String) {
    let td = service_task_definition(&sdk(&moto.url, REGION).await).await;
    let image = td.container_definitions()[0].image().unwrap().to_string();
    (image, td.task_definition_arn().unwrap().rsplit('/').next().unwrap().to_string())
}

/// The commands the one-off tasks ran, in order (the emulator writes one
/// log line per task to the container's log group).
async fn one_off_commands(moto: &Moto) -> Vec<String> {
    let conf = sdk(&moto.url, REGION).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let o = logs.filter_log_events().log_group_name("/moodlectl/moodle/moodle").send().await.unwrap();
    let mut ev: Vec<(i64, String)> = o
        .events()
        .iter()
        .filter_map(|e| Some((e.timestamp()?, e.message()?.strip_prefix("(emulator) ran: ")?.to_string())))
        .collect();
    ev.sort();
    ev.into_iter().map(|(_, m)| m).collect()
}

async fn preupgrade_snapshots(moto: &Moto) -> Vec<String> {
    let conf = sdk(&moto.url, REGION).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let o = rds.describe_db_snapshots().snapshot_type("manual").send().await.unwrap();
    o.db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier())
        .filter(|i| i.starts_with("moodle-preupgrade-"))
        .map(str::to_string)
        .collect()
}

async fn recovery_points(moto: &Moto) -> Vec<String> {
    let conf = sdk(&moto.url, REGION).await;
    let b = aws_sdk_backup::Client::new(&conf);
    let o = b.list_recovery_points_by_backup_vault().backup_vault_name("moodle-backups").send().await.unwrap();
    o.recovery_points().iter().filter_map(|r| r.recovery_point_arn().map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_a_new_image_asks_moodle_whether_an_upgrade_is_pending() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    push(&moto, "5.0.2-2").await;
    push(&moto, "5.1.0").await;

    // Same Moodle, a rebuild: nothing pending, a plain rolling deploy.
    use_image(&p, "5.0.2", "5.0.2-2");
    let mut m = p.up_mutating(&moto);
    m.sort();
    assert_eq!(
        m,
        [
            "RegisterTaskDefinition",
            "RegisterTaskDefinition",
            "RegisterTaskDefinition",
            "RunTask",
            "UpdateService",
            "UpdateService"
        ],
        "the check's one-off revision and task, then both services' new revisions"
    );
    assert_eq!(service_image(&moto).await.0, format!("{REPO}:5.0.2-2"));
    assert_eq!(one_off_commands(&moto).await, ["php admin/cli/upgrade.php --is-pending (exit 0)"]);

    // A new Moodle: the database needs an upgrade; `up` changes nothing.
    use_image(&p, "5.0.2-2", "5.1.0");
    moto.start_recording();
    let o = p.run(&["up", "--yes"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("needs a database upgrade") && err.contains("moodlectl upgrade"), "{err}");
    let m = mutating(&moto.stop_recording());
    assert!(m.iter().all(|o| o == "RunTask" || o == "RegisterTaskDefinition"), "only the check ran: {m:?}");
    assert!(!m.contains(&"UpdateService".to_string()));
    assert_eq!(service_image(&moto).await.0, format!("{REPO}:5.0.2-2"), "the service is untouched");

    // As it says: `upgrade` to the config's image; one JSON document.
    let (out, _) = p.expect(&["upgrade", "--yes", "-o", "json"], 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    validate_schema("upgrade.schema.json", &doc);
    assert_eq!((doc["image"].as_str(), doc["config_line"].is_null()), (Some(format!("{REPO}:5.1.0").as_str()), true));
    assert_eq!(doc["from"], format!("{REPO}:5.0.2-2"));
    assert_eq!(service_image(&moto).await.0, format!("{REPO}:5.1.0"));
}

/// The upgrade's calls in order; the image recorded; an older image refused.
#[tokio::test(flavor = "multi_thread")]
async fn upgrade_snapshots_backs_up_upgrades_once_then_rolls_out() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    push(&moto, "5.1.0").await;
    let (_, before) = service_image(&moto).await;
    moto.start_recording();
    let (out, err) = p.expect(&["upgrade", "--yes", "--image", &format!("{REPO}:5.1.0")], 0);
    let ops = mutating(&moto.stop_recording());
    // The order: snapshot → file-system backup → maintenance on → upgrade
    // task (new image) → new revision → rollout → maintenance off.
    let order: Vec<&str> = ops
        .iter()
        .map(String::as_str)
        .filter(|o| {
            ["CreateDBSnapshot", "StartBackupJob", "RunTask", "RegisterTaskDefinition", "UpdateService"].contains(o)
        })
        .collect();
    assert_eq!(
        order,
        [
            "CreateDBSnapshot",
            "StartBackupJob",
            "RunTask",                // maintenance on (the running revision)
            "RegisterTaskDefinition", // the one-off revision of the new image
            "RunTask",                // upgrade.php --non-interactive
            "RegisterTaskDefinition", // web
            "RegisterTaskDefinition", // cron
            "UpdateService",
            "UpdateService",
            "RunTask", // maintenance off (the new revision)
        ],
        "{err}"
    );
    assert_eq!(
        one_off_commands(&moto).await,
        [
            "php admin/cli/maintenance.php --enable (exit 0)",
            "php admin/cli/upgrade.php --non-interactive (exit 0)",
            "php admin/cli/maintenance.php --disable (exit 0)",
        ]
    );
    let (image, after) = service_image(&moto).await;
    assert_eq!(image, format!("{REPO}:5.1.0"));
    assert_ne!(before, after);
    let snaps = preupgrade_snapshots(&moto).await;
    assert_eq!(snaps.len(), 1);
    assert_eq!(recovery_points(&moto).await.len(), 1);
    assert!(out.contains(&format!("uri = \"{REPO}:5.1.0\"")), "the line to put in the config: {out}");
    let st = read_state(&p.state_path());
    assert_eq!(st["resources"]["ops/site-image"]["id"], format!("{REPO}:5.1.0"));
    assert!(st["resources"].get("ops/upgrade").is_none(), "finished");

    // The config still names 5.0.2: older than the database now.
    let (_, err) = p.expect(&["up", "--yes"], 2);
    assert!(err.contains("older than the database"), "{err}");
    let (_, err) = p.expect(&["upgrade", "--yes"], 2);
    assert!(err.contains("older than the database"), "{err}");
    use_image(&p, "5.0.2", "5.1.0");
    assert!(p.up_mutating(&moto).is_empty(), "a no-op up after the upgrade");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_upgrade_keeps_maintenance_on_and_says_how_to_go_back() {
    let moto = Moto::start_with_env(&[("MOODLECTL_EMU_FAIL_COMMANDS", "upgrade.php --non-interactive")]);
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    push(&moto, "5.1.0").await;
    let (image, rev) = service_image(&moto).await;
    let o = p.run(&["upgrade", "--yes", "--image", &format!("{REPO}:5.1.0")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let snap = preupgrade_snapshots(&moto).await.pop().expect("the safety snapshot");
    assert!(err.contains("maintenance mode is ON"), "{err}");
    assert!(err.contains(&format!("moodlectl restore --snapshot {snap} --image {image}")), "{err}");
    assert_eq!(service_image(&moto).await, (image, rev), "the service stays on its old revision");
    let cmds = one_off_commands(&moto).await;
    assert_eq!(cmds.last().unwrap(), "php admin/cli/upgrade.php --non-interactive (exit 1)");
    assert!(!cmds.iter().any(|c| c.contains("--disable")), "maintenance stays on: {cmds:?}");
    // `up` refuses while the upgrade is unfinished.
    let (_, err) = p.expect(&["up", "--yes"], 1);
    assert!(err.contains("an upgrade to") && err.contains("unfinished"), "{err}");
}

/// A SIGKILL at any step, then a rerun: for kill point n = 1, 2, … an
/// upgrade (to 5.n.0, on one stack) is killed right after its n-th
/// mutating call and rerun; each finishes with one snapshot, one
/// file-system backup and one upgrade task of its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_upgrade_resumes_without_a_second_snapshot_or_upgrade() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let mut killed_at = vec![];
    for n in 1..=20 {
        let target = format!("{REPO}:5.{n}.0");
        push(&moto, &format!("5.{n}.0")).await;
        let after = n.to_string();
        let o = p.run_env(&["upgrade", "--yes", "--image", &target], &[("MOODLECTL_CRASH_AFTER_MUTATIONS", &after)]);
        match o.status.code() {
            None => killed_at.push(n), // SIGKILL
            Some(0) => {
                // Fewer than n mutating calls: every kill point was covered.
                assert_eq!(service_image(&moto).await.0, target);
                break;
            }
            c => panic!("upgrade exited {c:?}: {}", String::from_utf8_lossy(&o.stderr)),
        }
        let (_, err) = p.expect(&["upgrade", "--yes", "--image", &target], 0);
        assert!(err.contains("resuming the upgrade"), "{err}");
        assert_eq!(service_image(&moto).await.0, target);
        assert_eq!(preupgrade_snapshots(&moto).await.len(), n, "one snapshot per upgrade (kill point {n})");
        assert_eq!(recovery_points(&moto).await.len(), n, "one file-system backup per upgrade (kill point {n})");
        let cmds = one_off_commands(&moto).await;
        let upgrades = cmds.iter().filter(|c| c.contains("--non-interactive")).count();
        assert_eq!(upgrades, n, "one upgrade task per upgrade (kill point {n}): {cmds:?}");
    }
    assert!(killed_at.len() >= 8, "killed at every step: {killed_at:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_then_restore_into_new_resources_and_delete_the_old_ones() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let (out, _) = p.expect(&["backup", "--name", "nightly", "-o", "json"], 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    validate_schema("backup.schema.json", &doc);
    let rp = doc["recovery_point"]["arn"].as_str().unwrap().to_string();
    assert_eq!(doc["snapshot"]["id"], "moodle-nightly");
    let (out, _) = p.expect(&["backups", "-o", "json"], 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    validate_schema("backups.schema.json", &list);
    assert_eq!(list["db_snapshots"][0]["id"], "moodle-nightly");
    assert_eq!(list["recovery_points"][0]["arn"], rp.as_str());
    let (table, _) = p.expect(&["backups"], 0);
    assert!(table.contains("moodle-nightly") && table.contains(&rp), "{table}");

    let conf = sdk(&moto.url, REGION).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let efs = aws_sdk_efs::Client::new(&conf);
    let old_fs = state_ids(&p.state_path())["efs/file-system"].clone();
    let (out, err) = p.expect(&["restore", "--yes", "--snapshot", "moodle-nightly", "--files", &rp, "-o", "json"], 0);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    validate_schema("restore.schema.json", &doc);
    let kept_db = doc["kept_db_instance"].as_str().unwrap().to_string();
    let new_fs = doc["file_system"].as_str().unwrap().to_string();
    assert_ne!(new_fs, old_fs);
    // Independent reads: the restored instance under the stack's name, the
    // replaced one kept; the service's revision mounts the new file system
    // and names the instance's endpoint.
    let db = rds.describe_db_instances().db_instance_identifier("moodle-db").send().await.unwrap();
    let db = db.db_instances()[0].clone();
    assert_eq!(db.db_instance_status(), Some("available"));
    assert!(rds.describe_db_instances().db_instance_identifier(&kept_db).send().await.is_ok(), "old one kept");
    let td = service_task_definition(&conf).await;
    let vol = td.volumes()[0].efs_volume_configuration().unwrap();
    assert_eq!(vol.file_system_id(), new_fs);
    let host = container_env(&td, "MOODLE_DATABASE_HOST").unwrap();
    assert_eq!(Some(host.as_str()), db.endpoint().and_then(|e| e.address()));
    let mts = efs.describe_mount_targets().file_system_id(&new_fs).send().await.unwrap();
    assert_eq!(mts.mount_targets().len(), 2, "the new file system has its own mount targets");
    assert!(efs.describe_file_systems().file_system_id(&old_fs).send().await.is_ok(), "old file system kept");
    // status shows what the restore kept.
    confirm_alert_email(&moto.url);
    let (out, _) = p.expect(&["status", "-o", "json"], 0);
    let st: Value = serde_json::from_str(&out).unwrap();
    let kept: Vec<&str> = st["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"].as_str().unwrap_or_default().contains("restore --delete-old"))
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(kept, [kept_db.as_str(), old_fs.as_str()]);

    p.expect(&["restore", "--yes", "--delete-old"], 0);
    assert!(rds.describe_db_instances().db_instance_identifier(&kept_db).send().await.is_err(), "old one gone");
    let fs = efs.describe_file_systems().file_system_id(&old_fs).send().await;
    assert!(fs.map(|o| o.file_systems().is_empty()).unwrap_or(true), "old file system gone");

    // down keeps the vault with its recovery point unless asked.
    let (out, _) = p.expect(&["down", "--yes", "--skip-final-snapshot"], 0);
    assert!(out.contains("kept: backup vault `moodle-backups` with 1 file-system recovery point(s)"), "{out}");
    assert_eq!(recovery_points(&moto).await, [rp]);
    p.expect(&["up", "--yes"], 0);
    p.expect(&["down", "--yes", "--skip-final-snapshot", "--delete-backups"], 0);
    let b = aws_sdk_backup::Client::new(&conf);
    assert!(b.describe_backup_vault().backup_vault_name("moodle-backups").send().await.is_err(), "vault gone");
    assert_eq!(census(&moto.url).await, empty_stack());
}

fn validate_schema(name: &str, doc: &Value) {
    validate(&schema(name), doc, name).unwrap_or_else(|e| panic!("{e}\n{doc}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_of_an_aurora_stack_swaps_the_cluster_and_its_writer() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.edit_config("engine = \"mysql\"", "engine = \"aurora-mysql\"");
    p.expect(&["up", "--yes"], 0);
    let (out, _) = p.expect(&["backup", "--name", "term-start", "-o", "json"], 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["snapshot"]["id"], "moodle-term-start");

    let (out, err) = p.expect(&["restore", "--yes", "--snapshot", "moodle-term-start", "-o", "json"], 0);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    validate_schema("restore.schema.json", &doc);
    let kept = doc["kept_db_instance"].as_str().unwrap().to_string();
    assert!(kept.starts_with("moodle-aurora-replaced-"), "{kept}");
    // Independent reads: the restored cluster under the stack's name with a
    // new writer, the replaced cluster and its renamed writer kept.
    let conf = sdk(&moto.url, REGION).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let c = rds.describe_db_clusters().db_cluster_identifier("moodle-aurora").send().await.unwrap();
    let c = c.db_clusters()[0].clone();
    assert_eq!(c.status(), Some("available"));
    assert_eq!(c.db_cluster_parameter_group(), Some("moodle-db-params"));
    let members: Vec<&str> = c.db_cluster_members().iter().filter_map(|m| m.db_instance_identifier()).collect();
    assert_eq!(members, ["moodle-db"]);
    let old = rds.describe_db_clusters().db_cluster_identifier(&kept).send().await.unwrap();
    assert_eq!(old.db_clusters().len(), 1, "the replaced cluster is kept");
    let stamp = kept.rsplit("-replaced-").next().unwrap();
    let old_writer = format!("moodle-db-replaced-{stamp}");
    assert!(rds.describe_db_instances().db_instance_identifier(&old_writer).send().await.is_ok());
    // The service's revision names the restored cluster's endpoint.
    let td = service_task_definition(&conf).await;
    let host = container_env(&td, "MOODLE_DATABASE_HOST").unwrap();
    assert_eq!(Some(host.as_str()), c.endpoint());
    // status shows the kept cluster; --delete-old removes it and its writer.
    confirm_alert_email(&moto.url);
    let (out, _) = p.expect(&["status", "-o", "json"], 0);
    let st: Value = serde_json::from_str(&out).unwrap();
    let rows = st["resources"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["name"] == kept.as_str() && r["kind"] == "rds:db-cluster"), "{st}");
    p.expect(&["restore", "--yes", "--delete-old"], 0);
    let gone = rds.describe_db_clusters().db_cluster_identifier(&kept).send().await;
    assert!(gone.map(|o| o.db_clusters().is_empty()).unwrap_or(true), "old cluster gone");
    let gone = rds.describe_db_instances().db_instance_identifier(&old_writer).send().await;
    assert!(gone.map(|o| o.db_instances().is_empty()).unwrap_or(true), "old writer gone");
    p.expect(&["down", "--yes", "--skip-final-snapshot", "--force-delete-secrets", "--delete-backups"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
}
