use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use echo_app::flags::{self, Command};

/// `-get` gives up after this long without an answer.
const GET_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let program = argv
        .next()
        .map(|p| {
            p.to_string_lossy()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_else(|| "echo-app".to_owned());
    let args: Vec<OsString> = argv.collect();
    let parsed = flags::parse(
        &args,
        std::env::var_os("ECHO_TEXT"),
        std::env::var_os("APP_VERSION"),
    );
    let code = match parsed {
        Ok(Command::Serve(cfg)) => echo_app::run(cfg),
        Ok(Command::Get(url)) => {
            match echo_app::client::get(&url, GET_TIMEOUT, &mut std::io::stdout().lock()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
        }
        Ok(Command::PrintHelp) => {
            eprint!("{}", flags::usage(&program));
            0
        }
        Ok(Command::PrintVersion) => {
            println!("{}", echo_app::version_text());
            0
        }
        Err(e) => {
            eprintln!("{}", e.message);
            if e.with_usage {
                eprint!("{}", flags::usage(&program));
            }
            e.exit_code
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
