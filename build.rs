// The server embeds target/site/pkg (the wasm build). Make sure the folder
// exists so debug builds and `cargo test` work before the wasm is built.
fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/site/pkg");
    let _ = std::fs::create_dir_all(dir);
    println!("cargo:rerun-if-changed=build.rs");
}
