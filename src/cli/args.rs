//! The command line, as clap definitions. The man pages in man/ are generated
//! from these (tests/man_pages.rs fails when they drift).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The version `--version` prints; a build for measuring the audit's cost
/// says that it writes no records.
const VERSION: &str = if cfg!(feature = "bench-no-audit") {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (bench-no-audit: writes no audit records)"
    )
} else {
    env!("CARGO_PKG_VERSION")
};

#[derive(Parser, Debug)]
#[command(
    name = "kmsfs",
    version = VERSION,
    about = "A local key management service (AWS KMS semantics) and an encrypted FUSE filesystem",
    long_about = "kmsfs keeps customer master keys in a SQLite key vault, decides who may use them with \
                  AWS-style key policies and grants for Unix users, and records every request, allowed or \
                  denied, in a CloudTrail-like audit log beside the vault.",
    after_long_help = "Exit status: 0 success; 1 the request was refused or failed (the message names the AWS \
                       exception, e.g. AccessDeniedException), or audit verify found the trail invalid; 2 the command line is wrong; 3 the vault, the audit \
                       log or a file could not be used.\n\nFiles: the vault (vault.db), its key file (vault.key, \
                       unless protected by a passphrase) and the audit log (audit/active.jsonl) share one directory."
)]
pub struct Cli {
    /// The key vault (default: /var/lib/kmsfs/vault.db for root, else $XDG_DATA_HOME/kmsfs/vault.db)
    #[arg(long, global = true, env = "KMSFS_VAULT", value_name = "PATH")]
    pub vault: Option<PathBuf>,

    /// Output format: text for people, json for scripts (the AWS CLI's response shapes)
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Read the vault passphrase from this file (first line) instead of prompting
    #[arg(
        long,
        global = true,
        env = "KMSFS_PASSPHRASE_FILE",
        value_name = "FILE"
    )]
    pub passphrase_file: Option<PathBuf>,

    /// More log output on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(flatten)]
    pub audit_trail: AuditTrailArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a key vault and its root key
    Init(InitArgs),
    /// Create, inspect, enable, disable, delete and rotate keys
    #[command(subcommand)]
    Key(KeyCommand),
    /// Friendly names for keys
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Key policies: who may use and manage a key
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Grants: narrower, revocable permissions for one principal
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Encrypt up to 4096 bytes under a key
    Encrypt(EncryptArgs),
    /// Decrypt a ciphertext blob (the key is found from the blob)
    Decrypt(DecryptArgs),
    /// Decrypt a ciphertext blob and encrypt it under another key, inside the service
    ReEncrypt(ReEncryptArgs),
    /// Generate a data key: its plaintext and its copy encrypted under a key
    GenerateDataKey(GenerateDataKeyArgs),
    /// Read the audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The guided walkthrough: a key, a volume, a refused read and its audit record (needs root)
    Demo,
    /// Encrypted volumes: backing directories of ciphertext objects
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Mount a volume: a FUSE daemon that returns once the mount is usable
    Mount(MountArgs),
    /// Unmount a mounted volume
    Umount(UmountArgs),
    /// Check every object of a volume: config, names, symlinks, headers, data keys, chunks
    Fsck(FsckArgs),
    /// The vault itself: change its passphrase or key file, back it up
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Make `mount -t fuse.kmsfs` and /etc/fstab work: a mount.fuse.kmsfs symlink to this program
    #[command(
        after_long_help = "The same as: ln -s \"$(command -v kmsfs)\" /sbin/mount.fuse.kmsfs. Then \
                           mount -t fuse.kmsfs BACKING MOUNTPOINT -o vault=PATH,passphrase-file=FILE,ro, or the \
                           fstab line: BACKING MOUNTPOINT fuse.kmsfs vault=PATH,nofail 0 0 (docs/OPERATIONS.md)."
    )]
    InstallHelper(InstallHelperArgs),
    /// Print a shell completion script: kmsfs completions bash > /etc/bash_completion.d/kmsfs
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct InstallHelperArgs {
    /// Where mount(8) looks for helpers
    #[arg(long, value_name = "DIR", default_value = "/sbin")]
    pub dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Protect the vault with a new root key: a new passphrase, or a new key file
    #[command(
        after_long_help = "Every key material version and the audit digest signing key are re-sealed under the \
                           new root key in one transaction: from its commit, the old passphrase or key file no \
                           longer opens the vault. Without --to-passphrase or --to-key-file the vault keeps its \
                           kind of protection (a passphrase vault asks for a new passphrase; a key-file vault gets \
                           a new key file). A new key file is written as vault.key.new and renamed over vault.key \
                           after the commit; if that is interrupted, the next open finishes it. Backups taken \
                           before the change still need the old passphrase or key file."
    )]
    Passwd {
        /// Switch to (or stay with) a passphrase
        #[arg(long, conflicts_with = "to_key_file")]
        to_passphrase: bool,
        /// Switch to (or stay with) a key file; a fresh one is made
        #[arg(long)]
        to_key_file: bool,
        /// Read the new passphrase from this file (first line) instead of prompting
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// An online, consistent copy of the vault database (SQLite's backup API), mode 0600
    #[command(
        after_long_help = "The copy is made while other kmsfs processes use the vault. The key file (vault.key) \
                           is NOT copied: a key-file vault's backup needs it, so keep a copy of it apart; a \
                           passphrase vault's backup opens with the passphrase in use at the time of the backup."
    )]
    Backup {
        /// Where to write the copy (must not exist)
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
#[command(
    after_long_help = "Every file's data key is unwrapped with a Decrypt request by the caller (one audit \
                       record per file) and every chunk is authenticated. Only reads the backing directory, so it \
                       also runs on a mounted volume. Damaged objects are named by their plaintext path where \
                       the names above them decrypt, otherwise by their backing path.\n\nExit status: 0 the \
                       volume is clean; 1 damage was found; 2 the check could not run (no volume, vault locked, \
                       key disabled or access denied)."
)]
pub struct FsckArgs {
    /// The volume's backing directory
    #[arg(value_name = "BACKING")]
    pub backing: PathBuf,
}

