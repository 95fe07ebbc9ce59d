//! Copying between databases (any backend to any backend), whole-content dumps for comparison,
//! and the comparison of two global tags.

use crate::backend::{Backend, Value};
use crate::db::{get_gt, get_tag, visible_iovs};
use crate::{
    CondError, ConditionsDb, GlobalTagInfo, Hash, IovInfo, MapEntry, TagInfo, TagLogEntry,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What [`ConditionsDb::copy_to`] copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyScope {
    /// Every payload, tag, IOV, global tag, mapping and log entry.
    All,
    /// One global tag with its mapping, the tags it maps (all their IOVs), the payloads those
    /// IOVs point to, and the log entries of the global tag and of those tags.
    GlobalTag(String),
}

/// Rows inserted into the destination by a copy (rows already there are not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyStats {
    /// Payloads inserted.
    pub payloads: u64,
    /// Tags inserted.
    pub tags: u64,
    /// IOVs inserted.
    pub iovs: u64,
    /// Global tags inserted.
    pub global_tags: u64,
    /// Global-tag map entries inserted.
    pub mappings: u64,
    /// Log entries inserted.
    pub log_entries: u64,
}

/// Everything in a database except payload bytes (identified by their verified hash), in a
/// canonical order, so two databases can be compared with `==`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbContent {
    /// (hash, object type, size, insertion time) of every payload.
    pub payloads: Vec<(Hash, String, i64, i64)>,
    /// Every tag.
    pub tags: Vec<TagInfo>,
    /// Every IOV, with its tag.
    pub iovs: Vec<(String, IovInfo)>,
    /// Every global tag.
    pub global_tags: Vec<GlobalTagInfo>,
    /// Every mapping, with its global tag.
    pub mappings: Vec<(String, MapEntry)>,
    /// Every log entry, sorted by all fields.
    pub log: Vec<TagLogEntry>,
}

/// One (record, label) on which two global tags differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GtDiffEntry {
    /// Record.
    pub record: String,
    /// Label.
    pub label: String,
    /// Tag in the first global tag (`None`: not mapped there).
    pub tag_a: Option<String>,
    /// Tag in the second global tag.
    pub tag_b: Option<String>,
    /// What differs, in words.
    pub detail: String,
}

/// The differences between two global tags; empty when they resolve every key identically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GtDiff {
    /// One entry per differing (record, label).
    pub entries: Vec<GtDiffEntry>,
}

