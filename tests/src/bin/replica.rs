//! The `headway` command line, built in this package so that tests can run it as a process.

fn main() -> std::process::ExitCode {
    headway_api::cli::main()
}
