//! Secrets Manager helpers shared by every tier that holds a secret (the DB
//! credentials, the Moodle admin password, the CloudFront origin-verify value).
//!
//! Secret *values* never leave this module except to AWS: they are generated
//! by `GetRandomPassword`, stored with `CreateSecret`, and read back only where
//! an API needs them (RDS's master password). State records only the ARN.
//! A secret deleted with a recovery window is *pending deletion* and its name
//! is taken until the window ends: `ensure` restores it instead of failing.

use crate::resources::prelude::*;

/// Characters that break Moodle's DB connection string or config.php quoting.
pub const EXCLUDED: &str = "\"' %+~`#$&*()|[]{}:;<>?!/^-,@_=\\";

pub async fn describe(
    cx: &StepCx,
    name: &str,
) -> Result<Option<aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput>, StepError> {
    cx.aws.secrets.describe_secret().secret_id(name).send().await.or_absent("DescribeSecret", name)
}

/// Generate a password of `len` letters and digits.
pub async fn random_password(cx: &StepCx, len: i64) -> Result<String, StepError> {
    let call = cx.aws.secrets.get_random_password().password_length(len).exclude_punctuation(true);
    let call = call.exclude_characters(EXCLUDED).include_space(false);
    let o = call.send().await.ctx("GetRandomPassword", "password")?;
    Ok(o.random_password().unwrap_or_default().to_string())
}

/// Ensure secret `name` exists; create it from a fresh password via `value`
/// (which turns the password into the stored string). Returns the ARN.
pub async fn ensure(
    cx: &StepCx,
    key: &str,
    name: &str,
    description: &str,
    value: impl FnOnce(&str) -> String,
) -> Result<(Outcome, Option<String>), StepError> {
    if let Some(d) = describe(cx, name).await? {
        let arn = d.arn().unwrap_or_default().to_string();
        let mut out = Outcome::Unchanged;
        if d.deleted_date().is_some() {
            out = Outcome::Updated(vec![format!("{name}: restore (was pending deletion)")]);
            if cx.dry_run {
                // Its value cannot be read until restored: a plan's later
                // steps treat it as not there yet (e.g. after `down`).
                return Ok((out, None));
            }
            cx.aws.secrets.restore_secret().secret_id(&arn).send().await.ctx("RestoreSecret", name)?;
        }
        cx.record(key, Resource::new("secretsmanager:secret", &arn).with("name", name))?;
        return Ok((out, Some(arn)));
    }
    if cx.dry_run {
        return Ok((Outcome::Created, None));
    }
    let pw = random_password(cx, 32).await?;
    let call = cx.aws.secrets.create_secret().name(name).description(description).secret_string(value(&pw));
    let call = call.client_request_token(cx.token(key)?).set_tags(Some(Tags::named(cx, key, key).render()));
    let o = call.send().await.ctx("CreateSecret", name)?;
    let arn = o.arn().unwrap_or_default().to_string();
    cx.record_new(key, Resource::new("secretsmanager:secret", &arn).with("name", name))?;
    Ok((Outcome::Created, Some(arn)))
}

/// The secret's string (only for APIs that need the value, e.g. RDS).
pub async fn value(cx: &StepCx, id: &str) -> Result<String, StepError> {
    let o = cx.aws.secrets.get_secret_value().secret_id(id).send().await.ctx("GetSecretValue", id)?;
    Ok(o.secret_string().unwrap_or_default().to_string())
}

/// Replace the secret's string (e.g. to add the DB host once it exists).
pub async fn put(cx: &StepCx, id: &str, s: String) -> Result<(), StepError> {
    cx.aws.secrets.put_secret_value().secret_id(id).secret_string(s).send().await.ctx("PutSecretValue", id)?;
    Ok(())
}

/// Delete (with a 7-day recovery window unless `--force-delete-secrets`).
pub async fn destroy(cx: &StepCx, key: &str, name: &str) -> Result<Outcome, StepError> {
    let out = match describe(cx, name).await? {
        None => Outcome::AlreadyAbsent,
        Some(d) if d.deleted_date().is_some() && !cx.opts.force_delete_secrets => Outcome::AlreadyAbsent,
        Some(d) => {
            let req = cx.aws.secrets.delete_secret().secret_id(d.arn().unwrap_or(name));
            let req = if cx.opts.force_delete_secrets {
                req.force_delete_without_recovery(true)
            } else {
                req.recovery_window_in_days(7)
            };
            deleted("DeleteSecret", name, req.send().await)?
        }
    };
    cx.forget(key)?;
    Ok(out)
}

pub async fn inspect(cx: &StepCx, key: &str, name: &str) -> Result<Inspection, StepError> {
    use crate::engine::Inspection;
    Ok(match describe(cx, name).await? {
        Some(d) if d.deleted_date().is_none() => {
            Inspection::new("secretsmanager:secret", name, d.arn().map(str::to_string), "active", true)
        }
        Some(d) => {
            let mut i =
                Inspection::new("secretsmanager:secret", name, d.arn().map(str::to_string), "pending deletion", false);
            i.drift = Some("scheduled for deletion".into());
            i
        }
        None => Inspection::missing("secretsmanager:secret", name, cx.state.id(key)),
    })
}

/// A secret of the stack holding a generated password, as the step that
/// owns it: created once, restored if pending deletion, deleted with the
/// stack (its ARN is all the state keeps).
pub struct SecretStep {
    pub key: &'static str,
    pub name: fn(&StepCx) -> String,
    pub description: &'static str,
    /// The stored string, from the generated password (plain, or JSON).
    pub value: fn(&StepCx, &str) -> String,
}

#[async_trait]
impl Step<StepCx> for SecretStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let value = |pw: &str| (self.value)(cx, pw);
        Ok(ensure(cx, self.key, &(self.name)(cx), self.description, value).await?.0)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy(cx, self.key, &(self.name)(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![inspect(cx, self.key, &(self.name)(cx)).await?])
    }
}

/// The password itself is the secret's value.
pub fn plain(_: &StepCx, pw: &str) -> String {
    pw.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn excluded_set_covers_moodle_breakers() {
        for c in "\"' %+~`#$&*()|[]{}:;<>?!/^-,@_=\\".chars() {
            assert!(super::EXCLUDED.contains(c), "{c}");
        }
    }
}
