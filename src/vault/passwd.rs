//! Changing how the root key is protected (`kmsfs vault passwd`) and online
//! backups (`kmsfs vault backup`).
//!
//! A root key change re-seals every key material version and the digest
//! signing seed under the new root key, and replaces the verifier, in one
//! transaction: the old passphrase or key file stops working at its commit.
//! A new key file is written beside the old one first (`vault.key.new`),
//! renamed over it after the commit; a crash between the two leaves a vault
//! that the old key file no longer unlocks and the new one does, which `open`
//! recovers by finishing the rename.

use std::path::{Path, PathBuf};

use crate::crypto::{self, KdfParams, RootKey};

use super::files;
use super::meta::{self, KdfSetting, Meta};
use super::{key_file_path, Protection, RootKeySource, Vault, VaultError};

/// Where a new key file waits for its commit.
pub(super) fn pending_key_file_path(db: &Path) -> PathBuf {
    let mut path = key_file_path(db).into_os_string();
    path.push(".new");
    PathBuf::from(path)
}

impl Vault {
    /// Protects the vault with a new root key: from a fresh key file or a
    /// passphrase (`kdf` sets its cost). Everything sealed under the old root
    /// key is re-sealed under the new one in one transaction. `record` runs
    /// inside that transaction, last (the audit record of the change): when it
    /// fails, nothing changes.
    pub fn change_root_key<E: From<VaultError>>(
        &mut self,
        source: RootKeySource,
        kdf: KdfParams,
        record: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let _umask = files::PrivateUmask::set();
        let key_path = key_file_path(&self.db_path);
        let pending = pending_key_file_path(&self.db_path);
        let (root, kdf_setting) = match source {
            RootKeySource::KeyFile => {
                // A leftover of an earlier change that never committed.
                if files::exists(&pending)? {
                    std::fs::remove_file(&pending).map_err(VaultError::io(&pending))?;
                }
                (files::create_key_file(&pending)?, None)
            }
            RootKeySource::Passphrase(passphrase) => {
                let mut salt = vec![0u8; meta::SALT_LEN];
                crypto::random_bytes(&mut salt).map_err(VaultError::from)?;
                let root =
                    crypto::derive_root_key(&passphrase, &salt, kdf).map_err(VaultError::from)?;
                (root, Some(KdfSetting { salt, params: kdf }))
            }
        };
        let protection = match kdf_setting {
            None => Protection::KeyFile,
            Some(_) => Protection::Passphrase,
        };
        let mut info = self.info.clone();
        info.protection = protection;
        let meta = Meta::new(info, kdf_setting, &root)?;
        let committed = self.atomically(|vault| {
            vault.reseal_material(&root)?;
            vault.reseal_signing_seed(&root)?;
            meta.update_protection(&vault.conn)?;
            record()
        });
        if let Err(err) = committed {
            if protection == Protection::KeyFile {
                let _ = std::fs::remove_file(&pending);
            }
            return Err(err);
        }
        // The old sealed rows must not linger in the write-ahead log.
        self.purge_wal();
        match protection {
            Protection::KeyFile => {
                std::fs::rename(&pending, &key_path).map_err(VaultError::io(&key_path))?
            }
            Protection::Passphrase if files::exists(&key_path)? => {
                std::fs::remove_file(&key_path).map_err(VaultError::io(&key_path))?
            }
            Protection::Passphrase => {}
        }
        files::sync_dir(files::vault_dir(&self.db_path))?;
        self.root = root;
        self.info = meta.info;
        Ok(())
    }

    /// An online, consistent copy of the database at `dest` (SQLite's backup
    /// API), created mode 0600; refuses to replace a file. The key file is not
    /// copied: keep it apart from the backup.
    pub fn backup_to(&self, dest: &Path) -> Result<(), VaultError> {
        files::create_db_file(dest)?;
        let copy = || -> Result<(), rusqlite::Error> {
            let mut target = rusqlite::Connection::open(dest)?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut target)?;
            backup.run_to_completion(256, std::time::Duration::ZERO, None)
        };
        copy().map_err(|err| {
            let _ = std::fs::remove_file(dest);
            VaultError::from(err)
        })
    }
}

/// The root key of a key-file vault whose key file does not unlock it: the
/// pending key file of an interrupted root key change, if it does, renamed
/// into place.
pub(super) fn recover_pending_key_file(
    db: &Path,
    meta: &Meta,
) -> Result<Option<RootKey>, VaultError> {
    let pending = pending_key_file_path(db);
    if !files::exists(&pending)? {
        return Ok(None);
    }
    let root = files::read_key_file(&pending)?;
    if !meta.unlocks(&root) {
        return Ok(None);
    }
    let key_path = key_file_path(db);
    std::fs::rename(&pending, &key_path).map_err(VaultError::io(&key_path))?;
    files::sync_dir(files::vault_dir(db))?;
    log::warn!(
        "{}: finished an interrupted root key change (the new key file is now in place)",
        key_path.display()
    );
    Ok(Some(root))
}
