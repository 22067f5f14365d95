//! Extended attributes of a file, by path (following symlinks): the volume
//! keeps a copy of each backing directory's id in one.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Calls `call` with `path` and `name` as C strings; its -1 as the error in errno.
fn call_with(
    path: &Path,
    name: &str,
    call: impl FnOnce(&CStr, &CStr) -> isize,
) -> io::Result<usize> {
    let c_string =
        |bytes: &[u8]| CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
    let (path, name) = (
        c_string(path.as_os_str().as_bytes())?,
        c_string(name.as_bytes())?,
    );
    usize::try_from(call(&path, &name)).map_err(|_| io::Error::last_os_error())
}

/// Reads attribute `name` of `path` into `value`; its length. ERANGE when
/// the value is longer than `value`, ENODATA when there is none.
pub fn get_xattr(path: &Path, name: &str, value: &mut [u8]) -> io::Result<usize> {
    call_with(path, name, |path, name| {
        // SAFETY: both strings are NUL-terminated and outlive the call; the
        // kernel writes at most value.len() bytes into value.
        unsafe {
            libc::getxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        }
    })
}

/// Sets attribute `name` of `path` to `value`, creating or replacing it.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    call_with(path, name, |path, name| {
        let flags = 0;
        let value_ptr = value.as_ptr().cast();
        // SAFETY: both strings are NUL-terminated and outlive the call; the
        // kernel reads value.len() bytes of value.
        unsafe {
            libc::setxattr(path.as_ptr(), name.as_ptr(), value_ptr, value.len(), flags) as isize
        }
    })
    .map(drop)
}

/// Removes attribute `name` of `path`.
pub fn remove_xattr(path: &Path, name: &str) -> io::Result<()> {
    call_with(path, name, |path, name| {
        // SAFETY: both strings are NUL-terminated and outlive the call.
        unsafe { libc::removexattr(path.as_ptr(), name.as_ptr()) as isize }
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attribute_is_set_read_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let name = "user.kmsfs.test";
        let mut value = [0u8; 8];
        let missing = get_xattr(path, name, &mut value).unwrap_err();
        assert_eq!(missing.raw_os_error(), Some(libc::ENODATA));
        set_xattr(path, name, b"first").unwrap();
        assert_eq!(get_xattr(path, name, &mut value).unwrap(), 5);
        assert_eq!(&value[..5], b"first");
        set_xattr(path, name, b"a longer one").unwrap();
        let too_long = get_xattr(path, name, &mut value).unwrap_err();
        assert_eq!(too_long.raw_os_error(), Some(libc::ERANGE));
        remove_xattr(path, name).unwrap();
        assert!(get_xattr(path, name, &mut value).is_err());
        assert!(set_xattr(&path.join("gone"), name, b"x").is_err());
    }
}
