// The shared library is installed as libmica.so.0 (scripts/install-c.sh):
// give it that soname so programs linked against it find it by that name.
fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmica.so.0");
    }
}
