//! The ERD in `docs/erd.md` stays in step with the schema: every table and column created by
//! `migrations/*/up.sql` (in migration order, including `ALTER TABLE … ADD/DROP/RENAME COLUMN`,
//! `ALTER TABLE … RENAME TO` and `DROP TABLE`) must appear in the Mermaid `erDiagram`, and the
//! diagram must not show tables or columns the schema does not have. No database is needed.
//!
//! The SQL is read with a small lexer (comments, string literals, dollar-quoted function bodies
//! and quoted identifiers are handled), not with regular expressions over raw text.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Table name → column names, in declaration order.
type Tables = BTreeMap<String, Vec<String>>;

// ------------------------------------------------------------------------------------ lexer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word (keyword or identifier), lower-cased as PostgreSQL folds it.
    Word(String),
    /// A `"quoted"` identifier, exactly as written.
    Quoted(String),
    /// A string literal or a dollar-quoted body (contents irrelevant here).
    Literal,
    Open,
    Close,
    Comma,
    Semicolon,
    Dot,
    /// Anything else (operators, numbers, casts).
    Other,
}

fn lex(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // PostgreSQL block comments nest.
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::Literal);
        } else if c == '"' {
            let mut ident = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        ident.push('"');
                        i += 2;
                        continue;
                    }
                    break;
                }
                ident.push(chars[i]);
                i += 1;
            }
            i += 1;
            tokens.push(Token::Quoted(ident));
        } else if c == '$' && next.is_some_and(|n| n == '$' || n.is_alphabetic() || n == '_') {
            // A dollar quote: $$ … $$ or $tag$ … $tag$.
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '$' {
                i += 1;
            }
            let tag: String = chars[start..=i.min(chars.len() - 1)].iter().collect();
            i += 1;
            let rest: String = chars[i.min(chars.len())..].iter().collect();
            match rest.find(&tag) {
                Some(end) => i += rest[..end].chars().count() + tag.chars().count(),
                None => i = chars.len(),
            }
            tokens.push(Token::Literal);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(Token::Word(word.to_lowercase()));
        } else {
            tokens.push(match c {
                '(' => Token::Open,
                ')' => Token::Close,
                ',' => Token::Comma,
                ';' => Token::Semicolon,
                '.' => Token::Dot,
                _ => Token::Other,
            });
            i += 1;
        }
    }
    tokens
}

// ------------------------------------------------------------------------------- SQL parser

/// Table-level items of a CREATE TABLE body that are not columns.
const CONSTRAINT_WORDS: &[&str] = &[
    "constraint",
    "primary",
    "foreign",
    "unique",
    "check",
    "exclude",
    "like",
];

fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w == word)
}

fn ident(token: Option<&Token>) -> Option<String> {
    match token {
        Some(Token::Word(w)) => Some(w.clone()),
        Some(Token::Quoted(q)) => Some(q.clone()),
        _ => None,
    }
}

/// A possibly schema-qualified name starting at `i`: its last part and the index after it.
fn qualified_name(tokens: &[Token], mut i: usize) -> Option<(String, usize)> {
    let mut name = ident(tokens.get(i))?;
    i += 1;
    while tokens.get(i) == Some(&Token::Dot) {
        name = ident(tokens.get(i + 1))?;
        i += 2;
    }
    Some((name, i))
}

/// Skips `if exists` / `if not exists` at `i`.
fn skip_if_exists(tokens: &[Token], mut i: usize) -> usize {
    if is_word(tokens.get(i), "if") {
        i += 1;
        if is_word(tokens.get(i), "not") {
            i += 1;
        }
        if is_word(tokens.get(i), "exists") {
            i += 1;
        }
    }
    i
}

/// Splits `tokens` on commas outside parentheses.
fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Open => depth += 1,
            Token::Close => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

fn create_table(stmt: &[Token], tables: &mut Tables) {
    let mut i = 1;
    while matches!(stmt.get(i), Some(Token::Word(w))
        if ["global", "local", "temporary", "temp", "unlogged"].contains(&w.as_str()))
    {
        i += 1;
    }
    if !is_word(stmt.get(i), "table") {
        return;
    }
    let Some((table, after)) = qualified_name(stmt, skip_if_exists(stmt, i + 1)) else {
        return;
    };
    let columns = tables.entry(table).or_default();
    if stmt.get(after) != Some(&Token::Open) {
        return;
    }
    // The body runs to the matching parenthesis.
    let mut depth = 0usize;
    let mut end = stmt.len();
    for (j, token) in stmt.iter().enumerate().skip(after) {
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    end = j;
                    break;
                }
            }
            _ => {}
        }
    }
    for element in split_top_level(&stmt[after + 1..end]) {
        if matches!(&element[0], Token::Word(w) if CONSTRAINT_WORDS.contains(&w.as_str())) {
            continue;
        }
        if let Some(column) = ident(element.first()) {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
    }
}

