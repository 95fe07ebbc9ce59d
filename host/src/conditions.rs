//! Models from the conditions database: (global tag, record, label, run/lumi) → payload.

use crate::config::{HostConfig, TagOverride};
use crate::error::{Error, Result};
use crate::models::{ModelSource, Resolution};
use hepinfer_conddb::{ConditionsDb, ConnectOptions, IovKey, TimeType};
use hepinfer_plugin_api::EventKey;
use std::time::Duration;

/// A [`ModelSource`] over a conditions database and one global tag, with job-level overrides.
pub struct CondSource {
    db: ConditionsDb,
    global_tag: String,
    overrides: Vec<TagOverride>,
}

impl CondSource {
    /// Opens the database named in `config` (which must have `conddb` and `global_tag`).
    pub fn open(config: &HostConfig) -> Result<Self> {
        let (Some(url), Some(gt)) = (&config.conddb, &config.global_tag) else {
            return Err(Error::InvalidConfig(
                "conddb and global_tag are required".into(),
            ));
        };
        let opts = ConnectOptions {
            retries: config.db_retries,
            backoff: Duration::from_millis(config.db_backoff_ms),
            payload_cache: config.payload_cache.clone(),
        };
        // The error's Display redacts any password in the URL.
        let db = ConditionsDb::open(url, &opts).map_err(|e| Error::Conditions(e.to_string()))?;
        Ok(CondSource {
            db,
            global_tag: gt.clone(),
            overrides: config.overrides.clone(),
        })
    }
}

impl ModelSource for CondSource {
    fn resolve(&self, record: &str, label: &str, event: EventKey) -> Result<Resolution> {
        let key = IovKey::new(event.run, event.lumi);
        let over = self
            .overrides
            .iter()
            .find(|o| o.record == record && o.label == label);
        let r = match over {
            Some(o) => self
                .db
                .resolve_in_tag(&self.global_tag, record, label, &o.tag, key),
            None => self.db.resolve(&self.global_tag, record, label, key),
        }
        .map_err(|e| Error::Conditions(e.to_string()))?;
        Ok(Resolution {
            hash: r.payload_hash,
            object_type: r.object_type,
            since: r.since,
            till: r.till,
            lumi_based: r.time_type == TimeType::Lumi,
            origin: format!(
                "tag '{}'{} of global tag '{}'",
                r.tag,
                if over.is_some() {
                    " (job override)"
                } else {
                    ""
                },
                self.global_tag
            ),
        })
    }

    fn fetch(&self, hash: &str) -> Result<(String, Vec<u8>)> {
        let p = self
            .db
            .payload(hash)
            .map_err(|e| Error::Conditions(e.to_string()))?;
        Ok((p.object_type, p.data))
    }
}
