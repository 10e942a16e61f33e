//! The owner marker: how a MAAS machine says "I belong to this MaasMachine".
//!
//! MAAS stores the `agent_name` given to `op=allocate` atomically with the
//! allocation, so a machine can never be ours without saying so. The marker is
//! `capmaas/<namespace>/<name>/<uid>`:
//!
//! * `uid` (the MaasMachine's `metadata.uid`) makes it unique: a MaasMachine
//!   deleted and re-created with the same name gets a different marker;
//! * `namespace` and `name` make it readable for MAAS operators.
//!
//! MAAS limits `agent_name` to 255 characters. Namespaces are at most 63
//! characters but names may be 253, so when the full form is too long the name
//! is shortened to a prefix followed by `~` and the 8-hex-digit FNV-1a hash of
//! the full name (`~` never occurs in Kubernetes names, so the two forms cannot
//! collide). The marker is always derived, never stored: compare markers by
//! rendering, with [`OwnerMarker::matches`].
//!
//! Because `register_vmhost` deploys overwrite `agent_name` (with
//! `maas-kvm-pod`) and a release clears it, an owned machine also carries MAAS
//! workload annotations ([`OwnerMarker::workload_annotations`]); either proves
//! ownership.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

/// The fixed first segment of every marker.
pub const MARKER_PREFIX: &str = "capmaas";
/// MAAS's limit on `agent_name` length (characters).
pub const MAX_MARKER_LEN: usize = 255;
// MAAS accepts owner-data (workload annotation) keys matching `[\w.-]+$`
// only (`maasserver/models/ownerdata.py`, `DATA_KEY_RE`) and answers any
// other key with 500 "Invalid character in key name": no `/` in a key.

/// Workload annotation holding the rendered owner marker.
pub const ANNOTATION_OWNER: &str = "capmaas.io.owner";
/// Workload annotation holding `<namespace>/<cluster name>`.
pub const ANNOTATION_CLUSTER: &str = "capmaas.io.cluster";
/// Workload annotation holding `<namespace>/<MaasMachine name>`.
pub const ANNOTATION_MACHINE: &str = "capmaas.io.maasmachine";

/// `key` passes MAAS's owner-data key rule (`[\w.-]+$`; ours are ASCII).
#[must_use]
pub fn valid_workload_annotation_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Why a marker could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MarkerError {
    /// A part was empty.
    #[error("owner marker part `{0}` is empty")]
    EmptyPart(&'static str),
    /// A part contained a character that would make the marker ambiguous.
    #[error("owner marker part `{part}` contains the forbidden character {character:?}")]
    ForbiddenCharacter {
        /// Which part.
        part: &'static str,
        /// The offending character.
        character: char,
    },
    /// The namespace or uid alone exceed what fits in MAAS's limit.
    #[error("owner marker cannot fit in {MAX_MARKER_LEN} characters")]
    TooLong,
    /// The text is not a marker (wrong prefix or number of segments).
    #[error("not a capmaas owner marker")]
    NotAMarker,
}

/// The identity of one MaasMachine, as written into MAAS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnerMarker {
    namespace: String,
    name: String,
    uid: String,
}

/// The name segment of a parsed marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePart {
    /// The full MaasMachine name.
    Full(String),
    /// A shortened name: a prefix of it and the FNV-1a hash of the full name.
    Shortened {
        /// The first characters of the name.
        prefix: String,
        /// FNV-1a (32-bit) of the full name.
        hash: u32,
    },
}

/// A marker read back from MAAS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMarker {
    /// Namespace of the MaasMachine.
    pub namespace: String,
    /// Its name, possibly shortened.
    pub name: NamePart,
    /// Its `metadata.uid`.
    pub uid: String,
}

impl ParsedMarker {
    /// Whether this marker names `(namespace, name)` (uid not compared).
    #[must_use]
    pub fn names(&self, namespace: &str, name: &str) -> bool {
        if self.namespace != namespace {
            return false;
        }
        match &self.name {
            NamePart::Full(full) => full == name,
            NamePart::Shortened { prefix, hash } => {
                name.starts_with(prefix.as_str()) && fnv1a32(name) == *hash
            }
        }
    }
}

