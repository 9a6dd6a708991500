fn main() -> std::process::ExitCode {
    headway_api::cli::main()
}
