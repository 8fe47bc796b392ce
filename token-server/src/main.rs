use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use token_server::allow::{AllowList, Cidr};
use token_server::backoff::Backoff;
use token_server::fetch::{self, FetchConfig};
use token_server::logging::{self, LogFormat};
use token_server::secret::{Secret, Source};
use token_server::serve::{self, DEFAULT_TOKEN_FILE, ServeConfig};

/// Hands the K3s node-token from the server VM to the agent VM: one file, one address,
/// bounded in time and fetches, never logged.
#[derive(Debug, Parser)]
#[command(name = "token-server", version)]
struct Cli {
    /// Log lines as plain text or JSON (stderr; RUST_LOG filters, default info)
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the token file at /node-token (plus /healthz and /metrics), nothing else
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Wait for the token with capped, jittered retries and write it (0600) or print it
    #[command(after_help = FETCH_HELP)]
    Fetch(FetchArgs),
}

const SERVE_HELP: &str = "\
Refusals: 403 peer outside --allow, 404 any other target (no decoding, no directory),
414 target too long, 405 not GET, 401 secret missing or wrong, 410 TTL or budget spent,
503 + Retry-After while the token file does not hold a token yet.

Exits 0 once the TTL or the fetch budget is spent (after --linger) or on SIGTERM/SIGINT;
1 when it cannot start; 2 on bad arguments.

Example (p1 server VM, the agent at .111, one fetch):
  token-server serve --listen 192.168.56.110:8080 --allow 192.168.56.111/32 \\
      --max-fetches 1 --secret-file /run/credentials/token-server.service/secret";

const FETCH_HELP: &str = "\
Retries (every 25 ms at first, then at most every 200 ms) while the server is not up or
answers 503; stops at once on 401, 403, 404, 405 or 410, saying why.

Exit codes: 0 token written, 1 other error, 2 bad arguments, 3 timed out,
4 refused by the server, 5 the answer is not a K3s token (nothing written).

Example (p1 agent VM):
  TOKEN_SECRET=... token-server fetch --url http://192.168.56.110:8080/node-token \\
      --secret-env TOKEN_SECRET --out /etc/rancher/k3s/agent-token";

#[derive(Debug, Args)]
struct SecretArgs {
    /// Shared secret, read from this file (mode 0600); sent as `Authorization: Bearer`
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
    /// Shared secret, read from this environment variable
    #[arg(long, value_name = "VAR", conflicts_with = "secret_file")]
    secret_env: Option<String>,
}

impl SecretArgs {
    fn load(&self) -> Result<Option<Secret>, token_server::secret::SecretError> {
        let source = match (&self.secret_file, &self.secret_env) {
            (Some(path), _) => Source::File(path.clone()),
            (None, Some(var)) => Source::Env(var.clone()),
            (None, None) => return Ok(None),
        };
        Secret::load(&source).map(Some)
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address and port to listen on, e.g. 192.168.56.110:8080 (never every interface)
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// The token file; it may appear after serve starts
    #[arg(long, value_name = "PATH", default_value = DEFAULT_TOKEN_FILE)]
    file: PathBuf,
    #[command(flatten)]
    secret: SecretArgs,
    /// Stop serving this long after start (e.g. 10m, 90s, 1h30m)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = positive_duration)]
    ttl: Duration,
    /// Stop after serving the token this many times [default: unlimited]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_fetches: Option<u64>,
    /// Peers allowed to connect (repeatable), e.g. 192.168.56.111/32 [default: any]
    #[arg(long = "allow", value_name = "CIDR")]
    allow: Vec<Cidr>,
    /// After the TTL or budget is spent, answer 410 Gone this long before exiting
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = humantime::parse_duration)]
    linger: Duration,
}

#[derive(Debug, Args)]
struct FetchArgs {
    /// Where serve listens, e.g. http://192.168.56.110:8080/node-token
    #[arg(long, value_name = "URL", value_parser = fetch::parse_url)]
    url: fetch::Target,
    #[command(flatten)]
    secret: SecretArgs,
    /// Give up after this long in all (e.g. 5m, 30s)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
    timeout: Duration,
    /// Write the token here (mode 0600, atomically) instead of stdout
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Connect from this local address
    #[arg(long, value_name = "IP")]
    bind: Option<IpAddr>,
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (write e.g. 10m, 30s or 1m30s)")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Serve(args) => run_serve(args),
        Command::Fetch(args) => run_fetch(args),
    }
}

fn fail(error: &dyn std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("token-server: error: {error}");
    ExitCode::from(code)
}

fn run_serve(args: ServeArgs) -> ExitCode {
    let secret = match args.secret.load() {
        Ok(s) => s,
        Err(e) => return fail(&e, 1),
    };
    let cfg = ServeConfig {
        listen: args.listen,
        file: args.file,
        secret,
        ttl: args.ttl,
        max_fetches: args.max_fetches,
        allow: AllowList::new(args.allow),
        linger: args.linger,
    };
    match serve::run(cfg) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 1),
    }
}

fn run_fetch(args: FetchArgs) -> ExitCode {
    let secret = match args.secret.load() {
        Ok(s) => s,
        Err(e) => return fail(&e, 1),
    };
    let cfg = FetchConfig {
        target: args.url,
        secret,
        timeout: args.timeout,
        out: args.out,
        bind: args.bind,
        backoff: Backoff::default(),
    };
    match fetch::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            fail(&e, code)
        }
    }
}