fn alter_table(stmt: &[Token], tables: &mut Tables) {
    if !is_word(stmt.get(1), "table") {
        return;
    }
    let mut i = skip_if_exists(stmt, 2);
    if is_word(stmt.get(i), "only") {
        i += 1;
    }
    let Some((mut table, after)) = qualified_name(stmt, i) else {
        return;
    };
    for action in split_top_level(&stmt[after..]) {
        let word = |k: usize| match action.get(k) {
            Some(Token::Word(w)) => w.as_str(),
            _ => "",
        };
        match word(0) {
            "add" if !CONSTRAINT_WORDS.contains(&word(1)) => {
                let k = if word(1) == "column" { 2 } else { 1 };
                if let Some(column) = ident(action.get(skip_if_exists(action, k))) {
                    let columns = tables.entry(table.clone()).or_default();
                    if !columns.contains(&column) {
                        columns.push(column);
                    }
                }
            }
            "drop" if word(1) != "constraint" => {
                let k = if word(1) == "column" { 2 } else { 1 };
                if let Some(column) = ident(action.get(skip_if_exists(action, k))) {
                    if let Some(columns) = tables.get_mut(&table) {
                        columns.retain(|c| *c != column);
                    }
                }
            }
            "rename" if word(1) == "to" => {
                if let Some(new) = ident(action.get(2)) {
                    if let Some(columns) = tables.remove(&table) {
                        tables.insert(new.clone(), columns);
                    }
                    table = new;
                }
            }
            "rename" if word(1) != "constraint" => {
                let k = if word(1) == "column" { 2 } else { 1 };
                if let (Some(old), true, Some(new)) = (
                    ident(action.get(k)),
                    is_word(action.get(k + 1), "to"),
                    ident(action.get(k + 2)),
                ) {
                    if let Some(columns) = tables.get_mut(&table) {
                        for c in columns.iter_mut().filter(|c| **c == old) {
                            c.clone_from(&new);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn drop_table(stmt: &[Token], tables: &mut Tables) {
    if !is_word(stmt.get(1), "table") {
        return;
    }
    let names = &stmt[skip_if_exists(stmt, 2)..];
    for part in split_top_level(names) {
        if let Some((name, _)) = qualified_name(part, 0) {
            tables.remove(&name);
        }
    }
}

/// Applies the table and column changes of one migration script to `tables`.
fn apply_sql(sql: &str, tables: &mut Tables) {
    let tokens = lex(sql);
    for stmt in tokens.split(|t| *t == Token::Semicolon) {
        match stmt.first() {
            Some(Token::Word(w)) if w == "create" => create_table(stmt, tables),
            Some(Token::Word(w)) if w == "alter" => alter_table(stmt, tables),
            Some(Token::Word(w)) if w == "drop" => drop_table(stmt, tables),
            _ => {}
        }
    }
}

// ------------------------------------------------------------------------------- ERD parser

/// Entities and their attribute names from every Mermaid `erDiagram` block of a Markdown text.
fn erd_entities(markdown: &str) -> Tables {
    let mut entities = Tables::new();
    let mut in_mermaid = false;
    let mut in_er = false;
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim();
        if !in_mermaid {
            in_mermaid = trimmed == "```mermaid";
            in_er = false;
            continue;
        }
        if trimmed.starts_with("```") {
            in_mermaid = false;
            current = None;
            continue;
        }
        if !in_er {
            in_er = trimmed == "erDiagram";
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with("%%") {
            continue;
        }
        if let Some(entity) = &current {
            if trimmed == "}" {
                current = None;
            } else if let Some(name) = trimmed.split_whitespace().nth(1) {
                let columns = entities.entry(entity.clone()).or_default();
                if !columns.iter().any(|c| c == name) {
                    columns.push(name.to_owned());
                }
            }
        } else if let Some(head) = trimmed.strip_suffix('{') {
            // `name {` or `name["alias"] {`
            let name = head
                .split('[')
                .next()
                .unwrap_or(head)
                .trim()
                .trim_matches('"');
            entities.entry(name.to_owned()).or_default();
            current = Some(name.to_owned());
        }
    }
    entities
}

// ------------------------------------------------------------------------------- comparison

/// Every difference between the schema and the diagram, one line each; empty when in step.
fn drift(schema: &Tables, erd: &Tables) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, columns) in schema {
        match erd.get(table) {
            None => problems.push(format!(
                "table `{table}` (columns: {}) is missing from the erDiagram",
                columns.join(", ")
            )),
            Some(shown) => {
                for column in columns.iter().filter(|c| !shown.contains(c)) {
                    problems.push(format!(
                        "column `{table}.{column}` is missing from the erDiagram"
                    ));
                }
                for column in shown.iter().filter(|c| !columns.contains(c)) {
                    problems.push(format!(
                        "erDiagram shows column `{table}.{column}`, which no migration creates"
                    ));
                }
            }
        }
    }
    for table in erd.keys().filter(|t| !schema.contains_key(*t)) {
        problems.push(format!(
            "erDiagram shows table `{table}`, which no migration creates"
        ));
    }
    problems
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// The schema after applying every `migrations/*/up.sql` in order.
fn migrated_schema(root: &Path) -> Tables {
    let mut scripts: Vec<PathBuf> = fs::read_dir(root.join("migrations"))
        .expect("migrations/ is readable")
        .map(|entry| entry.expect("a migrations/ entry").path().join("up.sql"))
        .filter(|path| path.is_file())
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty(), "no migrations/*/up.sql found");
    let mut tables = Tables::new();
    for script in scripts {
        let sql = fs::read_to_string(&script).expect("an up.sql is readable");
        apply_sql(&sql, &mut tables);
    }
    tables
}

#[test]
fn erd_shows_every_table_and_column_of_the_migrations() {
    let root = workspace_root();
    let schema = migrated_schema(&root);
    assert!(
        schema.len() >= 12,
        "the SQL parser found only {} tables: {:?}",
        schema.len(),
        schema.keys().collect::<Vec<_>>()
    );
    let erd_path = root.join("docs/erd.md");
    let markdown = fs::read_to_string(&erd_path).expect("docs/erd.md is readable");
    let erd = erd_entities(&markdown);
    assert!(!erd.is_empty(), "docs/erd.md has no Mermaid erDiagram");
    let problems = drift(&schema, &erd);
    assert!(
        problems.is_empty(),
        "docs/erd.md is out of step with migrations/*/up.sql; update the erDiagram:\n  - {}",
        problems.join("\n  - ")
    );
}

// ----------------------------------------------------------------- the parsers themselves

#[test]
fn create_table_reads_columns_and_skips_constraints_comments_and_bodies() {
    let sql = r#"
        -- a comment with CREATE TABLE fake (x int);
        /* a block /* nested */ comment: CREATE TABLE ghost (y int); */
        CREATE TABLE IF NOT EXISTS public."Odd Table" (
            id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            "Mixed" TEXT NOT NULL DEFAULT 'a, b; (c)',
            amount  NUMERIC(10, 2) CHECK (amount >= 0),  -- trailing comment, with a comma
            CONSTRAINT odd_key UNIQUE (id, "Mixed"),
            PRIMARY KEY (id),
            FOREIGN KEY (id) REFERENCES other (id),
            UNIQUE (amount),
            CHECK (amount < 10)
        );
        CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN CREATE TABLE inside_body (z int); RETURN NEW; END;
        $$;
        CREATE UNIQUE INDEX odd_idx ON "Odd Table" (id) WHERE amount > 0;
        CREATE TEMP TABLE scratch (v int);
    "#;
    let mut tables = Tables::new();
    apply_sql(sql, &mut tables);
    assert_eq!(
        tables.keys().collect::<Vec<_>>(),
        vec!["Odd Table", "scratch"]
    );
    assert_eq!(tables["Odd Table"], vec!["id", "Mixed", "amount"]);
}

#[test]
fn alter_table_adds_drops_and_renames() {
    let mut tables = Tables::new();
    apply_sql(
        "CREATE TABLE t (a int, b int); CREATE TABLE gone (x int);
         ALTER TABLE ONLY t ADD COLUMN IF NOT EXISTS c text, ADD d int,
             ADD CONSTRAINT t_c CHECK (c <> '');
         ALTER TABLE t DROP COLUMN b, DROP CONSTRAINT t_c;
         ALTER TABLE t RENAME COLUMN a TO a2;
         ALTER TABLE IF EXISTS t RENAME TO t2;
         DROP TABLE IF EXISTS gone;",
        &mut tables,
    );
    assert_eq!(tables.keys().collect::<Vec<_>>(), vec!["t2"]);
    assert_eq!(tables["t2"], vec!["a2", "c", "d"]);
}

#[test]
fn erd_parser_reads_entities_and_attribute_names() {
    let markdown = "text\n```mermaid\nerDiagram\n    a ||--o{ b : \"has\"\n    a {\n        \
                    bigint id PK\n        text name \"a comment\"\n    }\n    b[\"Bee\"] {\n        \
                    uuid id PK, FK\n    }\n```\n```mermaid\nsequenceDiagram\n    x {\n        \
                    int y\n    }\n```\n";
    let erd = erd_entities(markdown);
    assert_eq!(erd.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    assert_eq!(erd["a"], vec!["id", "name"]);
    assert_eq!(erd["b"], vec!["id"]);
}

#[test]
fn drift_names_what_is_missing_and_what_is_extra() {
    let mut schema = Tables::new();
    apply_sql(
        "CREATE TABLE a (id int, gone int); CREATE TABLE b (id int);",
        &mut schema,
    );
    let erd = erd_entities("```mermaid\nerDiagram\n  a {\n    int id\n    int extra\n  }\n  c {\n    int id\n  }\n```\n");
    let problems = drift(&schema, &erd);
    assert_eq!(
        problems,
        vec![
            "column `a.gone` is missing from the erDiagram",
            "erDiagram shows column `a.extra`, which no migration creates",
            "table `b` (columns: id) is missing from the erDiagram",
            "erDiagram shows table `c`, which no migration creates",
        ]
    );
}
