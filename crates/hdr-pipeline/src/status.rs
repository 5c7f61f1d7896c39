//! `status`: every stage as up to date or stale, with the reasons.

use crate::pipeline_lock::LockFile;
use crate::project::Project;
use crate::runs::cache_line;
use crate::stage::Stage;
use crate::Error;

/// Prints every stage as up to date or stale, with reasons, and the run
/// cache's size; prints nothing when `quiet`. Returns the stale stages.
pub fn status(project: &Project, quiet: bool) -> Result<Vec<Stage>, Error> {
    let lock = LockFile::read(&project.lock_path())?;
    let mut stale: Vec<Stage> = Vec::new();
    for stage in Stage::ALL {
        let reasons = project.stale_reasons(stage, &lock, &stale)?;
        if reasons.is_empty() {
            if !quiet {
                println!("{:>7}: up to date", stage.name());
            }
            continue;
        }
        if !quiet {
            println!("{:>7}: stale", stage.name());
            for reason in reasons {
                println!("         - {reason}");
            }
        }
        stale.push(stage);
    }
    if !quiet {
        println!("{}", cache_line(project));
    }
    Ok(stale)
}
