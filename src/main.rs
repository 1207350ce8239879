//! The `xdpnet` command line.

fn main() {
    println!("xdpnet {}", env!("CARGO_PKG_VERSION"));
}
