//! Command-line parsing with the semantics of Go's `flag` package, so that every argument list
//! written for hashicorp/http-echo (`-text=x`, `-text x`, `--text=x`, `--text x`) means the
//! same thing here, and fails with the same messages and exit codes when it is wrong.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::time::Duration;

/// What the process should do after parsing its arguments and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve(Config),
    /// `-get URL`: fetch a URL once and exit (a client for pods without curl).
    Get(String),
    PrintHelp,
    PrintVersion,
}

/// Which program echo-app stands in for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// hashicorp/http-echo: every path but `/health` answers `text` + "\n" with `status`.
    HttpEcho { text: String, status: u16 },
    /// wil42/playground: `GET /` answers `{"status":"ok", "message": "<version>"}`.
    Playground { version: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    /// The address as the user wrote it (Go's `host:port` syntax); resolved when binding.
    pub listen: String,
    pub log_format: LogFormat,
    pub access_log: bool,
    pub drain_timeout: Duration,
    pub shutdown_delay: Duration,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// Worker threads; 0 means one per available CPU.
    pub threads: usize,
}

pub const DEFAULT_ECHO_LISTEN: &str = ":5678";
pub const DEFAULT_PLAYGROUND_LISTEN: &str = ":8888";
pub const DEFAULT_PLAYGROUND_VERSION: &str = "v1";
/// Far beyond any file-descriptor limit; it keeps the connection count within a semaphore's.
const MAX_CONNECTIONS_LIMIT: i64 = 1 << 20;

/// A parse failure: the message goes to stderr, followed by the usage text when `with_usage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    pub message: String,
    pub with_usage: bool,
    pub exit_code: i32,
}

