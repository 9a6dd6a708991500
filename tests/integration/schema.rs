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
