//! Digest files (docs/AUDIT.md, "Digest files"): for one period, the log
//! files delivered in it with their SHA-256 and event time range, chained to
//! the previous digest, and signed with Ed25519 over
//! `digestEndTime \n digestObject \n hex(SHA-256(digest JSON)) \n previousDigestSignature`
//! (`null` for the first), as CloudTrail signs with RSA. The signature is kept
//! beside the digest in `<digest>.sig`, as CloudTrail keeps it in the object's metadata.

use std::fs;
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::atomic::write_atomically;
use super::layout::{unique16, TrailIdentity, TrailLayout, SIGNATURE_SUFFIX};
use super::logfile::{gunzip_hash, gzip};
use super::signing::{DigestSigner, SIGNATURE_ALGORITHM};
use super::state::{
    parse_time, time_text, ChainHead, LogFileEntry, TrailState, UnwrittenDigest, HASH_ALGORITHM,
};
use super::AuditError;

/// The JSON of a digest file, fields in CloudTrail's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DigestDocument {
    pub(super) vault_id: String,
    pub(super) digest_start_time: String,
    pub(super) digest_end_time: String,
    pub(super) digest_object: String,
    pub(super) digest_public_key_fingerprint: String,
    pub(super) digest_signature_algorithm: String,
    pub(super) newest_event_time: Option<String>,
    pub(super) oldest_event_time: Option<String>,
    pub(super) previous_digest_object: Option<String>,
    pub(super) previous_digest_hash_value: Option<String>,
    pub(super) previous_digest_hash_algorithm: Option<String>,
    pub(super) previous_digest_signature: Option<String>,
    pub(super) log_files: Vec<LogFileEntry>,
}

/// The bytes a digest's signature covers.
pub(super) fn signing_string(
    end_time: &str,
    object: &str,
    digest_hash: &str,
    previous_signature: Option<&str>,
) -> Vec<u8> {
    format!(
        "{end_time}\n{object}\n{digest_hash}\n{}",
        previous_signature.unwrap_or("null")
    )
    .into_bytes()
}

/// Makes the digest of everything delivered since the previous one, ending
/// at `end`: moves the chain head in `state` to it and leaves its bytes in
/// `state.unwritten_digest`. The caller stores the state, then writes the
/// files with [`write_unwritten_digest`]; a crash between the two leaves the
/// ledger naming a digest the next run writes, never a written digest the
/// ledger does not know (which would be off the chain for good).
/// Returns the digest's object name.
pub(super) fn prepare_digest(
    layout: &TrailLayout,
    identity: &TrailIdentity,
    signer: &DigestSigner,
    state: &mut TrailState,
    end: DateTime<Utc>,
) -> Result<String, AuditError> {
    let object = layout.digest_object(identity, end, &unique16()?);
    let head = state.head.as_ref();
    let files = &state.pending;
    let document = DigestDocument {
        vault_id: identity.vault_id.clone(),
        digest_start_time: state.next_digest_start().to_string(),
        digest_end_time: time_text(end),
        digest_object: object.clone(),
        digest_public_key_fingerprint: signer.public_key().fingerprint(),
        digest_signature_algorithm: SIGNATURE_ALGORITHM.to_string(),
        newest_event_time: extreme_time(files, |f| &f.newest_event_time, Ord::max),
        oldest_event_time: extreme_time(files, |f| &f.oldest_event_time, Ord::min),
        previous_digest_object: head.map(|h| h.object.clone()),
        previous_digest_hash_value: head.map(|h| h.hash_value.clone()),
        previous_digest_hash_algorithm: head.map(|_| HASH_ALGORITHM.to_string()),
        previous_digest_signature: head.map(|h| h.signature.clone()),
        log_files: files.clone(),
    };
    let json = serde_json::to_string(&document)
        .map_err(|e| AuditError::Ledger(format!("BUG: a digest does not serialize: {e}")))?;
    let hash = hex::encode(Sha256::digest(json.as_bytes()));
    let signature = signer.sign_hex(&signing_string(
        &document.digest_end_time,
        &object,
        &hash,
        document.previous_digest_signature.as_deref(),
    ));
    state.head = Some(ChainHead {
        object: object.clone(),
        signature: signature.clone(),
        hash_value: hash,
        end_time: document.digest_end_time,
    });
    state.pending.clear();
    state.unwritten_digest = Some(UnwrittenDigest {
        object: object.clone(),
        json,
        signature,
    });
    Ok(object)
}

/// Writes the files of `state.unwritten_digest`, if any, and clears it (the
/// caller stores the state). Repeating it after a crash writes the same bytes.
pub(super) fn write_unwritten_digest(
    layout: &TrailLayout,
    state: &mut TrailState,
) -> Result<(), AuditError> {
    let Some(digest) = &state.unwritten_digest else {
        return Ok(());
    };
    let path = layout.path_of(&digest.object);
    layout.create_parent(&path)?;
    let compressed = gzip(digest.json.as_bytes()).map_err(|source| AuditError::Deliver {
        path: path.clone(),
        source,
    })?;
    // The signature first: a digest never exists without it.
    write_atomically(
        &signature_path(&path),
        format!("{}\n", digest.signature).as_bytes(),
    )?;
    write_atomically(&path, &compressed)?;
    state.unwritten_digest = None;
    Ok(())
}

/// The newest (or oldest) of the files' event times, by parsed time.
fn extreme_time(
    files: &[LogFileEntry],
    field: impl Fn(&LogFileEntry) -> &String,
    pick: fn(DateTime<Utc>, DateTime<Utc>) -> DateTime<Utc>,
) -> Option<String> {
    files
        .iter()
        .filter_map(|f| parse_time(field(f)))
        .reduce(pick)
        .map(time_text)
}

/// `<digest>.sig`.
pub(super) fn signature_path(digest: &Path) -> std::path::PathBuf {
    let mut name = digest.as_os_str().to_owned();
    name.push(SIGNATURE_SUFFIX);
    name.into()
}

/// A digest file as found on disk.
pub(super) struct FoundDigest {
    pub(super) document: DigestDocument,
    /// Hex SHA-256 of the uncompressed JSON.
    pub(super) hash: String,
    /// The signature file's text, if there is one.
    pub(super) signature: Option<String>,
}

/// Why a digest file could not be read as one.
pub(super) enum DigestReadError {
    NotFound,
    /// Not gzip, not JSON, or not a digest document.
    Format(String),
    Io(io::Error),
}

pub(super) fn read_digest(path: &Path) -> Result<FoundDigest, DigestReadError> {
    let (content, hash) = gunzip_hash(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => DigestReadError::NotFound,
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
            DigestReadError::Format(e.to_string())
        }
        _ => DigestReadError::Io(e),
    })?;
    let document =
        serde_json::from_slice(&content).map_err(|e| DigestReadError::Format(e.to_string()))?;
    let signature = match fs::read_to_string(signature_path(path)) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(DigestReadError::Io(e)),
    };
    Ok(FoundDigest {
        document,
        hash,
        signature,
    })
}
