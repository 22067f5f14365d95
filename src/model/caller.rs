//! Who makes a request: a Unix user with its groups and the calling process.

/// The identity a request is authorized and audited as. Names are resolved once,
/// when the request arrives (`sys::identity`), so that policy evaluation stays pure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    /// The user's name, if the uid has one in the user database.
    pub user_name: Option<String>,
    /// The primary gid.
    pub gid: u32,
    /// Supplementary gids (may include the primary one).
    pub groups: Vec<u32>,
    /// Names of the primary and supplementary groups that have one.
    pub group_names: Vec<String>,
    /// The calling process, when known.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub exe: Option<String>,
}

impl Caller {
    /// `user:NAME`, or `uid:N` for a uid without a name.
    pub fn principal(&self) -> String {
        match &self.user_name {
            Some(name) => format!("user:{name}"),
            None => format!("uid:{}", self.uid),
        }
    }

    /// Whether the caller is in group `gid`, as primary or supplementary group.
    pub fn in_gid(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}
