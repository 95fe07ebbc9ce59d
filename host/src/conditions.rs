//! Models from the conditions database: (global tag, record, label, run/lumi) → payload.
//!
//! A job reads what it needs once: the global tag's mapping, then for each tag its IOV group
//! boundaries and the IOVs of the groups its events fall in (a short tag is one group), under
//! the global tag's snapshot. Every later lookup is answered from this in-memory resolution
//! table, shared by all instances of the host and never evicted (it is small: a since and a
//! hash per IOV). So a job keeps running for every run it has met when the database goes away.
//! Only an event outside what was read asks the database, on a helper thread, and its call
//! waits at most `conddb_deadline_ms` for the answer.

use crate::config::{HostConfig, TagOverride};
use crate::error::{Error, Result};
use crate::models::{ModelSource, Resolution};
use hepinfer_conddb::{
    ConditionsDb, ConnectOptions, GlobalTagDoc, HttpOptions, IovGroups, IovKey, TagIovs, TimeType,
    DEFAULT_IOV_GROUP,
};
use hepinfer_plugin_api::EventKey;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A payload's object type and bytes.
type PayloadBytes = (String, Vec<u8>);

/// A tag as the job has read it: its group boundaries and the groups read so far.
struct TagTable {
    groups: IovGroups,
    /// Groups read, by their first since.
    lists: HashMap<u64, Arc<TagIovs>>,
}

/// What every reader thread shares: the database and the resolution table.
struct Shared {
    db: ConditionsDb,
    global_tag: String,
    gt: RwLock<Option<Arc<GlobalTagDoc>>>,
    tags: RwLock<HashMap<String, TagTable>>,
}

/// One database request in flight; callers wait for it at most until their deadline.
struct Flight<T> {
    result: Mutex<Option<std::result::Result<T, String>>>,
    done: Condvar,
}

/// Database requests in flight by key: a request is made once however many threads need it.
struct Flights<T> {
    inflight: Mutex<HashMap<String, Arc<Flight<T>>>>,
}