fn check_part(part: &'static str, value: &str) -> Result<(), MarkerError> {
    if value.is_empty() {
        return Err(MarkerError::EmptyPart(part));
    }
    if let Some(character) = value
        .chars()
        .find(|c| *c == '/' || *c == '~' || c.is_whitespace())
    {
        return Err(MarkerError::ForbiddenCharacter { part, character });
    }
    Ok(())
}

/// FNV-1a, 32 bits: tiny, stable across releases and platforms.
#[must_use]
pub(crate) fn fnv1a32(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

impl OwnerMarker {
    /// Builds the marker of the MaasMachine `namespace/name` with `uid`.
    ///
    /// # Errors
    /// A part is empty or contains `/`, `~` or whitespace, or the namespace and
    /// uid alone leave no room for the name.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        uid: impl Into<String>,
    ) -> Result<Self, MarkerError> {
        let marker = Self {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
        };
        check_part("namespace", &marker.namespace)?;
        check_part("name", &marker.name)?;
        check_part("uid", &marker.uid)?;
        // prefix + 3 slashes + namespace + uid + the shortest shortened name ("x~hhhhhhhh")
        let fixed = MARKER_PREFIX.len() + 3 + marker.namespace.len() + marker.uid.len();
        if fixed + 10 > MAX_MARKER_LEN {
            return Err(MarkerError::TooLong);
        }
        Ok(marker)
    }

    /// Namespace of the MaasMachine.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Name of the MaasMachine.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.uid` of the MaasMachine.
    #[must_use]
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The `agent_name` string (at most [`MAX_MARKER_LEN`] characters).
    #[must_use]
    pub fn render(&self) -> String {
        let full = format!(
            "{MARKER_PREFIX}/{}/{}/{}",
            self.namespace, self.name, self.uid
        );
        if full.len() <= MAX_MARKER_LEN {
            return full;
        }
        let fixed = MARKER_PREFIX.len() + 3 + self.namespace.len() + self.uid.len();
        // room for "<prefix>~hhhhhhhh"
        let room = MAX_MARKER_LEN.saturating_sub(fixed).saturating_sub(9);
        let mut cut = room.min(self.name.len());
        while cut > 0 && !self.name.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{MARKER_PREFIX}/{}/{}~{:08x}/{}",
            self.namespace,
            &self.name[..cut],
            fnv1a32(&self.name),
            self.uid
        )
    }

    /// Whether `text` (an `agent_name` or owner annotation) is this marker.
    #[must_use]
    pub fn matches(&self, text: &str) -> bool {
        text == self.render()
    }

    /// Parses a marker read from MAAS.
    ///
    /// # Errors
    /// [`MarkerError::NotAMarker`] for any other text (including `maas-kvm-pod`).
    pub fn parse(text: &str) -> Result<ParsedMarker, MarkerError> {
        if text.len() > MAX_MARKER_LEN {
            return Err(MarkerError::NotAMarker);
        }
        let mut parts = text.split('/');
        let (Some(prefix), Some(namespace), Some(name), Some(uid), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(MarkerError::NotAMarker);
        };
        if prefix != MARKER_PREFIX || namespace.is_empty() || name.is_empty() || uid.is_empty() {
            return Err(MarkerError::NotAMarker);
        }
        let name = match name.split_once('~') {
            None => NamePart::Full(name.to_owned()),
            Some((prefix, hash)) => {
                if hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(MarkerError::NotAMarker);
                }
                let hash = u32::from_str_radix(hash, 16).map_err(|_| MarkerError::NotAMarker)?;
                NamePart::Shortened {
                    prefix: prefix.to_owned(),
                    hash,
                }
            }
        };
        Ok(ParsedMarker {
            namespace: namespace.to_owned(),
            name,
            uid: uid.to_owned(),
        })
    }

    /// The MAAS workload annotations an owned machine carries.
    /// `cluster_name` is the CAPI cluster (label `cluster.x-k8s.io/cluster-name`).
    #[must_use]
    pub fn workload_annotations(&self, cluster_name: Option<&str>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(ANNOTATION_OWNER.to_owned(), self.render());
        out.insert(
            ANNOTATION_MACHINE.to_owned(),
            format!("{}/{}", self.namespace, self.name),
        );
        if let Some(cluster) = cluster_name.filter(|c| !c.is_empty()) {
            out.insert(
                ANNOTATION_CLUSTER.to_owned(),
                format!("{}/{cluster}", self.namespace),
            );
        }
        out
    }
}