impl FlagError {
    fn usage(message: String) -> Self {
        Self {
            message,
            with_usage: true,
            exit_code: 2,
        }
    }
    fn fatal(message: &str) -> Self {
        Self {
            message: message.to_owned(),
            with_usage: false,
            exit_code: 127,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Str,
    Duration,
    LogFormat,
}

struct FlagDef {
    name: &'static str,
    kind: Kind,
    /// Shown in `-h`; a word in backquotes names the value, as Go's PrintDefaults does.
    usage: &'static str,
    /// Default shown in `-h`, already formatted the way Go prints it; empty for none.
    default_shown: &'static str,
}

/// Sorted by name: `-h` lists them in this order, like Go's PrintDefaults.
const FLAGS: &[FlagDef] = &[
    FlagDef {
        name: "access-log",
        kind: Kind::Bool,
        usage: "write one line per request to stdout (-access-log=false turns it off)",
        default_shown: "true",
    },
    FlagDef {
        name: "drain-timeout",
        kind: Kind::Duration,
        usage: "after a signal, how long in-flight requests may take to finish",
        default_shown: "5s",
    },
    FlagDef {
        name: "get",
        kind: Kind::Str,
        usage: "fetch `URL` (http://IP:PORT/PATH), print its body and exit: 0 on 2xx, 1 otherwise",
        default_shown: "",
    },
    FlagDef {
        name: "header-read-timeout",
        kind: Kind::Duration,
        usage: "close a connection that sends no complete request head within this time (0: never)",
        default_shown: "10s",
    },
    FlagDef {
        name: "listen",
        kind: Kind::Str,
        usage: "`address` and port to listen on (default \":5678\" with -text, \":8888\" without)",
        default_shown: "",
    },
    FlagDef {
        name: "log-format",
        kind: Kind::LogFormat,
        usage: "log lines as `text` or json",
        default_shown: "text",
    },
    FlagDef {
        name: "max-connections",
        kind: Kind::Int,
        usage: "connections served at once; more wait in the listen queue",
        default_shown: "16384",
    },
    FlagDef {
        name: "shutdown-delay",
        kind: Kind::Duration,
        usage: "after a signal, keep accepting (with /readyz failing) this long before draining",
        default_shown: "0s",
    },
    FlagDef {
        name: "status-code",
        kind: Kind::Int,
        usage: "HTTP status of the echoed text, e.g. 200",
        default_shown: "200",
    },
    FlagDef {
        name: "text",
        kind: Kind::Str,
        usage: "text to answer with (http-echo mode); overrides ECHO_TEXT",
        default_shown: "",
    },
    FlagDef {
        name: "threads",
        kind: Kind::Int,
        usage: "threads serving requests (0: one per CPU the container may use)",
        default_shown: "1",
    },
    FlagDef {
        name: "version",
        kind: Kind::Bool,
        usage: "print version information and exit",
        default_shown: "",
    },
];

/// The usage text printed by `-h` and after a flag error, in the layout of Go's `PrintDefaults`.
pub fn usage(program: &str) -> String {
    let mut out = format!(
        "Usage of {program}:\n\
         echo-app answers like hashicorp/http-echo when -text or ECHO_TEXT is given,\n\
         and like wil42/playground (version from APP_VERSION, default v1) otherwise.\n"
    );
    for flag in FLAGS {
        let (value_name, text) = value_name(flag);
        let _ = write!(out, "  -{}", flag.name);
        if !value_name.is_empty() {
            let _ = write!(out, " {value_name}");
        }
        let _ = write!(out, "\n    \t{text}");
        if !flag.default_shown.is_empty() {
            match flag.kind {
                Kind::Str | Kind::LogFormat => {
                    let _ = write!(out, " (default {:?})", flag.default_shown);
                }
                _ => {
                    let _ = write!(out, " (default {})", flag.default_shown);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `UnquoteUsage`: a back-quoted word in the usage names the value and loses its quotes.
fn value_name(flag: &FlagDef) -> (String, String) {
    let usage = flag.usage;
    if let Some(start) = usage.find('`')
        && let Some(len) = usage[start + 1..].find('`')
    {
        let name = &usage[start + 1..start + 1 + len];
        let text = format!("{}{}{}", &usage[..start], name, &usage[start + 2 + len..]);
        return (name.to_owned(), text);
    }
    let name = match flag.kind {
        Kind::Bool => "",
        Kind::Int => "int",
        Kind::Str | Kind::LogFormat => "string",
        Kind::Duration => "duration",
    };
    (name.to_owned(), usage.to_owned())
}

/// The values collected from the command line before the mode is decided.
#[derive(Default)]
struct Raw {
    get: Option<String>,
    text: Option<String>,
    listen: Option<String>,
    status: Option<i64>,
    version: bool,
    log_format: Option<LogFormat>,
    access_log: Option<bool>,
    drain_timeout: Option<Duration>,
    shutdown_delay: Option<Duration>,
    header_read_timeout: Option<Duration>,
    max_connections: Option<i64>,
    threads: Option<i64>,
}

/// Parses `args` (without the program name) and the two environment variables the images use.
pub fn parse(
    args: &[OsString],
    echo_text_env: Option<OsString>,
    app_version_env: Option<OsString>,
) -> Result<Command, FlagError> {
    let mut raw = Raw::default();
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        let arg = first.to_string_lossy();
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        let dashes = if arg.as_bytes()[1] == b'-' { 2 } else { 1 };
        if dashes == 2 && arg.len() == 2 {
            rest = tail;
            break;
        }
        let body = &arg[dashes..];
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(FlagError::usage(format!("bad flag syntax: {arg}")));
        }
        rest = tail;
        let (name, inline_value) = match body[1..].find('=') {
            Some(i) => (&body[..=i], Some(body[i + 2..].to_owned())),
            None => (body, None),
        };
        let Some(def) = FLAGS.iter().find(|f| f.name == name) else {
            if name == "h" || name == "help" {
                return Ok(Command::PrintHelp);
            }
            return Err(FlagError::usage(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = match (def.kind, inline_value) {
            (Kind::Bool, None) => "true".to_owned(),
            (_, Some(v)) => v,
            (_, None) => match rest.split_first() {
                Some((next, tail)) => {
                    rest = tail;
                    next.to_string_lossy().into_owned()
                }
                None => return Err(FlagError::usage(format!("flag needs an argument: -{name}"))),
            },
        };
        set(&mut raw, def, &value)?;
    }

    if raw.version {
        return Ok(Command::PrintVersion);
    }
    if let Some(url) = raw.get {
        if !rest.is_empty() {
            return Err(FlagError::fatal("Too many arguments!"));
        }
        return Ok(Command::Get(url));
    }

    // http-echo reads ECHO_TEXT, lets -text override it, and refuses to run with neither.
    // Naming either one (even empty) selects http-echo mode; naming none selects playground.
    let echo_text_env = echo_text_env.map(|v| v.to_string_lossy().into_owned());
    let http_echo = raw.text.is_some() || echo_text_env.is_some();
    let text = match raw.text.as_deref() {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => echo_text_env.unwrap_or_default(),
    };
    if http_echo && text.is_empty() {
        return Err(FlagError::fatal(
            "Missing -text option or ECHO_TEXT env var!",
        ));
    }
    if !rest.is_empty() {
        return Err(FlagError::fatal("Too many arguments!"));
    }

    let status = raw.status.unwrap_or(200);
    let max_connections = raw.max_connections.unwrap_or(16384);
    let mode = if http_echo {
        Mode::HttpEcho {
            text,
            status: status as u16,
        }
    } else {
        let version = app_version_env
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_PLAYGROUND_VERSION.to_owned());
        Mode::Playground { version }
    };
    let default_listen = if http_echo {
        DEFAULT_ECHO_LISTEN
    } else {
        DEFAULT_PLAYGROUND_LISTEN
    };
    Ok(Command::Serve(Config {
        mode,
        listen: raw.listen.unwrap_or_else(|| default_listen.to_owned()),
        log_format: raw.log_format.unwrap_or(LogFormat::Text),
        access_log: raw.access_log.unwrap_or(true),
        drain_timeout: raw.drain_timeout.unwrap_or(Duration::from_secs(5)),
        shutdown_delay: raw.shutdown_delay.unwrap_or(Duration::ZERO),
        header_read_timeout: raw.header_read_timeout.unwrap_or(Duration::from_secs(10)),
        max_connections: max_connections as usize,
        threads: raw.threads.unwrap_or(1) as usize,
    }))
}

fn set(raw: &mut Raw, def: &FlagDef, value: &str) -> Result<(), FlagError> {
    let invalid = |why: &str| {
        FlagError::usage(format!(
            "invalid value {:?} for flag -{}: {why}",
            value, def.name
        ))
    };
    match def.kind {
        Kind::Bool => {
            let parsed = parse_go_bool(value).ok_or_else(|| {
                FlagError::usage(format!(
                    "invalid boolean value {:?} for -{}: parse error",
                    value, def.name
                ))
            })?;
            match def.name {
                "version" => raw.version = parsed,
                _ => raw.access_log = Some(parsed),
            }
        }
        Kind::Int => {
            let n = parse_go_int(value).map_err(invalid)?;
            match def.name {
                "status-code" => {
                    // Go accepts any int here and then fails every request; refuse it up front.
                    if !(200..=999).contains(&n) {
                        return Err(invalid("status code must be between 200 and 999"));
                    }
                    raw.status = Some(n);
                }
                "threads" => {
                    if !(0..=1024).contains(&n) {
                        return Err(invalid("must be between 0 and 1024"));
                    }
                    raw.threads = Some(n);
                }
                _ => {
                    if !(1..=MAX_CONNECTIONS_LIMIT).contains(&n) {
                        return Err(invalid("must be between 1 and 1048576"));
                    }
                    raw.max_connections = Some(n);
                }
            }
        }
        Kind::Str => match def.name {
            "text" => raw.text = Some(value.to_owned()),
            "get" => raw.get = Some(value.to_owned()),
            _ => raw.listen = Some(value.to_owned()),
        },
        Kind::Duration => {
            let d = parse_go_duration(value).ok_or_else(|| invalid("parse error"))?;
            match def.name {
                "drain-timeout" => raw.drain_timeout = Some(d),
                "shutdown-delay" => raw.shutdown_delay = Some(d),
                _ => raw.header_read_timeout = Some(d),
            }
        }
        Kind::LogFormat => {
            raw.log_format = Some(match value {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(invalid("must be text or json")),
            })
        }
    }
    Ok(())
}

/// `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `strconv.ParseInt(s, 0, 64)`: optional sign, `0x`/`0o`/`0b`/leading-`0` prefixes, and
/// underscores between digits when a prefix is present. Errors read as Go's flag reports them.
pub fn parse_go_int(s: &str) -> Result<i64, &'static str> {
    let (negative, unsigned) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.is_empty() {
        return Err("parse error");
    }
    // Underscores may sit between digits, or between a base prefix and a digit.
    if digits.ends_with('_') || digits.contains("__") || (digits.starts_with('_') && !prefixed) {
        return Err("parse error");
    }
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    if !cleaned.chars().all(|c| c.is_digit(radix)) {
        return Err("parse error");
    }
    let magnitude = i128::from_str_radix(&cleaned, radix).map_err(|_| "value out of range")?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| "value out of range")
}

/// `time.ParseDuration`, restricted to non-negative values: "300ms", "1.5s", "2h45m", "0".
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut total_nanos: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let value: f64 = number.parse().ok()?;
        total_nanos += value * nanos_per_unit;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total_nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn serve(list: &[&str]) -> Config {
        match parse(&args(list), None, None) {
            Ok(Command::Serve(c)) => c,
            other => panic!("expected a config for {list:?}, got {other:?}"),
        }
    }

    fn text_of(c: &Config) -> &str {
        match &c.mode {
            Mode::HttpEcho { text, .. } => text,
            Mode::Playground { .. } => panic!("playground mode"),
        }
    }

    #[test]
    fn every_go_spelling_of_a_flag_means_the_same() {
        for list in [
            &["-text=hi"][..],
            &["-text", "hi"],
            &["--text=hi"],
            &["--text", "hi"],
        ] {
            assert_eq!(text_of(&serve(list)), "hi", "{list:?}");
        }
    }

    #[test]
    fn text_flag_overrides_env_and_env_is_used_alone() {
        let c = parse(&args(&["-text=flag"]), Some("env".into()), None).unwrap();
        let Command::Serve(c) = c else { panic!() };
        assert_eq!(text_of(&c), "flag");
        let Command::Serve(c) = parse(&[], Some("env".into()), None).unwrap() else {
            panic!()
        };
        assert_eq!(text_of(&c), "env");
        assert_eq!(c.listen, ":5678");
    }

    #[test]
    fn no_text_means_playground_on_8888() {
        let Command::Serve(c) = parse(&[], None, Some("v2".into())).unwrap() else {
            panic!()
        };
        assert_eq!(
            c.mode,
            Mode::Playground {
                version: "v2".into()
            }
        );
        assert_eq!(c.listen, ":8888");
        let Command::Serve(c) = parse(&[], None, None).unwrap() else {
            panic!()
        };
        assert_eq!(
            c.mode,
            Mode::Playground {
                version: "v1".into()
            }
        );
    }

    #[test]
    fn empty_text_is_missing_text_with_127() {
        let err = parse(&args(&["-text="]), None, None).unwrap_err();
        assert_eq!(err.message, "Missing -text option or ECHO_TEXT env var!");
        assert_eq!(err.exit_code, 127);
        assert!(!err.with_usage);
        let err = parse(&[], Some("".into()), None).unwrap_err();
        assert_eq!(err.exit_code, 127);
    }

    #[test]
    fn positional_arguments_stop_parsing_and_are_refused() {
        let err = parse(&args(&["-text=a", "extra"]), None, None).unwrap_err();
        assert_eq!(
            (err.message.as_str(), err.exit_code),
            ("Too many arguments!", 127)
        );
        // After "--" a flag-looking word is positional too.
        let err = parse(&args(&["-text=a", "--", "-listen=:1"]), None, None).unwrap_err();
        assert_eq!(err.exit_code, 127);
        // A lone "-" is not a flag.
        let err = parse(&args(&["-text=a", "-"]), None, None).unwrap_err();
        assert_eq!(err.exit_code, 127);
    }

    #[test]
    fn unknown_flags_and_bad_values_read_as_go_reports_them() {
        let cases = [
            (&["-bogus"][..], "flag provided but not defined: -bogus"),
            (&["--bogus=1"], "flag provided but not defined: -bogus"),
            (
                &["-status-code", "abc"],
                "invalid value \"abc\" for flag -status-code: parse error",
            ),
            (
                &["-status-code=99999999999999999999"],
                "invalid value \"99999999999999999999\" for flag -status-code: value out of range",
            ),
            (
                &["-version=maybe"],
                "invalid boolean value \"maybe\" for -version: parse error",
            ),
            (&["-text"], "flag needs an argument: -text"),
            (&["---text=a"], "bad flag syntax: ---text=a"),
            (&["-=a"], "bad flag syntax: -=a"),
            (
                &["-drain-timeout=5"],
                "invalid value \"5\" for flag -drain-timeout: parse error",
            ),
        ];
        for (list, message) in cases {
            let err = parse(&args(list), None, None).unwrap_err();
            assert_eq!(err.message, message, "{list:?}");
            assert_eq!(err.exit_code, 2, "{list:?}");
            assert!(err.with_usage, "{list:?}");
        }
    }

    #[test]
    fn help_and_version() {
        for h in ["-h", "--h", "-help", "--help"] {
            assert_eq!(parse(&args(&[h]), None, None), Ok(Command::PrintHelp));
        }
        assert_eq!(
            parse(&args(&["-version"]), None, None),
            Ok(Command::PrintVersion)
        );
        assert_eq!(
            parse(&args(&["--version=true"]), None, None),
            Ok(Command::PrintVersion)
        );
        let c = serve(&["-version=false", "-text=x"]);
        assert_eq!(text_of(&c), "x");
    }

    #[test]
    fn status_code_accepts_go_integer_syntax_and_refuses_nonsense() {
        let Mode::HttpEcho { status, .. } = serve(&["-text=x", "-status-code=0x12C"]).mode else {
            panic!()
        };
        assert_eq!(status, 300);
        for bad in ["0", "100", "1000", "-200"] {
            let err = parse(&args(&["-text=x", "-status-code", bad]), None, None).unwrap_err();
            assert_eq!(err.exit_code, 2, "{bad}");
        }
    }

    #[test]
    fn bool_flags_never_take_the_next_argument() {
        let err = parse(&args(&["-text=x", "-access-log", "false"]), None, None).unwrap_err();
        assert_eq!(err.message, "Too many arguments!");
        assert!(!serve(&["-text=x", "-access-log=false"]).access_log);
        assert!(serve(&["-text=x", "-access-log"]).access_log);
    }

    #[test]
    fn get_is_a_command_of_its_own() {
        assert_eq!(
            parse(&args(&["-get", "http://127.0.0.1:1/"]), None, None),
            Ok(Command::Get("http://127.0.0.1:1/".into()))
        );
        let err = parse(&args(&["-get=http://127.0.0.1:1/", "x"]), None, None).unwrap_err();
        assert_eq!(err.exit_code, 127);
    }

    #[test]
    fn our_own_flags() {
        let c = serve(&[
            "-text=x",
            "-log-format=json",
            "-drain-timeout=1m30s",
            "-shutdown-delay",
            "250ms",
            "-header-read-timeout=1.5s",
            "-max-connections=10",
            "-threads=0",
            "-listen=[::1]:8080",
        ]);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.drain_timeout, Duration::from_secs(90));
        assert_eq!(c.shutdown_delay, Duration::from_millis(250));
        assert_eq!(c.header_read_timeout, Duration::from_millis(1500));
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.threads, 0);
        assert_eq!(serve(&["-text=x"]).threads, 1);
        assert_eq!(c.listen, "[::1]:8080");
        let err = parse(&args(&["-max-connections=0"]), None, None).unwrap_err();
        assert_eq!(
            err.message,
            "invalid value \"0\" for flag -max-connections: must be between 1 and 1048576"
        );
        let err = parse(&args(&["-log-format=xml"]), None, None).unwrap_err();
        assert_eq!(
            err.message,
            "invalid value \"xml\" for flag -log-format: must be text or json"
        );
    }

    #[test]
    fn go_integers() {
        assert_eq!(parse_go_int("42"), Ok(42));
        assert_eq!(parse_go_int("-0b101"), Ok(-5));
        assert_eq!(parse_go_int("017"), Ok(15));
        assert_eq!(parse_go_int("0o17"), Ok(15));
        assert_eq!(parse_go_int("1_000"), Ok(1000));
        assert_eq!(parse_go_int("_1"), Err("parse error"));
        assert_eq!(parse_go_int("1__0"), Err("parse error"));
        assert_eq!(parse_go_int("0_17"), Ok(15));
        assert_eq!(parse_go_int("0x_1F"), Ok(31));
        assert_eq!(parse_go_int("0x"), Err("parse error"));
        assert_eq!(parse_go_int("09"), Err("parse error"));
        assert_eq!(parse_go_int(""), Err("parse error"));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration(".5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("10µs"), Some(Duration::from_micros(10)));
        assert_eq!(parse_go_duration("10us"), Some(Duration::from_micros(10)));
        for bad in ["", "5", "s", "1.2.3s", "5 s", "-5s", "1d"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn usage_lists_every_flag_in_go_layout() {
        let u = usage("echo-app");
        assert!(u.starts_with("Usage of echo-app:\n"));
        assert!(u.contains("  -listen address\n    \taddress and port to listen on"));
        assert!(u.contains(
            "  -status-code int\n    \tHTTP status of the echoed text, e.g. 200 (default 200)\n"
        ));
        assert!(
            u.contains("  -log-format text\n    \tlog lines as text or json (default \"text\")\n")
        );
        assert!(u.contains("  -version\n    \tprint version information and exit\n"));
        let positions: Vec<usize> = FLAGS
            .iter()
            .map(|f| u.find(&format!("  -{}", f.name)).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "flags are listed sorted"
        );
    }
}
