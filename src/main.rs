//! The `latedecay` binary: see `latedecay --help`.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = latedecay::cli::Cli::parse();
    match latedecay::cli::main_with(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