impl GtDiff {
    /// Whether the two global tags are equivalent.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Per (record, label): the mapped tag and its IOVs visible at the global tag's snapshot.
type GtSide = BTreeMap<(String, String), (String, Vec<(u64, Hash)>)>;

fn exists(b: &mut dyn Backend, sql: &str, params: &[Value]) -> Result<bool, CondError> {
    Ok(!b.query(sql, params)?.is_empty())
}

impl ConditionsDb {
    /// The whole content of the database in canonical form (see [`DbContent`]).
    pub fn content(&self) -> Result<DbContent, CondError> {
        let payloads = self.with_read(|b| {
            b.query(
                "SELECT hash, object_type, size, insertion_time FROM payload ORDER BY hash",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?, r.int(3)?)))
            .collect::<Result<Vec<_>, CondError>>()
        })?;
        let tags = self.list_tags()?;
        let mut iovs = Vec::new();
        for t in &tags {
            for i in self.list_iovs(&t.name)? {
                iovs.push((t.name.clone(), i));
            }
        }
        let global_tags = self.list_global_tags()?;
        let mut mappings = Vec::new();
        for g in &global_tags {
            for m in self.global_tag_map(&g.name)? {
                mappings.push((g.name.clone(), m));
            }
        }
        let mut log = self.tag_log(None)?;
        log.sort_by(|a, b| {
            (
                a.time, &a.tag, &a.action, &a.text, &a.user, &a.host, &a.command,
            )
                .cmp(&(
                    b.time, &b.tag, &b.action, &b.text, &b.user, &b.host, &b.command,
                ))
        });
        Ok(DbContent {
            payloads,
            tags,
            iovs,
            global_tags,
            mappings,
            log,
        })
    }

    /// Copies `scope` into `dst`, in one transaction on `dst`. Rows are replicated as they are
    /// (insertion times, lock flags and history included; policies are not re-applied, since
    /// this is replication, not new uploads). Rows already in `dst` are kept; a row that
    /// exists in `dst` with different content is a conflict and aborts the copy.
    pub fn copy_to(&self, dst: &ConditionsDb, scope: &CopyScope) -> Result<CopyStats, CondError> {
        if std::ptr::eq(self, dst) || self.url() == dst.url() {
            return Err(CondError::Invalid(
                "source and destination are the same database".into(),
            ));
        }
        // Gather what to copy from the source first.
        let (gts, tags): (Vec<GlobalTagInfo>, Vec<TagInfo>) = match scope {
            CopyScope::All => (self.list_global_tags()?, self.list_tags()?),
            CopyScope::GlobalTag(name) => {
                let gt = self.global_tag(name)?;
                let names: BTreeSet<String> = self
                    .global_tag_map(name)?
                    .into_iter()
                    .map(|m| m.tag)
                    .collect();
                let tags = names
                    .iter()
                    .map(|n| self.tag(n))
                    .collect::<Result<Vec<_>, _>>()?;
                (vec![gt], tags)
            }
        };
        let mut maps = Vec::new();
        for g in &gts {
            for m in self.global_tag_map(&g.name)? {
                maps.push((g.name.clone(), m));
            }
        }
        let mut iovs = Vec::new();
        for t in &tags {
            for i in self.list_iovs(&t.name)? {
                iovs.push((t.name.clone(), i));
            }
        }
        let hashes: BTreeSet<Hash> = match scope {
            CopyScope::All => self.with_read(|b| {
                b.query("SELECT hash FROM payload ORDER BY hash", &[])?
                    .iter()
                    .map(|r| r.text(0))
                    .collect()
            })?,
            CopyScope::GlobalTag(_) => iovs.iter().map(|(_, i)| i.payload_hash.clone()).collect(),
        };
        let log: Vec<TagLogEntry> = match scope {
            CopyScope::All => self.tag_log(None)?,
            CopyScope::GlobalTag(_) => {
                let mut names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
                names.extend(gts.iter().map(|g| g.name.as_str()));
                let mut out = Vec::new();
                for n in names {
                    out.extend(self.tag_log(Some(n))?);
                }
                out
            }
        };

        dst.with_tx(|d| {
            let mut st = CopyStats::default();
            for h in &hashes {
                // Read through the verifying path: a corrupted source payload aborts the copy.
                let p = self.with_read(|b| {
                    let rows = b.query("SELECT insertion_time FROM payload WHERE hash = ?", &[h.into()])?;
                    let time = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
                    Ok(time)
                })?;
                let payload = self.payload_uncached(h)?;
                let rows = d.query("SELECT object_type FROM payload WHERE hash = ?", &[h.into()])?;
                if let Some(r) = rows.first() {
                    if r.text(0)? != payload.object_type {
                        return Err(CondError::Policy(format!(
                            "payload {h} exists in the destination with another object type"
                        )));
                    }
                    continue;
                }
                d.execute(
                    "INSERT INTO payload (hash, object_type, data, size, insertion_time) VALUES (?, ?, ?, ?, ?)",
                    &[
                        h.into(),
                        (&payload.object_type).into(),
                        Value::Blob(payload.data.clone()),
                        (payload.data.len() as i64).into(),
                        p.into(),
                    ],
                )?;
                st.payloads += 1;
            }
            for t in &tags {
                match get_tag(d, &t.name, false) {
                    Ok(existing) => {
                        if existing.object_type != t.object_type || existing.time_type != t.time_type {
                            return Err(CondError::Policy(format!(
                                "tag `{}` exists in the destination with another object or time type",
                                t.name
                            )));
                        }
                    }
                    Err(CondError::NotFound { .. }) => {
                        d.execute(
                            "INSERT INTO tag (name, object_type, time_type, synchronization, description, locked, insertion_time) \
                             VALUES (?, ?, ?, ?, ?, ?, ?)",
                            &[
                                (&t.name).into(),
                                (&t.object_type).into(),
                                t.time_type.as_str().into(),
                                t.synchronization.as_str().into(),
                                (&t.description).into(),
                                i64::from(t.locked).into(),
                                t.insertion_time.into(),
                            ],
                        )?;
                        st.tags += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            for (tag, i) in &iovs {
                let rows = d.query(
                    "SELECT payload_hash FROM iov WHERE tag_name = ? AND since = ? AND insertion_time = ?",
                    &[tag.into(), (i.since as i64).into(), i.insertion_time.into()],
                )?;
                if let Some(r) = rows.first() {
                    if r.text(0)? != i.payload_hash {
                        return Err(CondError::Policy(format!(
                            "IOV since {} of tag `{tag}` differs in the destination",
                            i.since
                        )));
                    }
                    continue;
                }
                d.execute(
                    "INSERT INTO iov (tag_name, since, insertion_time, payload_hash) VALUES (?, ?, ?, ?)",
                    &[tag.into(), (i.since as i64).into(), i.insertion_time.into(), (&i.payload_hash).into()],
                )?;
                st.iovs += 1;
            }
            for g in &gts {
                match get_gt(d, &g.name, false) {
                    Ok(existing) => {
                        if existing.snapshot_time != g.snapshot_time {
                            return Err(CondError::Policy(format!(
                                "global tag `{}` exists in the destination with another snapshot time",
                                g.name
                            )));
                        }
                    }
                    Err(CondError::NotFound { .. }) => {
                        d.execute(
                            "INSERT INTO global_tag (name, description, release, snapshot_time, locked, insertion_time) \
                             VALUES (?, ?, ?, ?, ?, ?)",
                            &[
                                (&g.name).into(),
                                (&g.description).into(),
                                (&g.release).into(),
                                g.snapshot_time.into(),
                                i64::from(g.locked).into(),
                                g.insertion_time.into(),
                            ],
                        )?;
                        st.global_tags += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            for (gt, m) in &maps {
                let rows = d.query(
                    "SELECT tag_name FROM global_tag_map WHERE global_tag_name = ? AND record = ? AND label = ?",
                    &[gt.into(), (&m.record).into(), (&m.label).into()],
                )?;
                if let Some(r) = rows.first() {
                    if r.text(0)? != m.tag {
                        return Err(CondError::Policy(format!(
                            "global tag `{gt}` maps record `{}` label `{}` to another tag in the destination",
                            m.record, m.label
                        )));
                    }
                    continue;
                }
                d.execute(
                    "INSERT INTO global_tag_map (global_tag_name, record, label, tag_name) VALUES (?, ?, ?, ?)",
                    &[gt.into(), (&m.record).into(), (&m.label).into(), (&m.tag).into()],
                )?;
                st.mappings += 1;
            }
            for l in &log {
                let params: Vec<Value> = vec![
                    (&l.tag).into(),
                    l.time.into(),
                    (&l.action).into(),
                    (&l.user).into(),
                    (&l.host).into(),
                    (&l.command).into(),
                    (&l.text).into(),
                ];
                if exists(
                    d,
                    "SELECT 1 FROM tag_log WHERE tag_name = ? AND event_time = ? AND action = ? \
                     AND user_name = ? AND host_name = ? AND command = ? AND user_text = ?",
                    &params,
                )? {
                    continue;
                }
                d.execute(
                    "INSERT INTO tag_log (tag_name, event_time, action, user_name, host_name, command, user_text) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                    &params,
                )?;
                st.log_entries += 1;
            }
            Ok(st)
        })
    }

    /// Compares global tag `gt_a` of this database with `gt_b` of `other` (which may be this
    /// database): for every (record, label), the mapped tag and the IOVs each one sees at its
    /// snapshot time (since and payload hash).
    pub fn diff_global_tags(
        &self,
        gt_a: &str,
        other: &ConditionsDb,
        gt_b: &str,
    ) -> Result<GtDiff, CondError> {
        let side = |db: &ConditionsDb, gt: &str| -> Result<GtSide, CondError> {
            let info = db.global_tag(gt)?;
            let mut out = BTreeMap::new();
            for m in db.global_tag_map(gt)? {
                let iovs = db.with_read(|b| visible_iovs(b, &m.tag, info.snapshot_time))?;
                out.insert((m.record, m.label), (m.tag, iovs));
            }
            Ok(out)
        };
        let a = side(self, gt_a)?;
        let b = side(other, gt_b)?;
        let keys: BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
        let mut entries = Vec::new();
        for k in keys {
            let (ea, eb) = (a.get(k), b.get(k));
            let detail = match (ea, eb) {
                (Some(_), None) => format!("only in `{gt_a}`"),
                (None, Some(_)) => format!("only in `{gt_b}`"),
                (Some((ta, ia)), Some((tb, ib))) => {
                    if ia == ib && ta == tb {
                        continue;
                    }
                    let mut parts = Vec::new();
                    if ta != tb {
                        parts.push(format!("tag `{ta}` vs `{tb}`"));
                    }
                    if ia != ib {
                        let first = ia
                            .iter()
                            .zip(ib.iter())
                            .find(|(x, y)| x != y)
                            .map(|(x, y)| x.0.min(y.0))
                            .or_else(|| ia.get(ib.len()).or(ib.get(ia.len())).map(|x| x.0));
                        parts.push(format!(
                            "visible IOVs differ ({} vs {}, first difference at since {})",
                            ia.len(),
                            ib.len(),
                            first.map_or("?".into(), |s| s.to_string())
                        ));
                    } else {
                        parts.push("same IOVs".into());
                    }
                    parts.join("; ")
                }
                (None, None) => continue,
            };
            entries.push(GtDiffEntry {
                record: k.0.clone(),
                label: k.1.clone(),
                tag_a: ea.map(|e| e.0.clone()),
                tag_b: eb.map(|e| e.0.clone()),
                detail,
            });
        }
        Ok(GtDiff { entries })
    }
}
