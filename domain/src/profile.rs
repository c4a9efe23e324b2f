//! Payload profiles: named sizes of the shop, read from `domain/profiles.toml`.
//!
//! The file is compiled into the binary so a fresh checkout needs nothing else; a user adds a
//! profile by adding a table to that file (or passes another file at run time).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The profiles file shipped with wirebench.
pub const BUILTIN_PROFILES: &str = include_str!("../profiles.toml");

/// How big the shop is and how heavy each record is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayloadProfile {
    /// Filled in from the table name; not written in the file.
    #[serde(default, skip_deserializing)]
    pub name: String,
    pub users: u32,
    pub orders_per_user: u32,
    pub items_per_order: u32,
    pub bio_chars: u32,
    pub tags_per_user: u32,
    pub item_name_chars: u32,
}

/// All profiles of one file, by name, in name order.
#[derive(Debug, Clone)]
pub struct Profiles {
    by_name: BTreeMap<String, PayloadProfile>,
}

impl Profiles {
    /// The profiles compiled into the binary.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_PROFILES).expect("domain/profiles.toml is valid (checked by a test)")
    }

    /// Profiles from a TOML file of the same shape as `domain/profiles.toml`.
    pub fn from_file(path: &Path) -> Result<Self, DomainError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DomainError::Invalid(format!("reading {}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// Parses a profiles file and checks every profile is usable.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let mut by_name: BTreeMap<String, PayloadProfile> =
            toml::from_str(text).map_err(|e| DomainError::Invalid(format!("payload profiles: {e}")))?;
        for (name, profile) in &mut by_name {
            profile.name.clone_from(name);
            if profile.users == 0 || profile.items_per_order == 0 {
                return Err(DomainError::Invalid(format!(
                    "payload profile {name:?}: users and items_per_order must be at least 1"
                )));
            }
        }
        if by_name.is_empty() {
            return Err(DomainError::Invalid("payload profiles: the file defines none".into()));
        }
        Ok(Self { by_name })
    }

    /// The profile called `name`, or an error listing the known names.
    pub fn get(&self, name: &str) -> Result<&PayloadProfile, DomainError> {
        self.by_name.get(name).ok_or_else(|| {
            DomainError::Invalid(format!(
                "unknown payload profile {name:?} (known: {})",
                self.names().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// Profile names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Profiles in name order.
    pub fn iter(&self) -> impl Iterator<Item = &PayloadProfile> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_include_the_four_standard_sizes() {
        let profiles = Profiles::parse(BUILTIN_PROFILES).unwrap();
        for name in ["tiny", "small", "medium", "large"] {
            assert_eq!(profiles.get(name).unwrap().name, name);
        }
    }

    #[test]
    fn a_user_profile_is_one_more_table() {
        let text = format!(
            "{BUILTIN_PROFILES}\n[huge]\nusers = 3\norders_per_user = 1\nitems_per_order = 50\n\
             bio_chars = 10\ntags_per_user = 0\nitem_name_chars = 4\n"
        );
        let profiles = Profiles::parse(&text).unwrap();
        assert_eq!(profiles.get("huge").unwrap().items_per_order, 50);
    }

    #[test]
    fn unknown_profile_and_unknown_field_are_errors() {
        let profiles = Profiles::builtin();
        let err = profiles.get("nope").unwrap_err().to_string();
        assert!(err.contains("tiny"), "{err}");
        let bad = "[x]\nusers = 1\norders_per_user = 1\nitems_per_order = 1\nbio_chars = 1\n\
                   tags_per_user = 1\nitem_name_chars = 1\ncolour = 3\n";
        assert!(Profiles::parse(bad).is_err());
    }
}
