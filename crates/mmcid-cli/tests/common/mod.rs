//! Helpers shared by the command-line tests: run the `mmcid` binary, read its exit code and
//! output, and a scratch directory per test binary and process.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `mmcid` with `args` and extra environment variables; `COLUMNS` is removed so the text
/// width does not depend on the terminal the tests run in.
pub fn mmcid_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mmcid"));
    cmd.args(args).env_remove("COLUMNS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("mmcid runs")
}

/// Runs `mmcid` with `args`.
pub fn mmcid(args: &[&str]) -> Output {
    mmcid_env(args, &[])
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A path for `name` in this test binary's scratch directory.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mmcid-{}-test-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