impl<T: Clone + Send + 'static> Flights<T> {
    fn new() -> Self {
        Flights {
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `job` on a helper thread (unless one runs for `key` already) and waits for its
    /// answer until `deadline`. A request that outlives the deadline finishes in the background
    /// and fills the table for later events.
    fn run(
        self: &Arc<Self>,
        key: &str,
        deadline: Instant,
        job: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
    ) -> Option<std::result::Result<T, String>> {
        let flight = {
            let mut m = self.inflight.lock();
            match m.get(key) {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(Flight {
                        result: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    m.insert(key.to_string(), f.clone());
                    let (flights, flight, k) = (self.clone(), f.clone(), key.to_string());
                    let work = move || {
                        let r = job();
                        *flight.result.lock() = Some(r);
                        flights.inflight.lock().remove(&k);
                        flight.done.notify_all();
                    };
                    if let Err(e) = std::thread::Builder::new()
                        .name("hepinfer-conddb".into())
                        .spawn(work)
                    {
                        m.remove(key);
                        return Some(Err(format!("cannot start a conditions reader thread: {e}")));
                    }
                    f
                }
            }
        };
        let mut r = flight.result.lock();
        while r.is_none() {
            if flight.done.wait_until(&mut r, deadline).timed_out() {
                break;
            }
        }
        r.clone()
    }
}

/// A [`ModelSource`] over a conditions database (or HTTP service) and one global tag, with
/// job-level overrides, answering from the job's resolution table.
pub struct CondSource {
    shared: Arc<Shared>,
    overrides: Vec<TagOverride>,
    deadline: Duration,
    url: String,
    reads: Arc<Flights<()>>,
    payloads: Arc<Flights<Arc<PayloadBytes>>>,
}

fn cond(e: hepinfer_conddb::CondError) -> String {
    // The error's Display redacts any password in the URL.
    e.to_string()
}

impl CondSource {
    /// Opens the database named in `config` (which must have `conddb` and `global_tag`).
    pub fn open(config: &HostConfig) -> Result<Self> {
        let (Some(urls), Some(gt)) = (&config.conddb, &config.global_tag) else {
            return Err(Error::InvalidConfig(
                "conddb and global_tag are required".into(),
            ));
        };
        let opts = ConnectOptions {
            retries: config.db_retries,
            backoff: Duration::from_millis(config.db_backoff_ms),
            payload_cache: config.payload_cache.clone(),
        };
        let deadline = Duration::from_millis(config.conddb_deadline_ms);
        let db = if urls.0.iter().all(|u| u.starts_with("http://")) {
            let http = HttpOptions {
                proxies: config.proxies.clone(),
                timeout: Some(deadline),
            };
            ConditionsDb::open_http(&urls.0, &http, &opts)
        } else {
            ConditionsDb::open(&urls.0[0], &opts)
        }
        .map_err(|e| Error::Conditions(cond(e)))?;
        // A global tag or override tag that does not exist is a job configuration error: say so
        // at host creation, not on every event. The mapping read here is the table's first entry.
        let doc = db
            .global_tag_doc(gt)
            .map_err(|e| Error::Conditions(format!("global_tag '{gt}': {}", cond(e))))?;
        for o in &config.overrides {
            db.tag(&o.tag).map_err(|e| {
                Error::Conditions(format!(
                    "override of record '{}' label '{}': {}",
                    o.record,
                    o.label,
                    cond(e)
                ))
            })?;
        }
        Ok(CondSource {
            shared: Arc::new(Shared {
                db,
                global_tag: gt.clone(),
                gt: RwLock::new(Some(Arc::new(doc))),
                tags: RwLock::new(HashMap::new()),
            }),
            overrides: config.overrides.clone(),
            deadline,
            url: urls.to_string(),
            reads: Arc::new(Flights::new()),
            payloads: Arc::new(Flights::new()),
        })
    }

    /// Waits for `job` (a read filling the table) at most until `deadline`.
    fn read(
        &self,
        key: String,
        deadline: Instant,
        what: impl FnOnce() -> String,
        job: impl FnOnce(&Shared) -> std::result::Result<(), String> + Send + 'static,
    ) -> Result<()> {
        let shared = self.shared.clone();
        match self.reads.run(&key, deadline, move || job(&shared)) {
            Some(r) => r.map_err(Error::Conditions),
            None => Err(self.timed_out(what())),
        }
    }

    fn timed_out(&self, what: String) -> Error {
        Error::Conditions(format!(
            "conditions database {} did not answer within {} ms (conddb_deadline_ms) for {what}; \
             events in IOVs already read are not affected",
            self.url,
            self.deadline.as_millis()
        ))
    }

    /// The global tag and its mapping, read once.
    fn global_tag(&self, deadline: Instant, event: EventKey) -> Result<Arc<GlobalTagDoc>> {
        if let Some(gt) = self.shared.gt.read().as_ref() {
            return Ok(gt.clone());
        }
        let gt = self.shared.global_tag.clone();
        self.read(
            format!("gt {gt}"),
            deadline,
            || format!("global tag '{gt}' (run {} lumi {})", event.run, event.lumi),
            move |s| {
                let doc = s.db.global_tag_doc(&s.global_tag).map_err(|e| match e {
                    hepinfer_conddb::CondError::NotFound { .. } => format!(
                        "not found: global tag `{}` (asked at run {} lumi {})",
                        s.global_tag, event.run, event.lumi
                    ),
                    e => cond(e),
                })?;
                *s.gt.write() = Some(Arc::new(doc));
                Ok(())
            },
        )?;
        self.shared
            .gt
            .read()
            .clone()
            .ok_or_else(|| Error::Internal("global tag read but not stored".into()))
    }

    /// The IOV list holding `key` in `tag`, from the table or read (group boundaries first).
    fn iovs_for(
        &self,
        tag: &str,
        snapshot: i64,
        key: IovKey,
        deadline: Instant,
        describe: &dyn Fn() -> String,
    ) -> Result<Option<Arc<TagIovs>>> {
        loop {
            {
                let tags = self.shared.tags.read();
                if let Some(t) = tags.get(tag) {
                    let Some((from, to)) = t.groups.group_of(key.value(t.groups.time_type)) else {
                        return Ok(None); // before the first IOV
                    };
                    if let Some(l) = t.lists.get(&from) {
                        return Ok(Some(l.clone()));
                    }
                    let tag = tag.to_string();
                    drop(tags);
                    self.read(format!("iovs {tag} {from}"), deadline, describe, move |s| {
                        let l = s.db.tag_iovs(&tag, snapshot, from, to).map_err(cond)?;
                        if let Some(t) = s.tags.write().get_mut(&tag) {
                            t.lists.insert(from, Arc::new(l));
                        }
                        Ok(())
                    })?;
                    continue;
                }
            }
            let tag = tag.to_string();
            self.read(format!("groups {tag}"), deadline, describe, move |s| {
                let groups =
                    s.db.iov_groups(&tag, snapshot, DEFAULT_IOV_GROUP)
                        .map_err(cond)?;
                s.tags.write().entry(tag).or_insert(TagTable {
                    groups,
                    lists: HashMap::new(),
                });
                Ok(())
            })?;
        }
    }

    /// How many IOVs the resolution table holds (all tags, all groups read).
    pub fn table_len(&self) -> usize {
        self.shared
            .tags
            .read()
            .values()
            .flat_map(|t| t.lists.values())
            .map(|l| l.iovs.len())
            .sum()
    }
}

impl ModelSource for CondSource {
    fn resolve(&self, record: &str, label: &str, event: EventKey) -> Result<Resolution> {
        let deadline = Instant::now() + self.deadline;
        let key = IovKey::new(event.run, event.lumi);
        let gt = self.global_tag(deadline, event)?;
        let global_tag = &gt.global_tag.name;
        let over = self
            .overrides
            .iter()
            .find(|o| o.record == record && o.label == label);
        let tag = match over {
            Some(o) => o.tag.as_str(),
            None => gt
                .map
                .iter()
                .find(|m| m.record == record && m.label == label)
                .map(|m| m.tag.as_str())
                .ok_or_else(|| {
                    Error::Conditions(format!(
                        "not found: no mapping for record `{record}` label `{label}` in global tag `{global_tag}` (run {} lumi {})",
                        key.run, key.lumi
                    ))
                })?,
        };
        let describe = || {
            format!(
                "record '{record}' label '{label}' (tag '{tag}') at run {} lumi {}",
                key.run, key.lumi
            )
        };
        let no_iov = |time_type: TimeType| {
            Error::Conditions(format!(
                "not found: no IOV covers run {} lumi {} (key {}) for record `{record}` label `{label}` in global tag `{global_tag}` (tag `{tag}`)",
                key.run,
                key.lumi,
                time_type.format_key(key.value(time_type)),
            ))
        };
        let snapshot = gt.global_tag.snapshot_time;
        let Some(list) = self.iovs_for(tag, snapshot, key, deadline, &describe)? else {
            let tt = self
                .shared
                .tags
                .read()
                .get(tag)
                .map_or(TimeType::Run, |t| t.groups.time_type);
            return Err(no_iov(tt));
        };
        let value = key.value(list.time_type);
        let i = list.position(value).ok_or_else(|| no_iov(list.time_type))?;
        let (since, till, hash) = list.range(i);
        Ok(Resolution {
            hash: hash.to_string(),
            object_type: list.object_type.clone(),
            since,
            till,
            lumi_based: list.time_type == TimeType::Lumi,
            origin: format!(
                "tag '{tag}'{} of global tag '{global_tag}'",
                if over.is_some() {
                    " (job override)"
                } else {
                    ""
                },
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
        // The global tag's mapping was read when the source was opened.
        let doc = self.global_tag(
            Instant::now() + self.deadline,
            EventKey {
                run: 0,
                lumi: 0,
                event: 0,
            },
        )?;
        let map = &doc.map;
        if map.iter().any(|m| m.record == record && m.label == label) {
            return Ok(());
        }
        let mapped: Vec<String> = map
            .iter()
            .map(|m| format!("{}/{}", m.record, m.label))
            .collect();
        Err(Error::Conditions(format!(
            "global tag '{}' maps no tag for record '{record}' label '{label}' (it maps: {}); map one with `hepinfer conddb gt map` or add an 'overrides' entry",
            self.shared.global_tag,
            if mapped.is_empty() { "nothing".to_string() } else { mapped.join(", ") }
        )))
    }

    fn fetch(&self, hash: &str) -> Result<(String, Vec<u8>)> {
        let deadline = Instant::now() + self.deadline;
        let shared = self.shared.clone();
        let h = hash.to_string();
        // The payload cache is read first (inside `payload`), so an evicted model comes back
        // from local disk without the database.
        let r = self.payloads.run(hash, deadline, move || {
            let p = shared.db.payload(&h).map_err(cond)?;
            Ok(Arc::new((p.object_type, p.data)))
        });
        match r {
            Some(Ok(p)) => Ok((p.0.clone(), p.1.clone())),
            Some(Err(e)) => Err(Error::Conditions(e)),
            None => Err(self.timed_out(format!("payload {hash}"))),
        }
    }
}
