//! Creating a vault (`init`) and opening one: file checks, schema, metadata
//! and unlocking the root key.

use std::cell::Cell;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use chrono::Utc;
use rusqlite::{Connection, TransactionBehavior};

use crate::crypto::{self, KdfParams, RootKey, SecretBytes};

use super::files::{self, CreatedFiles, PrivateUmask};
use super::meta::{self, KdfSetting, Meta};
use super::{key_file_path, schema, Protection, RootKeySource, Vault, VaultError, VaultInfo};

impl Vault {
    /// Creates a vault at `db` and its root key, refusing to replace an existing
    /// vault or key file. The directory is created (0700) if missing.
    pub fn init(db: &Path, source: RootKeySource, kdf: KdfParams) -> Result<Vault, VaultError> {
        let _umask = PrivateUmask::set();
        let dir = files::vault_dir(db);
        files::create_dir(dir)?;
        files::check_dir(dir)?;
        if files::exists(db)? {
            return Err(VaultError::AlreadyExists(db.to_path_buf()));
        }
        let mut created = CreatedFiles::new();
        let (root, protection, kdf_setting) = match source {
            RootKeySource::KeyFile => {
                let key_path = key_file_path(db);
                let root = files::create_key_file(&key_path)?;
                created.push(&key_path);
                (root, Protection::KeyFile, None)
            }
            RootKeySource::Passphrase(passphrase) => {
                let mut salt = vec![0u8; meta::SALT_LEN];
                crypto::random_bytes(&mut salt)?;
                let root = crypto::derive_root_key(&passphrase, &salt, kdf)?;
                let setting = KdfSetting { salt, params: kdf };
                (root, Protection::Passphrase, Some(setting))
            }
        };
        files::create_db_file(db)?;
        created.push_db(db);
        let mut conn = schema::connect(db)?;
        schema::enable_wal(&conn)?;
        let info = VaultInfo {
            vault_id: meta::random_vault_id()?,
            account_id: meta::random_account_id()?,
            // The file was just created by this process, so it is owned by its (effective) uid.
            owner_uid: std::fs::metadata(db).map_err(VaultError::io(db))?.uid(),
            protection,
            created: Utc::now(),
        };
        let meta = Meta::new(info, kdf_setting, &root)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        schema::create(&tx)?;
        meta.insert(&tx)?;
        tx.commit()?;
        files::sync_dir(dir)?;
        created.keep();
        Ok(Vault::new(conn, root, db, meta.info))
    }

    /// How the vault at `db` is protected, read without unlocking it.
    pub fn protection(db: &Path) -> Result<Protection, VaultError> {
        let (_, meta) = connect_existing(db)?;
        Ok(meta.info.protection)
    }

    /// Opens and unlocks the vault at `db`. `passphrase` is required iff the
    /// vault is passphrase-protected, and ignored otherwise.
    pub fn open(db: &Path, passphrase: Option<SecretBytes>) -> Result<Vault, VaultError> {
        let (conn, meta) = connect_existing(db)?;
        let root = unlock(db, &meta, passphrase)?;
        Ok(Vault::new(conn, root, db, meta.info))
    }

    /// Another connection to this vault, unlocked with the same root key: for
    /// a thread that must not wait for this connection's users.
    pub fn reopen(&self) -> Result<Vault, VaultError> {
        let (conn, meta) = connect_existing(&self.db_path)?;
        let root =
            RootKey::from_slice(self.root.expose()).expect("BUG: a root key is 32 bytes long");
        Ok(Vault::new(conn, root, &self.db_path, meta.info))
    }

    fn new(conn: Connection, root: RootKey, db: &Path, info: VaultInfo) -> Vault {
        Vault {
            conn,
            root,
            db_path: db.to_path_buf(),
            info,
            purge_wal_after_commit: Cell::new(false),
        }
    }
}

/// Checks the files, connects, brings the schema up to date and reads the metadata.
fn connect_existing(db: &Path) -> Result<(Connection, Meta), VaultError> {
    if !files::exists(db)? {
        return Err(VaultError::NotFound(db.to_path_buf()));
    }
    files::check_vault_files(db)?;
    let mut conn = schema::connect(db)?;
    schema::upgrade(&mut conn, db)?;
    let meta = Meta::read(&conn)?;
    Ok((conn, meta))
}

/// The root key, from the key file or the passphrase, checked against the verifier.
fn unlock(db: &Path, meta: &Meta, passphrase: Option<SecretBytes>) -> Result<RootKey, VaultError> {
    let (root, wrong) = match &meta.kdf {
        None => match files::read_key_file(&key_file_path(db)) {
            Ok(root) => (root, VaultError::WrongKeyFile),
            // Renamed away by a root key change that did not finish?
            Err(missing @ VaultError::KeyFileMissing(_)) => {
                return super::passwd::recover_pending_key_file(db, meta)?.ok_or(missing)
            }
            Err(err) => return Err(err),
        },
        Some(kdf) => {
            let passphrase = passphrase.ok_or(VaultError::PassphraseRequired)?;
            (
                crypto::derive_root_key(&passphrase, &kdf.salt, kdf.params)?,
                VaultError::WrongPassphrase,
            )
        }
    };
    if meta.unlocks(&root) {
        return Ok(root);
    }
    if meta.kdf.is_none() {
        if let Some(root) = super::passwd::recover_pending_key_file(db, meta)? {
            return Ok(root);
        }
    }
    Err(wrong)
}
