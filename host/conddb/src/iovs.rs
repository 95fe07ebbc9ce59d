//! IOV sequences read whole (or in groups) and resolved in memory: what a job keeps after it has
//! asked the database once, and how the HTTP client answers `resolve` with the same rules as SQL.

use crate::{CondError, Hash, IovKey, Resolved, TimeType};
use serde::{Deserialize, Serialize};

/// IOVs per group when a tag is read in groups (CMS reads long tags the same way): a job reads
/// the group boundaries of a tag, then only the groups its events fall in.
pub const DEFAULT_IOV_GROUP: usize = 1000;

/// The IOVs of one tag visible under a snapshot, with since in `[from, to)`, sorted by since, one
/// per since (the newest insertion not after the snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagIovs {
    /// Tag name.
    pub tag: String,
    /// Units of the sinces.
    pub time_type: TimeType,
    /// Object type of the tag's payloads (a tag only accepts payloads of its type).
    pub object_type: String,
    /// Snapshot the IOVs are seen at (µs since the epoch).
    pub snapshot: i64,
    /// First since of the range asked for.
    pub from: u64,
    /// End of the range asked for (exclusive): the since of the next group, `u64::MAX` if open.
    pub to: u64,
    /// `(since, payload hash)`, ascending.
    pub iovs: Vec<(u64, Hash)>,
}

/// Group boundaries of a tag under a snapshot: the since of the first IOV of every group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IovGroups {
    /// Tag name.
    pub tag: String,
    /// Units of the sinces.
    pub time_type: TimeType,
    /// Object type of the tag's payloads.
    pub object_type: String,
    /// Snapshot the IOVs are seen at.
    pub snapshot: i64,
    /// Number of visible IOVs.
    pub count: u64,
    /// Since of the first IOV of each group, ascending (empty when no IOV is visible).
    pub boundaries: Vec<u64>,
}

impl IovGroups {
    /// The group a key value falls in: `(from, to)` to read with
    /// [`ConditionsDb::tag_iovs`](crate::ConditionsDb::tag_iovs); `None` before the first IOV.
    pub fn group_of(&self, value: u64) -> Option<(u64, u64)> {
        let i = self.boundaries.partition_point(|&b| b <= value);
        if i == 0 {
            return None;
        }
        let to = self.boundaries.get(i).copied().unwrap_or(u64::MAX);
        Some((self.boundaries[i - 1], to))
    }
}

/// Group boundaries of ascending, distinct sinces.
pub(crate) fn boundaries(sinces: &[u64], group: usize) -> Vec<u64> {
    sinces.iter().step_by(group.max(1)).copied().collect()
}

/// What a resolution is for, to name it in errors and in the answer.
pub(crate) struct Query<'a> {
    pub global_tag: &'a str,
    pub record: &'a str,
    pub label: &'a str,
    pub key: IovKey,
}

/// The "no IOV covers ..." error, worded the same by every backend.
pub(crate) fn no_iov(q: &Query<'_>, tag: &str, time_type: TimeType) -> CondError {
    CondError::not_found(format!(
        "no IOV covers run {} lumi {} (key {}) for record `{}` label `{}` in global tag `{}` (tag `{tag}`)",
        q.key.run,
        q.key.lumi,
        time_type.format_key(q.key.value(time_type)),
        q.record,
        q.label,
        q.global_tag
    ))
}

impl TagIovs {
    /// Index of the IOV holding `value` (the greatest since not after it), if one is in the list.
    pub fn position(&self, value: u64) -> Option<usize> {
        self.iovs
            .partition_point(|(s, _)| *s <= value)
            .checked_sub(1)
    }

    /// `[since, till)` and payload of the IOV at `i`; `till` is the next since, else `to`.
    pub fn range(&self, i: usize) -> (u64, u64, &str) {
        let (since, hash) = &self.iovs[i];
        let till = self.iovs.get(i + 1).map_or(self.to, |(s, _)| *s);
        (*since, till, hash)
    }

    /// Resolves `q` in this list (which must cover the key's group).
    pub(crate) fn resolve(&self, q: &Query<'_>) -> Result<Resolved, CondError> {
        let value = q.key.value(self.time_type);
        let i = self
            .position(value)
            .ok_or_else(|| no_iov(q, &self.tag, self.time_type))?;
        let (since, till, hash) = self.range(i);
        Ok(Resolved {
            global_tag: q.global_tag.to_string(),
            record: q.record.to_string(),
            label: q.label.to_string(),
            tag: self.tag.clone(),
            payload_hash: hash.to_string(),
            object_type: self.object_type.clone(),
            since,
            till,
            time_type: self.time_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(b: Vec<u64>) -> IovGroups {
        IovGroups {
            tag: "t".into(),
            time_type: TimeType::Run,
            object_type: "onnx".into(),
            snapshot: 0,
            count: 0,
            boundaries: b,
        }
    }

    #[test]
    fn groups_cover_keys_up_to_the_next_boundary() {
        assert_eq!(boundaries(&[1, 5, 9, 12, 20], 2), vec![1, 9, 20]);
        let g = groups(vec![1, 9, 20]);
        assert_eq!(g.group_of(0), None);
        assert_eq!(g.group_of(1), Some((1, 9)));
        assert_eq!(g.group_of(8), Some((1, 9)));
        assert_eq!(g.group_of(9), Some((9, 20)));
        assert_eq!(g.group_of(u64::MAX), Some((20, u64::MAX)));
        assert_eq!(groups(vec![]).group_of(5), None);
    }

    #[test]
    fn a_group_ends_where_the_next_begins() {
        let t = TagIovs {
            tag: "t".into(),
            time_type: TimeType::Run,
            object_type: "onnx".into(),
            snapshot: 0,
            from: 1,
            to: 9,
            iovs: vec![(1, "a".into()), (5, "b".into())],
        };
        assert_eq!(t.position(0), None);
        assert_eq!(t.range(t.position(4).unwrap()), (1, 5, "a"));
        assert_eq!(t.range(t.position(8).unwrap()), (5, 9, "b"));
    }
}
