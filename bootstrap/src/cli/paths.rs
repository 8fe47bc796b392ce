//! Where bootstrap reads and writes on the user's machine.

use std::path::PathBuf;

use crate::Error;

/// The Git clone around the current directory (its top), or the directory itself.
pub(super) fn workspace_dir() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    git2::Repository::discover(&cwd)
        .ok()
        .and_then(|r| r.workdir().map(PathBuf::from))
        .unwrap_or(cwd)
}

/// `$XDG_CONFIG_HOME/iot-rs`, else `~/.config/iot-rs`.
pub(super) fn config_dir() -> Result<PathBuf, Error> {
    user_dir("XDG_CONFIG_HOME", ".config")
}

pub(super) fn user_dir(xdg: &str, fallback: &str) -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(xdg).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("iot-rs"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::Command {
            command: format!("find ${xdg}"),
            reason: format!("neither ${xdg} nor $HOME is set; set one of them"),
        })?;
    Ok(PathBuf::from(home).join(fallback).join("iot-rs"))
}
