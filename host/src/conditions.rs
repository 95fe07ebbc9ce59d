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
        // A global tag or override tag that does not exist is a job configuration error: say so
        // at host creation, not on every event.
        db.global_tag(gt)
            .map_err(|e| Error::Conditions(format!("global_tag '{gt}': {e}")))?;
        for o in &config.overrides {
            db.tag(&o.tag).map_err(|e| {
                Error::Conditions(format!(
                    "override of record '{}' label '{}': {e}",
                    o.record, o.label
                ))
            })?;
        }
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

    fn check(&self, record: &str, label: &str) -> Result<()> {
        if self
            .overrides
            .iter()
            .any(|o| o.record == record && o.label == label)
        {
            return Ok(());
        }
        let map = self
            .db
            .global_tag_map(&self.global_tag)
            .map_err(|e| Error::Conditions(e.to_string()))?;
        if map.iter().any(|m| m.record == record && m.label == label) {
            return Ok(());
        }
        let mapped: Vec<String> = map
            .iter()
            .map(|m| format!("{}/{}", m.record, m.label))
            .collect();
        Err(Error::Conditions(format!(
            "global tag '{}' maps no tag for record '{record}' label '{label}' (it maps: {}); map one with `hepinfer conddb gt map` or add an 'overrides' entry",
            self.global_tag,
            if mapped.is_empty() { "nothing".to_string() } else { mapped.join(", ") }
        )))
    }

    fn fetch(&self, hash: &str) -> Result<(String, Vec<u8>)> {
        let p = self
            .db
            .payload(hash)
            .map_err(|e| Error::Conditions(e.to_string()))?;
        Ok((p.object_type, p.data))
    }
}
