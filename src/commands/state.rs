//! `moodlectl state pull|push` and `moodlectl force-unlock`: moving the state
//! between a local file and the configured backend (e.g. S3 for CI), and
//! clearing a lock left by a run that died.

use super::{inputs, lock_state, open_state, state_s3, CmdError, CmdResult};
use crate::cli::{Cli, StateAction};
use crate::error::exit;
use crate::state::{StateData, StateLock};

pub async fn run(cli: &Cli, action: &StateAction) -> CmdResult {
    let inp = inputs(cli)?;
    match action {
        StateAction::Pull => {
            let store = open_state(&inp, false).await?;
            if !store.existed() {
                return Err(CmdError::runtime(anyhow::anyhow!("no state at {}", store.path().display())));
            }
            println!("{}", serde_json::to_string_pretty(&store.snapshot()).expect("state serialises"));
            Ok(exit::OK)
        }
        StateAction::Push { file } => {
            // Check the file exactly as a state is checked when read.
            let text = std::fs::read_to_string(file)
                .map_err(|e| CmdError::usage(anyhow::anyhow!("{}: {e}", file.display())))?;
            let data: StateData = crate::state::parse(&text, file, &inp.cfg.stack.name, &inp.cfg.stack.region)?;
            let _lock = lock_state(&inp, "state push").await?;
            let store = open_state(&inp, true).await?;
            store.replace(data)?;
            eprintln!("pushed {} to {}", file.display(), store.path().display());
            Ok(exit::OK)
        }
    }
}

pub async fn force_unlock(cli: &Cli, id: &str) -> CmdResult {
    let inp = inputs(cli)?;
    let s3 = state_s3(&inp).await;
    StateLock::force_unlock(&inp.state_loc, s3.as_ref(), id).await?;
    eprintln!("lock {id} removed");
    Ok(exit::OK)
}
