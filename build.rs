// The server embeds public/, style/ and target/site/pkg (the wasm build).
// Make sure the last exists so debug builds and `cargo test` work before the
// wasm is built, and rebuild when any of them changes (rust-embed alone does
// not notice a file that appears).
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let _ = std::fs::create_dir_all(root.join("target/site/pkg"));
    println!("cargo:rerun-if-changed=build.rs");
    for dir in ["target/site/pkg", "public", "style"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