#[derive(Args, Debug)]
#[command(
    after_long_help = "Without --foreground, kmsfs starts the daemon in the background and exits 0 once the \
                       mount is usable, or prints the daemon's one error line and exits non-zero (no volume, \
                       vault locked, key disabled or pending deletion, mountpoint missing, not a directory or \
                       busy). The daemon unmounts cleanly on SIGINT, SIGTERM and SIGHUP (lazily if busy); on \
                       SIGUSR1 it logs one line, `kmsfs status: handles=N dirs=D data_keys=M nodes=K` \
                       (docs/OPERATIONS.md). Opening the volume is a Decrypt request by the mounting user; every later open of a \
                       file is a request by the user who opens it."
)]
pub struct MountArgs {
    /// The volume's backing directory
    #[arg(value_name = "BACKING")]
    pub backing: PathBuf,
    /// An existing directory to mount on
    #[arg(value_name = "MOUNTPOINT")]
    pub mountpoint: PathBuf,
    /// Stay attached: serve until unmounted or interrupted, logging to stderr
    #[arg(long)]
    pub foreground: bool,
    /// Mount read-only
    #[arg(long)]
    pub read_only: bool,
    /// Only the mounting user may use the mount (no allow_other)
    #[arg(long)]
    pub no_allow_other: bool,
    /// Do not let the kernel check mode bits (no default_permissions)
    #[arg(long)]
    pub no_default_permissions: bool,
    /// Refuse to mount unless the volume is encrypted under this key (any name form)
    #[arg(long, value_name = "KEY")]
    pub key_id: Option<String>,
    /// Internal: the pipe on which the background daemon reports readiness
    #[arg(long, hide = true, value_name = "FD", requires = "foreground")]
    pub ready_fd: Option<i32>,
    /// Internal: the pipe holding the vault passphrase read by the waiting parent
    #[arg(long, hide = true, value_name = "FD", requires = "ready_fd")]
    pub passphrase_fd: Option<i32>,
    #[command(flatten)]
    pub insights: InsightArgs,
}

