//! The `warden` command line: validate, schema, version, and every shipped
//! example config loading.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn warden() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warden"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_example_config_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        // Give every `${VAR}` without a default a plausible value.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut cmd = warden();
        cmd.arg("validate").arg("-c").arg(&path).env_remove("WARDEN_LISTEN");
        for part in text.split("${").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if part[name.len()..].starts_with('}') {
                let value = if name.ends_with("URL") || name.ends_with("ISSUER") {
                    "http://127.0.0.1:3001/mcp"
                } else {
                    "true"
                };
                cmd.env(&name, value);
            }
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
    }
    assert!(seen >= 3, "expected the shipped examples, found {seen}");
}

#[test]
fn validate_lists_every_problem_with_its_key_path() {
    let mut f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::io::Write::write_all(
        &mut f,
        br#"
listeners: [{address: "127.0.0.1:0"}]
virtualServers:
  - name: a
    path: /mcp
    backends:
      - {name: ok, url: "http://127.0.0.1:1/mcp"}
      - {name: rel, url: "relative/path"}
      - {name: x, builtin: clock, stdio: {command: foo}}
"#,
    )
    .unwrap();
    let out = warden().arg("validate").arg("-c").arg(f.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("virtualServers[0].backends[1].url: relative URL not allowed"), "{err}");
    assert!(err.contains("virtualServers[0].backends[2]: exactly one of"), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn validate_reports_missing_files_and_yaml_errors() {
    let out = warden().args(["validate", "-c", "/nonexistent/warden.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/warden.yaml"));
    let mut f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::io::Write::write_all(&mut f, b"listeners: [unclosed").unwrap();
    let out = warden().arg("validate").arg("-c").arg(f.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid YAML"));
}

#[test]
fn schema_and_version() {
    let out = warden().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "RawConfig");
    assert!(schema["properties"]["virtualServers"].is_object());
    let out = warden().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("warden "));
}

#[test]
fn audit_verify_reports_an_intact_chain_and_an_edited_record() {
    use warden::audit::{AuditLog, AuditRecord, Decision, Resource, ResourceKind};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let principal = warden::auth::Principal::anonymous();
    for i in 0..3 {
        let res = Resource { kind: ResourceKind::Tool, id: format!("t{i}") };
        log.append(AuditRecord::new(format!("r{i}"), &principal, "tools/call", res, Decision::Allow)).unwrap();
    }
    log.flush().unwrap();
    drop(log);
    let out = warden().args(["audit", "verify"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact, 3 record(s)"));
    let text = std::fs::read_to_string(&path).unwrap().replacen("\"allow\"", "\"deny\"", 1);
    std::fs::write(&path, text).unwrap();
    let out = warden().args(["audit", "verify"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("edited"), "{}", String::from_utf8_lossy(&out.stderr));
}
