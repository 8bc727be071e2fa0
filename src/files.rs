//! Files gazette creates hold members' mail, addresses and keys: they are
//! made readable by their owner only (files 0600, directories 0700),
//! whatever the umask. Files that exist already keep their permissions
//! (an operator may have chosen them); a world-readable database or key
//! gets a warning.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Creates `dir` and any missing parents, each new one 0700.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir)
}

/// Options that create a new file 0600 (and fail if it exists).
pub fn new_private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    o
}

/// Writes `bytes` to `path` as a new 0600 file, completely or not at all:
/// written beside it, synced, then linked into place, which fails when
/// `path` exists. `Ok(false)` means another process made it first.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let tmp = sibling(
        path,
        &format!(".tmp-{}-{:08x}", std::process::id(), rand::random::<u32>()),
    );
    let written = (|| {
        let mut f = new_private_file().open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    let linked = written.and_then(|_| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// `path` with `suffix` added to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// A warning when `path` can be read by others than its owner.
pub fn readable_by_others(path: &Path, what: &str) -> Option<String> {
    #[cfg(unix)]
    {
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "{what} {} can be read by other users (mode {:o}); make it private with: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    let _ = (path, what);
    None
}

/// The file of a SQLite database URL; `None` for PostgreSQL and for
/// in-memory databases.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    use std::str::FromStr;
    if !url.starts_with("sqlite:") {
        return None;
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = opts.get_filename();
    let name = file.to_string_lossy();
    if name == ":memory:" || name.starts_with("file:sqlx-in-memory") || name.is_empty() {
        return None;
    }
    Some(file.to_path_buf())
}

/// Before SQLite opens a database it may create (`mode=rwc`): makes the
/// file empty and 0600, so the database, its `-wal` and its `-shm` (SQLite
/// gives those the database's permissions) are private from the start.
/// Returns a warning for an existing database others can read.
pub fn prepare_sqlite(url: &str) -> Option<String> {
    let file = sqlite_file(url)?;
    if file.exists() {
        return readable_by_others(&file, "the database");
    }
    let creates = url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|p| p == "mode=rwc"));
    let dir_exists = file
        .parent()
        .is_none_or(|d| d.as_os_str().is_empty() || d.is_dir());
    if creates && dir_exists {
        // Another process may win the race; then its file is used.
        let _ = new_private_file().open(&file);
    }
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_directories_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_private_dir_all(&sub).unwrap();
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        let f = sub.join("key");
        assert!(write_new_private(&f, b"one").unwrap());
        assert!(!write_new_private(&f, b"two").unwrap(), "never overwritten");
        assert_eq!(std::fs::read(&f).unwrap(), b"one");
        assert_eq!(mode(&f), 0o600);
        assert_eq!(
            std::fs::read_dir(&sub).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(&f, "the key")
            .unwrap()
            .contains("chmod 600"));
    }

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            sqlite_file("sqlite://gazette.db?mode=rwc"),
            Some(PathBuf::from("gazette.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/g/g.db"),
            Some(PathBuf::from("/var/lib/g/g.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