/// How the mount daemon's live insights judge a window (docs/AUDIT.md, "Insights").
#[derive(Args, Debug, Clone)]
pub struct InsightArgs {
    /// Live insights: the window calls and errors are counted in (10s, 1m)
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub insight_window: chrono::Duration,
    /// Live insights: the span before a window its baseline is taken from
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub insight_baseline: chrono::Duration,
    /// Live insights: a window stands out at mean + max(SIGMA x deviation, MIN_EXCESS)
    #[arg(long, value_name = "SIGMA", default_value_t = 3.0)]
    pub insight_sigma: f64,
    /// Live insights: the least count above the mean that stands out
    #[arg(long, value_name = "MIN_EXCESS", default_value_t = 10.0)]
    pub insight_min_excess: f64,
}

#[derive(Args, Debug)]
pub struct UmountArgs {
    /// Where the volume is mounted
    #[arg(value_name = "MOUNTPOINT")]
    pub mountpoint: PathBuf,
    /// Detach even if busy; the daemon exits when the last open file is closed
    #[arg(long)]
    pub lazy: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CipherArg {
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    #[value(name = "xchacha20-poly1305")]
    XChaCha20Poly1305,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Make an empty directory a volume whose files are encrypted under a key
    Create {
        /// The backing directory (must be empty)
        #[arg(value_name = "BACKING")]
        backing: PathBuf,
        #[command(flatten)]
        key: KeyIdArg,
        /// The content cipher
        #[arg(long, value_enum, default_value_t = CipherArg::Aes256Gcm)]
        cipher: CipherArg,
        /// Plaintext bytes per chunk: a power of two from 4096 to 1048576
        #[arg(long, value_name = "BYTES", default_value_t = crate::format::object::DEFAULT_CHUNK_SIZE)]
        chunk_size: u32,
    },
    /// Show a volume's config
    Info {
        #[arg(value_name = "BACKING")]
        backing: PathBuf,
    },
    /// Re-wrap every file's data key under the newest material of the volume's key, or another key
    #[command(
        after_long_help = "Content is not re-encrypted: each wrapped data key is re-wrapped inside the KMS, one \
                           ReEncrypt request (and audit record) per file, and its header replaced in place. With \
                           --key-id, the name key in the config is re-wrapped too and the key becomes the \
                           volume's key (the config is replaced first, atomically). Interrupted, a rerun (with or \
                           without --key-id) finishes the job: files already under the newest material are \
                           skipped. It works on a mounted volume; files the mount creates before it is remounted \
                           stay under the key it was mounted with, so rerun after a remount (docs/OPERATIONS.md)."
    )]
    Rewrap {
        #[arg(value_name = "BACKING")]
        backing: PathBuf,
        /// Move the volume to this key (default: the volume's key, at its newest material version)
        #[arg(long, value_name = "KEY")]
        key_id: Option<String>,
        /// Only count what would be re-wrapped; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Derive the root key from a passphrase (Argon2id) instead of a key file
    #[arg(long)]
    pub passphrase: bool,
}

#[derive(Args, Debug)]
pub struct KeyIdArg {
    /// The key: key id, key ARN, alias name (alias/NAME) or alias ARN
    #[arg(long, value_name = "KEY")]
    pub key_id: String,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a key with the console's default policy
    Create {
        /// An alias for the new key (alias/NAME)
        #[arg(long, value_name = "alias/NAME")]
        alias: Option<String>,
        /// What the key is for
        #[arg(long, default_value = "", value_name = "TEXT")]
        description: String,
        /// A key administrator (user:NAME, uid:N, group:NAME, gid:N); repeatable
        #[arg(long = "admin", value_name = "PRINCIPAL")]
        admins: Vec<String>,
        /// A key user (user:NAME, uid:N, group:NAME, gid:N); repeatable
        #[arg(long = "user", value_name = "PRINCIPAL")]
        users: Vec<String>,
    },
    /// List the keys of the vault
    List,
    /// Show a key's metadata
    Describe(KeyIdArg),
    /// Enable a disabled key
    Enable(KeyIdArg),
    /// Disable a key: every cryptographic use fails until it is enabled again
    Disable(KeyIdArg),
    /// Schedule a key's deletion after a waiting period of 7 to 30 days
    ScheduleDeletion {
        #[command(flatten)]
        key: KeyIdArg,
        /// Days before the key material is destroyed (7..=30)
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        pending_window_days: u32,
    },
    /// Cancel a scheduled deletion; the key becomes Disabled
    CancelDeletion(KeyIdArg),
    /// Change a key's description
    UpdateDescription {
        #[command(flatten)]
        key: KeyIdArg,
        #[arg(long, value_name = "TEXT")]
        description: String,
    },
    /// Rotate now: new key material; older versions still decrypt
    Rotate(KeyIdArg),
    /// Automatic rotation settings
    #[command(subcommand)]
    Rotation(RotationCommand),
    /// List a key's material versions
    Rotations(KeyIdArg),
}

