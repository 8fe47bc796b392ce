//! token-server: hands the K3s node-token from the server VM to the agent VM without a
//! synced folder, an open directory listing or a blind SSH hop.
//!
//! - [`serve`] exposes exactly one file on one address, to the `--allow`ed peers holding the
//!   shared secret, for `--ttl` and `--max-fetches`, and never logs the token;
//! - [`fetch`] waits for it with capped, jittered backoff and writes it 0600, atomically.
//!
//! The rules are pure functions ([`policy`], [`token`], [`allow`], [`secret`], [`backoff`]);
//! `serve` and `fetch` are the socket and file adapters around them.

pub mod allow;
pub mod backoff;
pub mod fetch;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod private_file;
pub mod secret;
pub mod serve;
pub mod token;
