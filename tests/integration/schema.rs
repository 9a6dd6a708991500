use similar::TextDiff;

#[test]
fn schema_file_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = headway_api::graphql::sdl();
    if committed != current {
        let diff = TextDiff::from_lines(&committed, &current)
            .unified_diff()
            .header("schema.graphql (committed)", "schema (built)")
            .to_string();
        panic!(
            "schema.graphql differs from the schema; run `cargo run -p headway-api -- print-schema > schema.graphql`\n{diff}"
        );
    }
}

#[test]
fn configuration_reference_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = headway_api::cli::configuration_reference();
    if committed != current {
        let diff = TextDiff::from_lines(&committed, &current)
            .unified_diff()
            .header("docs/configuration.md (committed)", "settings (built)")
            .to_string();
        panic!(
            "docs/configuration.md differs from the settings; run `cargo run -p headway-api -- print-config > docs/configuration.md`\n{diff}"
        );
    }
}

#[test]
fn serve_defaults_match_the_command_line() {
    use clap::Parser;
    let cli = headway_api::cli::Cli::try_parse_from(["headway", "serve"]).unwrap();
    let headway_api::cli::Command::Serve { serve, .. } = cli.command else {
        panic!("not the serve command");
    };
    assert_eq!(
        format!("{:?}", *serve),
        format!("{:?}", headway_api::config::ServeArgs::defaults())
    );
}