impl fmt::Display for OwnerMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UID: &str = "2b1a7c3e-9d4f-4a51-8e0c-6f2d1b3a4c5d";

    #[test]
    fn short_marker_is_plain() {
        let m = OwnerMarker::new("default", "cp-0", UID).unwrap();
        assert_eq!(m.render(), format!("capmaas/default/cp-0/{UID}"));
        let parsed = OwnerMarker::parse(&m.render()).unwrap();
        assert_eq!(parsed.name, NamePart::Full("cp-0".into()));
        assert!(parsed.names("default", "cp-0"));
        assert!(!parsed.names("default", "cp-1"));
        assert_eq!(parsed.uid, UID);
    }

    #[test]
    fn long_name_is_shortened_to_fit_and_still_identifies() {
        let name = "n".repeat(253);
        let ns = "x".repeat(63);
        let m = OwnerMarker::new(&ns, &name, UID).unwrap();
        let text = m.render();
        assert_eq!(text.len(), MAX_MARKER_LEN);
        let parsed = OwnerMarker::parse(&text).unwrap();
        assert!(parsed.names(&ns, &name));
        assert!(!parsed.names(&ns, &format!("{}m", "n".repeat(252))));
        assert_eq!(parsed.uid, UID);
    }

    #[test]
    fn uid_distinguishes_recreated_objects() {
        let a = OwnerMarker::new("ns", "m", UID).unwrap();
        let b = OwnerMarker::new("ns", "m", "another-uid").unwrap();
        assert!(!a.matches(&b.render()));
        assert!(a.matches(&a.render()));
    }

    #[test]
    fn rejects_bad_parts_and_foreign_text() {
        assert_eq!(
            OwnerMarker::new("", "m", UID),
            Err(MarkerError::EmptyPart("namespace"))
        );
        assert!(matches!(
            OwnerMarker::new("ns", "a/b", UID),
            Err(MarkerError::ForbiddenCharacter {
                part: "name",
                character: '/'
            })
        ));
        assert_eq!(
            OwnerMarker::new("ns", "m", "u".repeat(250)),
            Err(MarkerError::TooLong)
        );
        for text in [
            "maas-kvm-pod",
            "",
            "capmaas/a/b",
            "capmaas/a/b/c/d",
            "other/a/b/c",
            "capmaas/a/b~zz/c",
        ] {
            assert_eq!(
                OwnerMarker::parse(text),
                Err(MarkerError::NotAMarker),
                "{text}"
            );
        }
    }

    #[test]
    fn annotations_carry_the_marker() {
        let m = OwnerMarker::new("ns", "m", UID).unwrap();
        let a = m.workload_annotations(Some("c1"));
        assert_eq!(a.get(ANNOTATION_OWNER), Some(&m.render()));
        assert_eq!(a.get(ANNOTATION_CLUSTER).map(String::as_str), Some("ns/c1"));
        assert_eq!(a.get(ANNOTATION_MACHINE).map(String::as_str), Some("ns/m"));
        assert!(
            !m.workload_annotations(None)
                .contains_key(ANNOTATION_CLUSTER)
        );
    }

    #[test]
    fn workload_annotation_keys_are_keys_maas_accepts() {
        let m = OwnerMarker::new("ns", "m", "u").unwrap();
        let a = m.workload_annotations(Some("c1"));
        assert_eq!(a.len(), 3);
        for key in a.keys() {
            assert!(valid_workload_annotation_key(key), "{key}");
        }
        // What MAAS refused with 500 "Invalid character in key name".
        assert!(!valid_workload_annotation_key("capmaas.io/owner"));
        assert!(!valid_workload_annotation_key(""));
        assert!(!valid_workload_annotation_key("a b"));
    }

    proptest! {
        // A fixed seed: CI fails only when the code changed.
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d61_726b_6572),
            ..ProptestConfig::default()
        })]

        #[test]
        fn render_fits_parses_and_names(
            ns in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
            name in "[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?",
            uid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ) {
            let m = OwnerMarker::new(&ns, &name, &uid).unwrap();
            let text = m.render();
            prop_assert!(text.len() <= MAX_MARKER_LEN);
            let parsed = OwnerMarker::parse(&text).unwrap();
            prop_assert!(parsed.names(&ns, &name));
            prop_assert_eq!(parsed.uid, uid);
            prop_assert!(m.matches(&text));
        }
    }
}
