//! `warden policy test|explain|schema` on the shipped HR example, and
//! `warden tools pin` against the real conformance backend.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn warden() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warden"))
}

fn hr(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy-hr").join(file)
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_hr_example_validates_and_its_cases_pass() {
    let out = warden().arg("validate").arg("-c").arg(hr("config.yaml")).output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let out = warden().args(["policy", "test", "-c"]).arg(hr("config.yaml")).arg(hr("cases.yaml")).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(" 0 failed") && !stdout.contains("FAIL "), "{stdout}");
    assert!(stdout.contains("PASS ") && stdout.contains("permitted by hr-time-off-own"), "{stdout}");
    assert!(stdout.contains("forbidden by no-agent-confidential-for-contractors"), "{stdout}");
}

#[test]
fn a_failing_case_exits_1_and_names_the_deciding_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    std::fs::write(
        &cases,
        r#"cases:
  - name: contractor reads own medical record
    principal: {subject: carol, groups: [contractors, hr], roles: [contractor], agent: hr-assistant,
                attributes: {employee_id: e-300, department: engineering}}
    action: tools/call
    resource: {type: tool, name: hr__get_medical_record, backend: hr,
               inputSchema: {type: object, properties: {employee_id: {type: string}}}}
    context: {args: {employee_id: e-300}}
    expect: allow
"#,
    )
    .unwrap();
    let out = warden().args(["policy", "test", "-c"]).arg(hr("config.yaml")).arg(&cases).output().unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL contractor reads own medical record"), "{stdout}");
    assert!(
        stdout.contains("forbidden by no-agent-confidential-for-contractors"),
        "labels come from the config: {stdout}"
    );
    let out = warden()
        .args(["policy", "explain", "-c"])
        .arg(hr("config.yaml"))
        .arg(&cases)
        .args(["--case", "contractor reads own medical record"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("no-agent-confidential-for-contractors at ") && stdout.contains("20-guards.cedar:"),
        "{stdout}"
    );
    let out = warden().args(["policy", "schema", "-c"]).arg(hr("config.yaml")).output().unwrap();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("namespace Warden") && stdout.contains("\"employee_id\"?: String"), "{stdout}");
}

#[test]
fn tools_pin_approves_then_reports_approved_and_revokes() {
    let (_backend, url) = test_support::spawn_conformance_server();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.yaml");
    std::fs::write(
        &config,
        format!(
            "listeners: [{{name: main, address: \"127.0.0.1:0\"}}]\nvirtualServers:\n  - name: pinned\n    path: /mcp\n    \
             backends: [{{name: conf, url: \"{url}\"}}]\n    pinning: {{file: pins/conf.json}}\n"
        ),
    )
    .unwrap();
    let pins = dir.path().join("pins/conf.json");
    let pin = |args: &[&str]| {
        let out = warden().args(["tools", "pin", "-c"]).arg(&config).args(args).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        stdout
    };
    let dry = pin(&["--dry-run"]);
    assert!(dry.contains("new       echo") && !pins.exists(), "dry run writes nothing: {dry}");
    let first = pin(&["--tool", "echo", "--tool", "add"]);
    assert!(first.contains("2 tool(s) approved"), "{first}");
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&pins).unwrap()).unwrap();
    assert_eq!(written["tools"].as_object().unwrap().len(), 2, "{written}");
    assert_eq!(written["tools"]["echo"]["backend"], "conf");
    let second = pin(&["--dry-run"]);
    assert!(second.contains("approved  echo") && second.contains("new       debug_request_headers"), "{second}");
    let revoked = pin(&["--revoke", "echo"]);
    assert!(revoked.contains("revoked   echo"), "{revoked}");
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&pins).unwrap()).unwrap();
    assert!(written["tools"].get("echo").is_none() && written["tools"].get("add").is_some(), "{written}");
}
