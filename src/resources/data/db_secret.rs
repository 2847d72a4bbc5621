//! The database credentials secret: the master password is generated into it
//! before the instance exists (so it is never held anywhere else, and never in
//! state or logs), and its host/port are added once the endpoint exists.
//!
//! The password is ours, not RDS-managed: RDS rotates a managed master
//! password every 7 days, which would break the copy Moodle keeps in
//! config.php.

use super::*;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- credentials secret

/// JSON username/password/engine/dbname, as RDS's own secrets are shaped;
/// host and port are added by the next step.
pub(crate) const DB_CREDENTIALS: secrets::SecretStep = secrets::SecretStep {
    key: DB_SECRET,
    name: secret_name,
    description: "moodlectl: Moodle database master credentials",
    value: |cx, pw| {
        let engine = engine_name(cx.cfg.database.engine);
        serde_json::json!({"username": DB_USER, "password": pw, "engine": engine, "dbname": DB_NAME}).to_string()
    },
};

/// Writes the endpoint into the secret, like the reference's attached secret.
pub(crate) struct DbSecretEndpointStep;

#[async_trait]
impl Step<StepCx> for DbSecretEndpointStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (Some(arn), Some(host)) =
            (cx.state.id(DB_SECRET), cx.state.get(DB_INSTANCE).and_then(|r| r.attrs.get("host").cloned()))
        else {
            return if cx.dry_run {
                Ok(Outcome::Created)
            } else {
                Err(StepError::MissingDependency { step: ids::DATA_DB_INSTANCE, what: "endpoint".into() })
            };
        };
        let port = cx.state.get(DB_INSTANCE).and_then(|r| r.attrs.get("port").cloned()).unwrap_or("3306".into());
        let mut doc: serde_json::Value =
            serde_json::from_str(&secrets::value(cx, &arn).await?).unwrap_or_else(|_| serde_json::json!({}));
        let port_num: u64 = port.parse().unwrap_or(3306);
        if doc["host"] == host.as_str() && doc["port"] == port_num {
            return Ok(Outcome::Unchanged);
        }
        let was = doc["host"].as_str().unwrap_or("none").to_string();
        doc["host"] = host.clone().into();
        doc["port"] = port_num.into();
        if !cx.dry_run {
            secrets::put(cx, &arn, doc.to_string()).await?;
        }
        Ok(Outcome::Updated(vec![change("secret host", was, host)]))
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // the secret itself is deleted by data.db-secret
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![])
    }
}
