//! The committed `schemas/` directory is exactly what the code exports.

use std::path::Path;

#[test]
fn committed_schemas_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut problems = Vec::new();
    let exported = phivault::schema::all();
    for named in &exported {
        let file = dir.join(format!("{}.schema.json", named.name));
        let expected = phivault::schema::to_file_bytes(&named.schema).unwrap();
        match std::fs::read(&file) {
            Ok(bytes) if bytes == expected => {}
            Ok(_) => problems.push(format!("{} differs from the code", file.display())),
            Err(e) => problems.push(format!("{} cannot be read: {e}", file.display())),
        }
    }
    // A schema file the code no longer exports is stale too.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".schema.json")
            && !exported.iter().any(|n| n.name == stem)
        {
            problems.push(format!("{name} is not exported by the code any more"));
        }
    }
    assert!(
        problems.is_empty(),
        "schemas/ is out of date with crate::schema::all():\n  {}\n\
         run `cargo run -- schemas export` and commit the result",
        problems.join("\n  ")
    );
}

#[test]
fn every_exported_schema_is_a_valid_draft_2020_12_schema() {
    for named in phivault::schema::all() {
        let value = serde_json::to_value(&named.schema).unwrap();
        assert_eq!(
            value["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{}",
            named.name
        );
        jsonschema::meta::validate(&value)
            .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", named.name));
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&value)
            .unwrap_or_else(|e| panic!("{} does not compile: {e}", named.name));
    }
}
