//! Unit tests of the pure parts: permissions, paths, generated files.

use super::lifecycle::percent_encode;
use super::*;

fn stranger() -> PgUser {
    // Someone who is neither the owner nor in the group of our files.
    let me = current_euid().unwrap();
    PgUser {
        name: "stranger".into(),
        uid: me + 54_321,
        gid: 4_000_000_000,
        groups: vec![4_000_000_000],
    }
}

/// A fresh directory under /tmp (named `prefix`...), and its canonical path.
fn temp_base(prefix: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    (tmp, base)
}

#[test]
fn traversal_check_finds_a_mode_700_directory() {
    let (_tmp, base) = temp_base("cognate-trav-");
    fs::set_permissions(&base, fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = base.join("checkout").join(".cognate").join("postgres");
    let user = stranger();

    let blocked = first_untraversable(&data_dir, &user).expect("700 must block");
    assert_eq!(blocked.dir, base);
    assert_eq!(blocked.mode, 0o700);
    let msg = unreachable_message(&data_dir, &blocked, &user);
    assert!(msg.contains("database.data_dir"), "{msg}");
    assert!(msg.contains("COGNATE__DATABASE__DATA_DIR"), "{msg}");

    // Execute permission for others is all it takes.
    fs::set_permissions(&base, fs::Permissions::from_mode(0o711)).unwrap();
    assert_eq!(first_untraversable(&data_dir, &user), None);

    // A deeper existing directory is checked too; group bits count for members.
    let checkout = base.join("checkout");
    fs::create_dir(&checkout).unwrap();
    fs::set_permissions(&checkout, fs::Permissions::from_mode(0o750)).unwrap();
    assert_eq!(first_untraversable(&data_dir, &user).unwrap().dir, checkout);
    let gid = fs::metadata(&checkout).unwrap().gid();
    let member = PgUser {
        groups: vec![gid],
        ..user.clone()
    };
    assert_eq!(first_untraversable(&data_dir, &member), None);
}

#[test]
fn may_traverse_follows_owner_group_other() {
    let user = PgUser {
        name: "pg".into(),
        uid: 101,
        gid: 104,
        groups: vec![104, 103],
    };
    assert!(may_traverse(0o700, 101, 0, &user));
    assert!(!may_traverse(0o600, 101, 0, &user));
    assert!(may_traverse(0o710, 0, 103, &user));
    assert!(!may_traverse(0o701, 0, 103, &user)); // group bits apply, not other
    assert!(may_traverse(0o701, 0, 0, &user));
    assert!(!may_traverse(0o770, 0, 0, &user));
}

#[test]
fn default_dir_falls_back_only_when_unreachable() {
    let (_tmp, base) = temp_base("cognate-cwd-");
    let cwd = base.join("home");
    let fallback = base.join("varlib");
    fs::create_dir(&cwd).unwrap();
    fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&cwd, fs::Permissions::from_mode(0o755)).unwrap();
    let me = current_euid().unwrap();
    let gid = fs::metadata(&base).unwrap().gid();
    // Stands in for the postgres user: not the owner, but in the group.
    let user = PgUser {
        name: "me".into(),
        uid: me + 1,
        gid,
        groups: vec![gid],
    };

    assert_eq!(
        data_dir_for(&cwd, None, &fallback),
        cwd.join(".cognate/postgres")
    );
    assert_eq!(
        data_dir_for(&cwd, Some(&user), &fallback),
        cwd.join(".cognate/postgres")
    );

    fs::set_permissions(&cwd, fs::Permissions::from_mode(0o700)).unwrap();
    let dir = data_dir_for(&cwd, Some(&user), &fallback);
    assert!(dir.starts_with(&fallback), "{}", dir.display());
    assert!(dir.ends_with("postgres"));
    // Stable for the same directory.
    assert_eq!(dir, data_dir_for(&cwd, Some(&user), &fallback));
    if me == 0 {
        let meta = fs::metadata(&dir).unwrap();
        assert_eq!(meta.uid(), user.uid);
        assert_eq!(meta.mode() & 0o777, 0o700);
        // The directories leading there stay reachable.
        assert_eq!(first_untraversable(&dir, &user), None);
    }
    fs::set_permissions(&cwd, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn pg_hba_never_trusts_and_has_tcp_only_when_asked() {
    for (tcp, tls) in [(false, false), (true, false), (true, true)] {
        let text = hba_text(tcp, tls);
        let rules: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(rules.iter().all(|r| r.last() == Some(&"scram-sha-256")));
        assert_eq!(rules[0], ["local", "all", "all", "scram-sha-256"]);
        match (tcp, tls) {
            (false, _) => assert_eq!(rules.len(), 1, "{text}"),
            (true, false) => assert_eq!(rules[1][..2], ["host", "all"]),
            (true, true) => assert_eq!(rules[1][..2], ["hostssl", "all"]),
        }
    }
}

#[test]
fn the_password_file_is_made_private_reused_and_refused_when_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("postgres.password");
    let me = current_euid().unwrap();
    let first = load_or_create_password(&path, me).unwrap();
    assert_eq!(first.0.len(), PASSWORD_BYTES * 2);
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    assert_eq!(load_or_create_password(&path, me).unwrap(), first);
    assert_eq!(format!("{first:?}"), "Password(..)", "never printed");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let err = load_or_create_password(&path, me).unwrap_err();
    assert!(format!("{err:#}").contains("refusing"), "{err:#}");
    // A damaged file (an interrupted first write) gets a new password.
    fs::write(&path, "").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert_ne!(load_or_create_password(&path, me).unwrap(), first);
    assert_eq!(
        password_file_for(Path::new("/a/b/postgres")).unwrap(),
        PathBuf::from("/a/b/postgres.password")
    );
}

#[test]
fn server_options_close_tcp_and_survive_the_shell() {
    let info = ConnectInfo {
        socket_dir: PathBuf::from("/tmp/it's here"),
        port: 5432,
        tcp_port: None,
        password: Password("x".repeat(16)),
    };
    let opts = server_options(Path::new("/d"), &info);
    assert!(opts.contains("-c 'hba_file=/d/pg_hba.conf'"), "{opts}");
    assert!(opts.contains("-c 'listen_addresses='"), "{opts}");
    assert!(
        opts.contains(r#"-c 'unix_socket_directories="/tmp/it'\''s here"'"#),
        "{opts}"
    );
    assert!(
        !opts.contains(&info.password.0),
        "no password on the command line"
    );
    let url = info.url_for("db");
    assert_eq!(
        url,
        format!(
            "postgres://postgres:{}@%2Ftmp%2Fit%27s%20here:5432/db",
            "x".repeat(16)
        )
    );
    assert_eq!(info.tcp_url_for("db"), None);
    assert_eq!(shell_quote("a'b"), r"'a'\''b'");
}

#[test]
fn a_data_dir_too_long_for_a_socket_gets_a_private_socket_dir() {
    let tmp = tempfile::Builder::new()
        .prefix("cognate-sock-")
        .tempdir_in("/tmp")
        .unwrap();
    let short = tmp.path().join("pg");
    assert_eq!(socket_dir_for(&short, None).unwrap(), short);
    let long = tmp.path().join("x".repeat(100));
    let dir = socket_dir_for(&long, None).unwrap();
    assert!(
        dir.to_str().unwrap().starts_with("/tmp/cognate-pg-"),
        "{}",
        dir.display()
    );
    let meta = fs::symlink_metadata(&dir).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(socket_dir_for(&long, None).unwrap(), dir, "stable");
    fs::remove_dir(&dir).unwrap();
}

#[test]
fn helpers() {
    assert_eq!(
        parse_major_version("pg_ctl (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)\n").as_deref(),
        Some("15")
    );
    assert_eq!(
        parse_major_version("pg_ctl (PostgreSQL) 17devel").as_deref(),
        Some("17")
    );
    assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    assert_eq!(percent_encode("cognate_1"), "cognate_1");
    assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    assert_eq!(
        absolute_path(Path::new("/a/./b/../c")).unwrap(),
        PathBuf::from("/a/c")
    );
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
}
