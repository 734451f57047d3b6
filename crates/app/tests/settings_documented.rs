//! The settings tables of the README and of docs/operations.md say what
//! `concert-reservation --help` says: the command line (the clap struct in `config.rs`) is the
//! one declaration of every setting, and the tables are checked against it.
//!
//! A table's default cell is the setting's `[default: …]` as `--help`
//! prints it (declared by clap, or written in the setting's help text; backticks aside), or `unset`
//! for a setting without one.

use std::collections::BTreeMap;
use std::process::Command;

/// One setting as `--help` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    /// Its flag, such as `--hold-ttl-secs`.
    flag: String,
    /// What its default cell must say.
    default: String,
}

/// `--help` of the binary, run without any of our variables in the environment.
fn help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_concert-reservation"))
        .arg("--help")
        .env_clear()
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "--help failed: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The text after `[default: ` up to its closing bracket.
fn bracketed_default(text: &str) -> Option<String> {
    let start = text.rfind("[default: ")? + "[default: ".len();
    let end = text[start..].find(']')? + start;
    Some(text[start..end].replace('`', "").trim().to_owned())
}

/// Every setting of `--help` by variable name: its option block's `[env: NAME]` and
/// `[default: …]`.
fn settings_in_help(help: &str) -> BTreeMap<String, Setting> {
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with("--") || (t.starts_with('-') && t.contains(", --")) {
            blocks.push(vec![line]);
        } else if let Some(block) = blocks.last_mut() {
            block.push(line);
        }
    }
    blocks
        .into_iter()
        .filter_map(|block| {
            let text = block.join("\n");
            let env_at = text.find("[env: ")? + "[env: ".len();
            let name: String = text[env_at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let flag = block[0].split_whitespace().next()?.to_owned();
            let default = bracketed_default(&text).unwrap_or_else(|| "unset".to_owned());
            Some((name, Setting { flag, default }))
        })
        .collect()
}

/// The rows of the first Markdown table after `heading` whose header has a `default` column:
/// (variable names of the first cell, default cell), backticks removed. A first cell may name
/// several variables (`A` / `B`) with one default each (`1 / 2`) or one for all.
fn table_rows(markdown: &str, heading: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let section = markdown
        .split_once(heading)
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no {heading} section"));
    let plain = |cell: &str| cell.replace('`', "").trim().to_owned();
    let mut lines = section
        .lines()
        .skip_while(|l| !(l.starts_with('|') && l.split('|').any(|c| c.trim() == "default")));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("no table in {heading}"));
    let column = header
        .split('|')
        .position(|c| c.trim() == "default")
        .expect("a default column");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            let names = cells[1].split(" / ").map(plain).collect();
            let defaults = cells[column].split(" / ").map(plain).collect();
            (names, defaults)
        })
        .collect()
}

fn read(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    std::fs::read_to_string(format!("{root}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Checks one table against `--help`; returns the variables it documents.
fn check_table(doc: &str, heading: &str, settings: &BTreeMap<String, Setting>) -> Vec<String> {
    let rows = table_rows(&read(doc), heading);
    assert!(!rows.is_empty(), "{doc}: empty table");
    let mut documented = Vec::new();
    for (names, defaults) in rows {
        assert!(
            defaults.len() == 1 || defaults.len() == names.len(),
            "{doc}: {names:?} has defaults {defaults:?}"
        );
        for (i, name) in names.iter().enumerate() {
            let setting = settings
                .get(name)
                .unwrap_or_else(|| panic!("{doc} documents {name}, which --help lacks"));
            let default = &defaults[i.min(defaults.len() - 1)];
            assert_eq!(
                default, &setting.default,
                "{doc}: the default of {name} ({}) differs from --help",
                setting.flag
            );
            documented.push(name.clone());
        }
    }
    documented
}

#[test]
fn the_readme_table_lists_every_setting_with_its_default() {
    // Arrange
    let settings = settings_in_help(&help());

    // Act
    let documented = check_table("README.md", "## Configuration", &settings);

    // Assert
    assert!(settings.len() >= 20, "help parsed: {settings:?}");
    for name in settings.keys() {
        assert!(
            documented.contains(name),
            "README.md: {name} is in --help but not in the table"
        );
    }
    let mut sorted = documented.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        documented.len(),
        "listed twice: {documented:?}"
    );
}

#[test]
fn the_operations_table_names_real_settings_with_their_defaults() {
    // Arrange
    let settings = settings_in_help(&help());

    // Act
    let documented = check_table("docs/operations.md", "## Configuration", &settings);

    // Assert
    assert!(!documented.is_empty());
}

#[test]
fn the_help_parser_reads_declared_and_written_defaults() {
    // Arrange
    let settings = settings_in_help(&help());

    // Act
    let get = |name: &str| settings.get(name).map(|s| s.default.as_str());

    // Assert
    assert_eq!(get("BIND_ADDR"), Some("127.0.0.1:8080"));
    assert_eq!(get("HOLD_TTL_SECS"), Some("300"));
    assert_eq!(get("DATABASE_URL"), Some("unset"));
    assert_eq!(get("JWT_ISSUER"), Some("not checked"));
    assert_eq!(
        settings.get("HOLD_TTL_SECS").map(|s| s.flag.as_str()),
        Some("--hold-ttl-secs")
    );
}
