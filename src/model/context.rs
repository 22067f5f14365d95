//! Encryption contexts: non-secret key/value pairs bound to a ciphertext.

use std::collections::BTreeMap;

use super::ParseError;

/// An encryption context. Sorted, so that its canonical encoding is unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `k=v` as given on the command line (`--encryption-context k=v`).
    pub fn insert_pair(&mut self, pair: &str) -> Result<(), ParseError> {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            ParseError(format!(
                "encryption context pair '{pair}' must be KEY=VALUE"
            ))
        })?;
        if k.is_empty() {
            return Err(ParseError(format!(
                "encryption context pair '{pair}' has an empty key"
            )));
        }
        self.insert(k, v);
        Ok(())
    }

    /// The canonical bytes bound as associated data:
    /// `be32(n) ‖ (be32(len k) ‖ k ‖ be32(len v) ‖ v)*` in sorted key order.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (k, v) in &self.0 {
            for part in [k, v] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        out
    }

    /// `true` if every pair of `self` appears in `other` (grant EncryptionContextSubset).
    pub fn is_subset_of(&self, other: &EncryptionContext) -> bool {
        self.iter().all(|(k, v)| other.get(k) == Some(v))
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }
}

impl FromIterator<(String, String)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_do_not_depend_on_insertion_order() {
        let mut a = EncryptionContext::new();
        a.insert("b", "2");
        a.insert("a", "1");
        let mut b = EncryptionContext::new();
        b.insert("a", "1");
        b.insert("b", "2");
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
        let mut c = EncryptionContext::new();
        c.insert("a", "12");
        assert_ne!(a.canonical_bytes(), c.canonical_bytes());
    }

    #[test]
    fn pairs_parse() {
        let mut ctx = EncryptionContext::new();
        ctx.insert_pair("dept=it=ops").unwrap();
        assert_eq!(ctx.get("dept"), Some("it=ops"));
        assert!(ctx.insert_pair("novalue").is_err());
        assert!(ctx.insert_pair("=x").is_err());
    }
}
