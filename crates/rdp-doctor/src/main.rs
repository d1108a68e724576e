fn main() {
    println!("rdp-doctor {}", env!("CARGO_PKG_VERSION"));
}
