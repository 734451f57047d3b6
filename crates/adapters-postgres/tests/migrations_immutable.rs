//! A migration that has landed never changes: every file of every migration is pinned by its
//! sha256 in `tests/migrations.sha256`, and a new migration is pinned when it lands.
//!
//! Diesel applies a migration once, by version: a database that applied a migration never sees a
//! later edit of its text (2025-01-03-000000_money_functions was edited twice after landing and
//! 2025-01-04-000000_sold_once once; their edits now live in
//! 2025-01-08-000000_money_functions_edits and 2025-01-08-000001_sold_once_edits). No database is
//! needed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The checked-in list, in `sha256sum` format (paths relative to `migrations/`).
const PINNED: &str = include_str!("migrations.sha256");

const NEVER_CHANGES: &str =
    "a migration that landed never changes: put the change in a new migration";

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

/// `path relative to migrations/` → sha256 (hex) from the list; `#` lines are comments.
fn pinned(list: &str) -> BTreeMap<String, String> {
    list.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (hash, path) = line
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("malformed line in migrations.sha256: {line}"));
            (
                path.trim_start_matches([' ', '*']).to_owned(),
                hash.to_owned(),
            )
        })
        .collect()
}

/// Every file of every migration directory: `dir/file` → sha256 (hex).
fn on_disk(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for migration in std::fs::read_dir(dir).expect("read migrations/") {
        let migration = migration.unwrap().path();
        if !migration.is_dir() {
            continue;
        }
        let name = migration
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for file in std::fs::read_dir(&migration).unwrap() {
            let file = file.unwrap().path();
            let bytes = std::fs::read(&file).unwrap();
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(
                format!("{name}/{file_name}"),
                hex::encode(Sha256::digest(&bytes)),
            );
        }
    }
    files
}

/// What is wrong between the list and the files, one message per problem (empty: all pinned).
fn problems(pinned: &BTreeMap<String, String>, actual: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, hash) in pinned {
        match actual.get(path) {
            Some(now) if now == hash => {}
            Some(_) => out.push(format!("migrations/{path} changed: {NEVER_CHANGES}")),
            None => out.push(format!("migrations/{path} is gone: {NEVER_CHANGES}")),
        }
    }
    let unlisted: Vec<_> = actual
        .iter()
        .filter(|(path, _)| !pinned.contains_key(*path))
        .collect();
    if !unlisted.is_empty() {
        let lines: String = unlisted
            .iter()
            .map(|(path, hash)| format!("{hash}  {path}\n"))
            .collect();
        out.push(format!(
            "migration files not listed yet: add their lines to \
             crates/adapters-postgres/tests/migrations.sha256 (once a migration lands, it never \
             changes):\n{lines}"
        ));
    }
    out
}

#[test]
fn every_migration_is_pinned_and_unchanged() {
    // Arrange
    let list = pinned(PINNED);
    // Act
    let found = problems(&list, &on_disk(&migrations_dir()));
    // Assert
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn every_migration_has_an_up_and_a_down() {
    // Arrange
    let files = on_disk(&migrations_dir());
    let migrations: std::collections::BTreeSet<_> = files
        .keys()
        .filter_map(|path| path.split_once('/').map(|(dir, _)| dir.to_owned()))
        .collect();
    // Act
    let missing: Vec<_> = migrations
        .iter()
        .flat_map(|dir| ["up.sql", "down.sql"].map(|file| format!("{dir}/{file}")))
        .filter(|path| !files.contains_key(path))
        .collect();
    // Assert
    assert!(missing.is_empty(), "missing migration files: {missing:?}");
}

// ------------------------------------------------------------------ the check itself can fail

fn listing(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(path, hash)| ((*path).to_owned(), (*hash).to_owned()))
        .collect()
}

#[test]
fn a_changed_migration_is_named_and_refused() {
    // Arrange
    let list = listing(&[
        ("2025-01-01-000000_a/up.sql", "aa"),
        ("2025-01-01-000000_a/down.sql", "bb"),
    ]);
    let actual = listing(&[
        ("2025-01-01-000000_a/up.sql", "ab"),
        ("2025-01-01-000000_a/down.sql", "bb"),
    ]);
    // Act
    let found = problems(&list, &actual);
    // Assert
    assert_eq!(
        found,
        [format!(
            "migrations/2025-01-01-000000_a/up.sql changed: {NEVER_CHANGES}"
        )]
    );
}

#[test]
fn a_removed_migration_is_refused() {
    // Arrange
    let list = listing(&[("2025-01-01-000000_a/up.sql", "aa")]);
    // Act
    let found = problems(&list, &BTreeMap::new());
    // Assert
    assert_eq!(
        found,
        [format!(
            "migrations/2025-01-01-000000_a/up.sql is gone: {NEVER_CHANGES}"
        )]
    );
}

#[test]
fn an_unlisted_migration_is_asked_for_its_lines() {
    // Arrange
    let list = listing(&[("2025-01-01-000000_a/up.sql", "aa")]);
    let actual = listing(&[
        ("2025-01-01-000000_a/up.sql", "aa"),
        ("2025-01-02-000000_b/up.sql", "cc"),
    ]);
    // Act
    let found = problems(&list, &actual);
    // Assert
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("add their lines"), "{}", found[0]);
    assert!(
        found[0].contains("cc  2025-01-02-000000_b/up.sql\n"),
        "{}",
        found[0]
    );
}

#[test]
fn the_list_reads_sha256sum_output() {
    // Arrange
    let list = "# comment\n\nabc  2025-01-01-000000_a/up.sql\ndef *2025-01-01-000000_a/down.sql\n";
    // Act
    let parsed = pinned(list);
    // Assert
    assert_eq!(
        parsed,
        listing(&[
            ("2025-01-01-000000_a/up.sql", "abc"),
            ("2025-01-01-000000_a/down.sql", "def")
        ])
    );
}
