/// mimalloc in place of the system allocator: a GraphQL response allocates and frees many
/// small values per field, and the glibc allocator took about a tenth of a dashboard
/// request's instructions.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    headway_api::cli::main()
}
