//! The `trove` binary; everything lives in the `trove_cli` library.

fn main() -> std::process::ExitCode {
    trove_node::alloc::tune_allocator();
    trove_cli::run()
}
