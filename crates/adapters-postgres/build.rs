//! Rebuilds the crate when `migrations/` changes: `embed_migrations!` (src/migrations.rs) reads
//! that directory at compile time, and cargo does not see a new migration directory by itself.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