#[derive(Subcommand, Debug)]
pub enum RotationCommand {
    /// Rotate the key automatically every period
    Enable {
        #[command(flatten)]
        key: KeyIdArg,
        /// Days between rotations (90..=2560)
        #[arg(long, value_name = "DAYS", default_value_t = 365)]
        period_days: u32,
    },
    /// Stop rotating the key automatically
    Disable(KeyIdArg),
    /// Show whether and when the key rotates
    Status(KeyIdArg),
}

#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Create an alias for a key
    Create {
        /// alias/NAME
        #[arg(long, value_name = "alias/NAME")]
        alias_name: String,
        /// The key id or key ARN the alias points to
        #[arg(long, value_name = "KEY")]
        target_key_id: String,
    },
    /// Point an alias at another key
    Update {
        #[arg(long, value_name = "alias/NAME")]
        alias_name: String,
        #[arg(long, value_name = "KEY")]
        target_key_id: String,
    },
    /// Delete an alias (the key stays)
    Delete {
        #[arg(long, value_name = "alias/NAME")]
        alias_name: String,
    },
    /// List aliases, of every key or of one
    List {
        #[arg(long, value_name = "KEY")]
        key_id: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct PrincipalEditArgs {
    #[command(flatten)]
    pub key: KeyIdArg,
    /// user:NAME, uid:N, group:NAME, gid:N or *
    #[arg(value_name = "PRINCIPAL")]
    pub principal: String,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print a key's policy
    Get(KeyIdArg),
    /// Replace a key's policy with a JSON document (validated)
    Put {
        #[command(flatten)]
        key: KeyIdArg,
        #[arg(long, value_name = "FILE")]
        policy_file: PathBuf,
        /// Store a policy even if it leaves you unable to change it again
        #[arg(long)]
        bypass_policy_lockout_safety_check: bool,
    },
    /// Add a key user (may use the key for cryptography)
    AddUser(PrincipalEditArgs),
    /// Remove a key user
    RemoveUser(PrincipalEditArgs),
    /// Add a key administrator (may manage, not use, the key)
    AddAdmin(PrincipalEditArgs),
    /// Remove a key administrator
    RemoveAdmin(PrincipalEditArgs),
    /// Say whether a principal may perform an action, and which statement or grant decides
    Simulate {
        #[command(flatten)]
        key: KeyIdArg,
        /// user:NAME or uid:N
        #[arg(long, value_name = "PRINCIPAL")]
        principal: String,
        /// A KMS action, e.g. kms:Decrypt
        #[arg(long, value_name = "ACTION")]
        action: String,
        /// KEY=VALUE; repeatable
        #[arg(long = "encryption-context", value_name = "KEY=VALUE")]
        encryption_context: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum GrantCommand {
    /// Allow a principal some operations on a key
    Create {
        #[command(flatten)]
        key: KeyIdArg,
        /// user:NAME, uid:N, group:NAME, gid:N
        #[arg(long, value_name = "PRINCIPAL")]
        grantee: String,
        /// Comma-separated: Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext,
        /// ReEncryptFrom, ReEncryptTo, CreateGrant, RetireGrant, DescribeKey
        #[arg(long, value_delimiter = ',', required = true, value_name = "OPS")]
        operations: Vec<String>,
        /// Who else may retire the grant
        #[arg(long, value_name = "PRINCIPAL")]
        retiring_principal: Option<String>,
        /// A name for the grant
        #[arg(long)]
        name: Option<String>,
        /// Only requests with exactly this encryption context; repeatable KEY=VALUE
        #[arg(long = "encryption-context-equals", value_name = "KEY=VALUE")]
        encryption_context_equals: Vec<String>,
        /// Only requests whose encryption context includes these pairs; repeatable KEY=VALUE
        #[arg(long = "encryption-context-subset", value_name = "KEY=VALUE")]
        encryption_context_subset: Vec<String>,
    },
    /// List a key's grants
    List(KeyIdArg),
    /// Revoke a grant (needs kms:RevokeGrant on the key)
    Revoke {
        #[command(flatten)]
        key: KeyIdArg,
        #[arg(long, value_name = "ID")]
        grant_id: String,
    },
    /// Retire a grant by its token (the grantee or the retiring principal)
    Retire {
        #[arg(long, value_name = "TOKEN")]
        grant_token: String,
    },
}

#[derive(Args, Debug)]
pub struct ContextArgs {
    /// Encryption context pair KEY=VALUE; repeatable
    #[arg(long = "encryption-context", value_name = "KEY=VALUE")]
    pub encryption_context: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub key: KeyIdArg,
    /// The plaintext (1 to 4096 bytes)
    #[arg(long, value_name = "FILE")]
    pub plaintext_file: PathBuf,
    #[command(flatten)]
    pub context: ContextArgs,
    /// Write the raw ciphertext blob here (text output prints it in base64 otherwise)
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// The ciphertext blob, raw or base64
    #[arg(long, value_name = "FILE")]
    pub ciphertext_file: PathBuf,
    #[command(flatten)]
    pub context: ContextArgs,
    /// Refuse unless the blob was made under this key
    #[arg(long, value_name = "KEY")]
    pub key_id: Option<String>,
    /// Write the plaintext here (text output writes it raw to stdout otherwise)
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReEncryptArgs {
    /// The ciphertext blob, raw or base64
    #[arg(long, value_name = "FILE")]
    pub ciphertext_file: PathBuf,
    /// The key to encrypt under
    #[arg(long, value_name = "KEY")]
    pub destination_key_id: String,
    /// The blob's encryption context, KEY=VALUE; repeatable
    #[arg(long = "source-encryption-context", value_name = "KEY=VALUE")]
    pub source_encryption_context: Vec<String>,
    /// The new blob's encryption context, KEY=VALUE; repeatable
    #[arg(long = "destination-encryption-context", value_name = "KEY=VALUE")]
    pub destination_encryption_context: Vec<String>,
    /// Write the raw new blob here
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeySpecArg {
    #[value(name = "AES_256")]
    Aes256,
    #[value(name = "AES_128")]
    Aes128,
}

#[derive(Args, Debug)]
pub struct GenerateDataKeyArgs {
    #[command(flatten)]
    pub key: KeyIdArg,
    /// AES_256 (default) or AES_128
    #[arg(long, value_enum, conflicts_with = "number_of_bytes")]
    pub key_spec: Option<KeySpecArg>,
    /// A data key of this many bytes (1..=1024)
    #[arg(long, value_name = "N")]
    pub number_of_bytes: Option<usize>,
    #[command(flatten)]
    pub context: ContextArgs,
    /// Only the encrypted copy (GenerateDataKeyWithoutPlaintext)
    #[arg(long)]
    pub without_plaintext: bool,
}

/// How the audit trail is written and delivered; every command that opens the
/// vault rolls and signs what is due with these settings.
#[derive(Args, Debug, Clone)]
pub struct AuditTrailArgs {
    /// When audit records are fsync'd: after every record (always) or at most a second apart (interval)
    #[arg(long, global = true, value_enum, env = "KMSFS_AUDIT_SYNC", default_value_t = AuditSync::Interval)]
    pub audit_sync: AuditSync,
    /// Roll the active audit log into a gzip log file once its oldest record is this old (30s, 5m, 1h)
    #[arg(long, global = true, env = "KMSFS_AUDIT_ROTATE_INTERVAL", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub audit_rotate_interval: chrono::Duration,
    /// Roll the active audit log once it is this many bytes
    #[arg(long, global = true, env = "KMSFS_AUDIT_ROTATE_SIZE", value_name = "BYTES", default_value_t = 32 * 1024 * 1024)]
    pub audit_rotate_size: u64,
    /// Write a signed digest at each multiple of this since the epoch (1h: on the hour)
    #[arg(long, global = true, env = "KMSFS_AUDIT_DIGEST_INTERVAL", value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub audit_digest_interval: chrono::Duration,
    /// Also write a digest after every roll
    #[arg(long, global = true, env = "KMSFS_AUDIT_DIGEST_EVERY_ROLL")]
    pub audit_digest_every_roll: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditSync {
    Always,
    Interval,
}

/// `90s`, `5m`, `1h`, `2d`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let count: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 30s, 5m, 1h or 2d"))?;
    let duration = match unit {
        "s" => chrono::Duration::seconds(count),
        "m" => chrono::Duration::minutes(count),
        "h" => chrono::Duration::hours(count),
        "d" => chrono::Duration::days(count),
        _ => return Err(format!("'{text}': the unit must be s, m, h or d")),
    };
    if count == 0 {
        return Err("the duration must be more than zero".into());
    }
    Ok(duration)
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Find records, newest first, in the rolled log files and the active log
    Lookup(LookupArgs),
    /// Roll the active log into a gzip log file now (and write a digest with --digest)
    Flush {
        /// Also write a signed digest now
        #[arg(long)]
        digest: bool,
    },
    /// Check the digest chain and every log file, like aws cloudtrail validate-logs; exit 0 only when all are valid
    Verify(VerifyArgs),
    /// Print the public key that verifies digest signatures (PEM)
    PublicKey,
    /// Print records as they are written
    Tail {
        /// Keep printing new records until interrupted
        #[arg(short, long)]
        follow: bool,
        /// How many of the newest records to print first
        #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
        lines: usize,
    },
    /// Per user and per key, windows whose Decrypt/GenerateDataKey or error counts stand out from the baseline
    Insights {
        #[command(flatten)]
        range: TimeRangeArgs,
        /// Window length in minutes
        #[arg(long, value_name = "MINUTES", default_value_t = 1)]
        window_minutes: u32,
    },
    /// Delete log and digest files older than DAYS; the kept chain still verifies
    Prune {
        /// Keep the files of the last DAYS days
        #[arg(long, value_name = "DAYS")]
        older_than: u32,
    },
}

#[derive(Args, Debug)]
#[command(
    after_long_help = "Exit status: 0 every file in range is valid; 1 the trail is invalid (the INVALID lines \
                       name each file and why); 3 the check could not run (no vault, unreadable files).\n\n\
                       With --public-key FILE (the PEM of kmsfs audit public-key) no vault is opened: the audit \
                       directory is the one beside --vault, the chain is followed from the newest digest found, \
                       and the ledger check is skipped (the output says so), so deleting the newest digests and \
                       log files delivered after the newest digest are not detected."
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub range: TimeRangeArgs,
    /// Verify with this public key (PEM) instead of the vault's; the ledger check is skipped
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TimeRangeArgs {
    /// RFC 3339 time, e.g. 2026-11-24T07:00:00Z
    #[arg(long, value_name = "TIME")]
    pub start_time: Option<String>,
    /// RFC 3339 time
    #[arg(long, value_name = "TIME")]
    pub end_time: Option<String>,
}

#[derive(Args, Debug)]
pub struct LookupArgs {
    /// eventName, e.g. Decrypt
    #[arg(long, value_name = "NAME")]
    pub event_name: Option<String>,
    /// User name or uid
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The key, in any form
    #[arg(long, value_name = "KEY")]
    pub key_id: Option<String>,
    /// Glob on the file path in the encryption context
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    /// Only records with this errorCode (AccessDenied, DisabledException, ...)
    #[arg(long, value_name = "CODE")]
    pub error_code: Option<String>,
    /// Only refused or failed requests
    #[arg(long)]
    pub errors_only: bool,
    /// Only readOnly (true) or only changing (false) requests
    #[arg(long, value_name = "BOOL")]
    pub read_only: Option<bool>,
    /// RFC 3339 time, e.g. 2026-11-24T07:00:00Z
    #[arg(long, value_name = "TIME")]
    pub start_time: Option<String>,
    /// RFC 3339 time
    #[arg(long, value_name = "TIME")]
    pub end_time: Option<String>,
    /// At most this many records
    #[arg(long, value_name = "N")]
    pub max: Option<usize>,
}
